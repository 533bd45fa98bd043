"""Logged model endpoints of MLflow 3 (``/logged-models``): the model URI ``models:/m-<id>`` resolves through them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view, method_router, missing, request_user, wire_float
from studio.auth import permissions
from studio.auth.access import SIGNED_IN, access, all_of, on
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.errors import invalid
from tracking.access import EXPERIMENT, experiment_field, logged_model_kwarg, source_run_field
from tracking.api.artifact_proxy import entry_to_wire
from tracking.models import LoggedModel, LoggedModelStatus
from tracking.store import logged_models as store

_STATUS_NUMBERS = {
    1: LoggedModelStatus.PENDING,
    2: LoggedModelStatus.READY,
    3: LoggedModelStatus.UPLOAD_FAILED,
}


def logged_model_to_wire(model: LoggedModel) -> dict[str, Any]:
    """A ``LoggedModel`` message (info and data); tags, params and metrics must have been prefetched."""
    info: dict[str, Any] = {
        "model_id": model.model_id,
        "experiment_id": str(model.experiment_id),
        "name": model.name,
        "creation_timestamp_ms": model.creation_timestamp_ms,
        "last_updated_timestamp_ms": model.last_updated_timestamp_ms,
        "artifact_uri": model.artifact_uri,
        "status": model.status,
    }
    if model.model_type:
        info["model_type"] = model.model_type
    if model.source_run_id:
        info["source_run_id"] = model.source_run_id
    if model.status_message:
        info["status_message"] = model.status_message
    tags = [{"key": t.key, "value": t.value} for t in model.tags.all()]
    if tags:
        info["tags"] = tags
    data: dict[str, Any] = {}
    params = [{"key": p.key, "value": p.value} for p in model.params.all()]
    if params:
        data["params"] = params
    metrics = [_metric_to_wire(m) for m in model.metrics.all()]
    if metrics:
        data["metrics"] = metrics
    return {"info": info, "data": data}


def _metric_to_wire(metric: Any) -> dict[str, Any]:
    payload = {
        "key": metric.key,
        "value": wire_float(metric.value),
        "timestamp": metric.timestamp,
        "step": metric.step,
        "model_id": metric.model_id,
    }
    if metric.run_id:
        payload["run_id"] = metric.run_id
    if metric.dataset_name:
        payload["dataset_name"] = metric.dataset_name
    if metric.dataset_digest:
        payload["dataset_digest"] = metric.dataset_digest
    return payload


# A logged model follows its experiment, as in MLflow's auth app: reading READ, changing EDIT, and deleting it or one
# of its tags MANAGE (MLflow's ``validate_can_delete_logged_model`` guards both).
_READ = on(EXPERIMENT, READ, logged_model_kwarg())
_EDIT = on(EXPERIMENT, EDIT, logged_model_kwarg())
_MANAGE = on(EXPERIMENT, MANAGE, logged_model_kwarg())


def _status(args: Args) -> str:
    """The status enum by name (proto3 JSON) or by number, both of which proto3 allows."""
    if not args.has("status"):
        raise missing("status")
    value = args.data["status"]
    if isinstance(value, str) and value in LoggedModelStatus.values:
        return value
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value in _STATUS_NUMBERS:
        return _STATUS_NUMBERS[value]
    raise invalid(
        f"Invalid value {value!r} for parameter 'status' supplied. Expected one of {LoggedModelStatus.values}."
    )


@access(all_of(on(EXPERIMENT, EDIT, experiment_field()), on(EXPERIMENT, READ, source_run_field())))
@api_view("POST")
def CreateLoggedModelApi(request: HttpRequest, args: Args) -> dict:
    model = store.create_logged_model(
        experiment_id=args.str("experiment_id", required=True),
        name=args.str("name") or None,
        model_type=args.str("model_type", default=""),
        source_run_id=args.str("source_run_id", default=""),
        params=args.key_values("params"),
        tags=args.key_values("tags"),
    )
    return {"model": logged_model_to_wire(model)}


@api_view("GET")
def GetLoggedModelApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    model = store.get_logged_model(model_id, allow_deleted=args.bool("allow_deleted"))
    return {"model": logged_model_to_wire(model)}


@api_view("PATCH")
def FinalizeLoggedModelApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    return {"model": logged_model_to_wire(store.finalize_logged_model(model_id=model_id, status=_status(args)))}


@api_view("DELETE")
def DeleteLoggedModelApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    store.delete_logged_model(model_id=model_id, user=request_user(request))
    return {}


@access(_EDIT)
@api_view("POST")
def LogLoggedModelParamsApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    store.log_logged_model_params(model_id=model_id, params=args.key_values("params"))
    return {}


@access(_EDIT)
@api_view("PATCH")
def SetLoggedModelTagsApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    return {"model": logged_model_to_wire(store.set_logged_model_tags(model_id=model_id, tags=args.key_values("tags")))}


@access(_MANAGE)
@api_view("DELETE")
def DeleteLoggedModelTagApi(request: HttpRequest, args: Args, model_id: str, tag_key: str) -> dict:
    store.delete_logged_model_tag(model_id=model_id, key=tag_key)
    return {}


@access(_READ)
@api_view("GET")
def ListLoggedModelArtifactsApi(request: HttpRequest, args: Args, model_id: str) -> dict:
    root_uri, entries = store.list_logged_model_artifacts(
        model_id=model_id, path=args.str("artifact_directory_path", default="")
    )
    payload: dict[str, Any] = {"root_uri": root_uri}
    if entries:
        payload["files"] = [entry_to_wire(entry) for entry in entries]
    return payload


def _order_by(args: Args) -> list[dict[str, Any]] | None:
    """``OrderBy`` messages as MLflow's handler passes them on (unset dataset fields are None)."""
    order_by = []
    for i, item in enumerate(args.list("order_by")):
        entry = args.sub(item, f"order_by[{i}]")
        order_by.append(
            {
                "field_name": entry.str("field_name", default=""),
                "ascending": entry.bool("ascending", default=True),
                "dataset_name": entry.str("dataset_name") or None,
                "dataset_digest": entry.str("dataset_digest") or None,
            }
        )
    return order_by or None


