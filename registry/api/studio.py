"""Studio's extensions to the registry API (under ``/api/2.0/studio/``): the audit trail, alias history and lineage,
which MLflow does not have."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path

from registry.access import model_named, run_experiment, trail_models, visible_models
from registry.api.serializers import alias_span_to_wire, event_to_wire, model_version_to_wire
from registry.api.versions import version_arg
from registry.store import events, versions
from registry.validation import version_number
from studio.api import Args, api_view
from studio.auth import permissions
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import READ
from studio.errors import not_found
from tracking.api.logged_models import logged_model_to_wire
from tracking.api.serializers import experiment_to_wire, run_info_to_wire


@access(SIGNED_IN)
@api_view("GET")
def ListRegistryEventsApi(request: HttpRequest, args: Args) -> dict:
    """``GET registry/events?name=…[&version=][&alias=][&action=…][&since=ms][&until=ms]``, newest first."""
    found, next_id = events.list_events(
        name=args.str("name", required=True),
        version=version_number(args.str("version")) if args.has("version") else None,
        alias=args.str("alias") or None,
        actions=args.str_list("action"),
        since=args.int("since"),
        until=args.int("until"),
        max_results=args.int("max_results", default=events.EVENTS_MAX_RESULTS_DEFAULT),
        page_token=args.int("page_token"),
        visible=visible_models(request),  # a name may stand for several deleted models: only readable ones count
    )
    payload: dict[str, Any] = {}
    if found:
        payload["events"] = [event_to_wire(e) for e in found]
    if next_id is not None:
        payload["next_page_token"] = str(next_id)
    return payload


@access(on("registered_model", READ, trail_models))
@api_view("GET")
def GetAliasHistoryApi(request: HttpRequest, args: Args) -> dict:
    """``GET registered-models/alias-history?name=…&alias=…``: every version the alias named, and when; with
    ``at=<ms>``, only the version it named at that moment (404 if it named none)."""
    name, alias = args.str("name", required=True), args.str("alias", required=True)
    if args.has("at"):
        span = events.alias_at(name=name, alias=alias, timestamp=args.int("at"))
        if span is None:
            raise not_found(f"Alias '{alias}' of registered model '{name}' named no version at {args.int('at')}.")
        return {"alias": alias_span_to_wire(span)}
    spans = events.alias_history(name=name, alias=alias)
    return {"history": [alias_span_to_wire(s) for s in spans]} if spans else {}


@access(on("registered_model", READ, model_named()))
@api_view("GET")
def GetModelVersionLineageApi(request: HttpRequest, args: Args) -> dict:
    """``GET model-versions/lineage?name=…&version=…``: the version with its run, logged model and experiment."""
    readable = permissions.visibility(request.user, "experiment")  # the run's details only if its experiment's
    lineage = versions.get_lineage(name=args.str("name", required=True), version=version_arg(args), readable=readable)
    payload: dict[str, Any] = {
        "model_version": model_version_to_wire(lineage.version),
        "storage": {
            "artifact_uri": versions.download_uri(lineage.version),
            "file_count": lineage.version.file_count,
            "size_bytes": lineage.version.size_bytes,
        },
    }
    if lineage.run is not None:
        payload["run"] = run_info_to_wire(lineage.run)
    if lineage.logged_model is not None:
        payload["logged_model"] = logged_model_to_wire(lineage.logged_model)
    if lineage.experiment is not None:
        payload["experiment"] = experiment_to_wire(lineage.experiment)
    return payload


@access(on("experiment", READ, run_experiment))
@api_view("GET")
def ListRunModelVersionsApi(request: HttpRequest, args: Args) -> dict:
    """``GET runs/model-versions?run_id=…``: the versions registered from a run or from its logged models."""
    found = versions.versions_for_run(run_id=args.run_id(), visible=visible_models(request))
    return {"model_versions": [model_version_to_wire(v) for v in found]} if found else {}


urlpatterns = [
    path("registry/events", ListRegistryEventsApi),
    path("registered-models/alias-history", GetAliasHistoryApi),
    path("model-versions/lineage", GetModelVersionLineageApi),
    path("runs/model-versions", ListRunModelVersionsApi),
]
