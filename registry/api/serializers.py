"""Registry values to MLflow's JSON shapes (``model_registry.proto``: string versions, key/value lists, aliases)."""

from __future__ import annotations

from typing import Any

from registry.models import ModelVersion, RegistryEvent
from registry.store.events import AliasSpan
from registry.store.models import ModelDetails


def model_version_to_wire(version: ModelVersion) -> dict[str, Any]:
    """A ``ModelVersion`` message of a version loaded through ``registry.store.models.with_details``."""
    payload: dict[str, Any] = {
        "name": version.registered_model.name,
        "version": str(version.version),
        "creation_timestamp": version.creation_timestamp,
        "last_updated_timestamp": version.last_updated_timestamp,
        "current_stage": version.current_stage,
        "source": version.source,
        "status": version.status,
    }
    optional = {
        "user_id": version.user_id,
        "description": version.description,
        "run_id": version.run_id,
        "run_link": version.run_link,
        "status_message": version.status_message,
        "model_id": version.model_id,
    }
    payload.update({k: v for k, v in optional.items() if v})
    tags = [{"key": k, "value": v} for k, v in version.tag_list]
    if tags:
        payload["tags"] = tags
    if version.alias_list:
        payload["aliases"] = version.alias_list
    return payload


def registered_model_to_wire(details: ModelDetails) -> dict[str, Any]:
    """A ``RegisteredModel`` message with tags, aliases and the latest version of each stage."""
    model = details.model
    payload: dict[str, Any] = {
        "name": model.name,
        "creation_timestamp": model.creation_timestamp,
        "last_updated_timestamp": model.last_updated_timestamp,
    }
    optional = {
        "user_id": model.user_id,
        "description": model.description,
        "deployment_job_id": model.deployment_job_id,
    }
    payload.update({k: v for k, v in optional.items() if v})
    if details.latest_versions:
        payload["latest_versions"] = [model_version_to_wire(v) for v in details.latest_versions]
    if details.tags:
        payload["tags"] = [{"key": k, "value": v} for k, v in details.tags]
    if details.aliases:
        payload["aliases"] = [{"alias": a, "version": str(v)} for a, v in details.aliases]
    return payload


def event_to_wire(event: RegistryEvent) -> dict[str, Any]:
    """One audit event (a Studio extension): unset fields omitted, as in MLflow's messages."""
    payload: dict[str, Any] = {
        "event_id": str(event.id),
        "timestamp": event.timestamp,
        "action": event.action,
        "name": event.model_name,
    }
    optional = {"user_id": event.user_id, "alias": event.alias, "key": event.key}
    payload.update({k: v for k, v in optional.items() if v})
    if event.version is not None:
        payload["version"] = str(event.version)
    if event.old_value is not None:
        payload["old_value"] = event.old_value
    if event.new_value is not None:
        payload["new_value"] = event.new_value
    return payload


def alias_span_to_wire(span: AliasSpan) -> dict[str, Any]:
    """When an alias pointed to a version: from ``start`` until ``end`` (absent while it still does)."""
    payload: dict[str, Any] = {"alias": span.alias, "version": str(span.version), "start_timestamp": span.start}
    if span.end is not None:
        payload["end_timestamp"] = span.end
    if span.set_by:
        payload["set_by"] = span.set_by
    if span.ended_by:
        payload["ended_by"] = span.ended_by
    return payload
