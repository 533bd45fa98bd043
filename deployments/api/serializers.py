"""Deployments as JSON for Studio's REST API (``/api/2.0/studio/endpoints/…``, ``…/deployments/…``): times in
milliseconds since the epoch, like MLflow's own messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.urls import reverse

from deployments.models import Deployment, DeploymentEvent, Endpoint
from deployments.services import endpoint_state


def millis(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def scoring_url(request: HttpRequest | None, endpoint: Endpoint) -> str:
    """The endpoint's scoring URL as the caller reaches Studio."""
    path = reverse("deployments-gateway:invocations", kwargs={"name": endpoint.name})
    return request.build_absolute_uri(path) if request is not None else path


def deployment_to_wire(deployment: Deployment) -> dict[str, Any]:
    return {
        "name": deployment.name,
        "endpoint": deployment.endpoint.name,
        "model_name": deployment.model_name,
        "model_version": str(deployment.model_version_number),
        "runtime": deployment.runtime,
        "instances": deployment.instances,
        "traffic_weight": deployment.traffic_weight,
        "mirror": deployment.mirror,
        "status": deployment.status,
        "status_message": deployment.status_message,
        "serving": bool(deployment.urls),
        "user_id": deployment.user_id,
        "attempt": deployment.attempt,
        "creation_timestamp": millis(deployment.created_at),
        "last_updated_timestamp": millis(deployment.updated_at),
    }


def endpoint_to_wire(endpoint: Endpoint, request: HttpRequest | None) -> dict[str, Any]:
    """An endpoint with its deployments (loaded with ``prefetch_related("deployments")`` or fetched here)."""
    deployments = list(endpoint.deployments.all())
    for deployment in deployments:
        deployment.endpoint = endpoint  # no query per deployment for its endpoint's name
    return {
        "name": endpoint.name,
        "description": endpoint.description,
        "state": endpoint_state(endpoint, deployments),
        "scoring_url": scoring_url(request, endpoint),
        "primary_key_prefix": endpoint.primary_key_prefix,
        "secondary_key_prefix": endpoint.secondary_key_prefix,
        "user_id": endpoint.user_id,
        "creation_timestamp": millis(endpoint.created_at),
        "last_updated_timestamp": millis(endpoint.updated_at),
        "deployments": [deployment_to_wire(d) for d in deployments],
    }


def event_to_wire(event: DeploymentEvent) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": event.pk,
        "timestamp": millis(event.time),
        "kind": event.kind,
        "message": event.message,
    }
    if event.details:
        payload["details"] = event.details
    return payload
