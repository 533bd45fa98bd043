"""Run endpoints of MLflow's tracking API: lifecycle, tags, params, metrics and batches."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view
from tracking.api.serializers import run_info_to_wire, run_to_wire
from tracking.store import runs as store
from tracking.store.metrics import MetricIn


def _key_values(args: Args, name: str) -> list[tuple[str, str]]:
    pairs = []
    for i, item in enumerate(args.list(name)):
        entry = args.sub(item, f"{name}[{i}]")
        pairs.append((entry.str("key", required=True), entry.str("value", default="")))
    return pairs


def _metric(args: Args, path: str) -> MetricIn:
    # Read straight from the dict: this loop runs 1,000 times per log-batch call.
    return MetricIn(
        key=args.str("key", required=True),
        value=args.float("value", required=True),
        timestamp=args.int("timestamp", required=True),
        step=args.int("step", default=0),
        model_id=args.str("model_id", default=""),
        dataset_name=args.str("dataset_name", default=""),
        dataset_digest=args.str("dataset_digest", default=""),
    )


@api_view("POST")
def CreateRunApi(request: HttpRequest, args: Args) -> dict:
    run, data = store.create_run(
        experiment_id=args.str("experiment_id", default="0"),
        user_id=args.str("user_id", default=""),
        start_time=args.int("start_time"),
        run_name=args.str("run_name"),
        tags=_key_values(args, "tags"),
    )
    return {"run": run_to_wire(run, data)}


@api_view("GET")
def GetRunApi(request: HttpRequest, args: Args) -> dict:
    run = store.get_run(args.run_id())
    return {"run": run_to_wire(run, store.load_run_data([run.run_uuid])[run.run_uuid])}


@api_view("POST")
def UpdateRunApi(request: HttpRequest, args: Args) -> dict:
    run = store.update_run(
        run_id=args.run_id(), status=args.str("status"), end_time=args.int("end_time"), run_name=args.str("run_name")
    )
    return {"run_info": run_info_to_wire(run)}


@api_view("POST")
def DeleteRunApi(request: HttpRequest, args: Args) -> dict:
    store.delete_run(run_id=args.run_id())
    return {}


@api_view("POST")
def RestoreRunApi(request: HttpRequest, args: Args) -> dict:
    store.restore_run(run_id=args.run_id())
    return {}


@api_view("POST")
def SetTagApi(request: HttpRequest, args: Args) -> dict:
    store.set_tag(run_id=args.run_id(), key=args.str("key", required=True), value=args.str("value", required=True))
    return {}


@api_view("POST")
def DeleteTagApi(request: HttpRequest, args: Args) -> dict:
    store.delete_tag(run_id=args.run_id(), key=args.str("key", required=True))
    return {}


@api_view("POST")
def LogParamApi(request: HttpRequest, args: Args) -> dict:
    store.log_param(run_id=args.run_id(), key=args.str("key", required=True), value=args.str("value", required=True))
    return {}


@api_view("POST")
def LogMetricApi(request: HttpRequest, args: Args) -> dict:
    store.log_batch(run_id=args.run_id(), metrics=[_metric(args, "")])
    return {}


@api_view("POST")
def LogBatchApi(request: HttpRequest, args: Args) -> dict:
    metrics = [_metric(args.sub(item, f"metrics[{i}]"), f"metrics[{i}]") for i, item in enumerate(args.list("metrics"))]
    store.log_batch(
        run_id=args.run_id(), metrics=metrics, params=_key_values(args, "params"), tags=_key_values(args, "tags")
    )
    return {}


urlpatterns = [
    path("runs/create", CreateRunApi),
    path("runs/get", GetRunApi),
    path("runs/update", UpdateRunApi),
    path("runs/delete", DeleteRunApi),
    path("runs/restore", RestoreRunApi),
    path("runs/set-tag", SetTagApi),
    path("runs/delete-tag", DeleteTagApi),
    path("runs/log-parameter", LogParamApi),
    path("runs/log-metric", LogMetricApi),
    path("runs/log-batch", LogBatchApi),
]