@access(SIGNED_IN)
@api_view("POST")
def SearchLoggedModelsApi(request: HttpRequest, args: Args) -> dict:
    datasets = []
    for i, item in enumerate(args.list("datasets")):
        entry = args.sub(item, f"datasets[{i}]")
        datasets.append(store.DatasetFilter(entry.str("dataset_name", default=""), entry.str("dataset_digest") or None))
    models, token = store.search_logged_models(
        experiment_ids=args.str_list("experiment_ids", required=True),
        filter_string=args.str("filter") or None,
        datasets=datasets,
        max_results=args.int("max_results"),
        order_by=_order_by(args),
        page_token=args.str("page_token") or None,
        visible=permissions.visibility(request.user, "experiment"),
    )
    response: dict[str, Any] = {"models": [logged_model_to_wire(m) for m in models]}
    if token:
        response["next_page_token"] = token
    return response


urlpatterns = [
    # Before ``logged-models/<model_id>``, which would otherwise take "search" for an id.
    path("logged-models/search", SearchLoggedModelsApi),
    path("logged-models", CreateLoggedModelApi),
    path(
        "logged-models/<str:model_id>",
        access(GET=_READ, PATCH=_EDIT, DELETE=_MANAGE)(
            method_router(get=GetLoggedModelApi, patch=FinalizeLoggedModelApi, delete=DeleteLoggedModelApi)
        ),
    ),
    path("logged-models/<str:model_id>/params", LogLoggedModelParamsApi),
    path("logged-models/<str:model_id>/tags", SetLoggedModelTagsApi),
    path("logged-models/<str:model_id>/tags/<path:tag_key>", DeleteLoggedModelTagApi),
    path("logged-models/<str:model_id>/artifacts/directories", ListLoggedModelArtifactsApi),
]
