"""Run endpoints of MLflow's tracking API: lifecycle, tags, params, metrics and batches."""

from __future__ import annotations

import math

from django.http import HttpRequest
from django.urls import path

from studio.api import INT64_MAX, INT64_MIN, Args, api_view, missing, request_user, to_float, to_int
from studio.auth.access import access, all_of, on
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.errors import invalid
from tracking.access import EXPERIMENT, experiment_field, metric_models_field, run_field
from tracking.api.serializers import run_info_to_wire, run_to_wire
from tracking.store import runs as store
from tracking.store.metrics import MetricIn


def _metrics(items: list) -> list[MetricIn]:
    """Read ``Metric`` messages. This loop runs 1,000 times per log-batch call, so the common well-typed case
    is checked inline and only odd values (strings for int64, "NaN", infinities) go through the generic readers."""
    metrics = []
    for index, item in enumerate(items):
        if type(item) is not dict:
            raise invalid(f"Invalid value {item!r} for parameter 'metrics[{index}]' supplied.")
        try:
            key, value, timestamp = item["key"], item["value"], item["timestamp"]
        except KeyError as exc:
            raise missing(f"metrics[{index}].{exc.args[0]}") from None
        step = item.get("step", 0)
        if type(key) is not str:
            raise invalid(f"Invalid value {key!r} for parameter 'metrics[{index}].key' supplied.")
        if type(value) is not float or value != value or value in (math.inf, -math.inf):
            value = to_float(f"metrics[{index}].value", value)
        if type(timestamp) is not int or not INT64_MIN <= timestamp <= INT64_MAX:
            timestamp = to_int(f"metrics[{index}].timestamp", timestamp)
        if type(step) is not int or not INT64_MIN <= step <= INT64_MAX:
            step = to_int(f"metrics[{index}].step", step)
        if _METRIC_LINKS_SET.isdisjoint(item):
            metrics.append(MetricIn(key, value, timestamp, step))
        else:
            links = Args(item)
            metrics.append(MetricIn(key, value, timestamp, step, *(links.str(f, default="") for f in _METRIC_LINKS)))
    return metrics


_METRIC_LINKS = ("model_id", "dataset_name", "dataset_digest")
_METRIC_LINKS_SET = frozenset(_METRIC_LINKS)

# A run follows its experiment (MLflow's auth app): reading READ, changing EDIT, delete and restore MANAGE (MLflow's
# ``can_delete``, which EDIT lacks). Metrics that name a logged model change it too: EDIT on its experiment as well.
_READ = on(EXPERIMENT, READ, run_field())
_EDIT = on(EXPERIMENT, EDIT, run_field())
_MANAGE = on(EXPERIMENT, MANAGE, run_field())
_LOG_METRICS = all_of(_EDIT, on(EXPERIMENT, EDIT, metric_models_field()))


@access(on(EXPERIMENT, EDIT, experiment_field(default="0")))
@api_view("POST")
def CreateRunApi(request: HttpRequest, args: Args) -> dict:
    run, data = store.create_run(
        experiment_id=args.str("experiment_id", default="0"),
        user_id=args.str("user_id", default=""),
        start_time=args.int("start_time"),
        run_name=args.str("run_name"),
        tags=args.key_values("tags"),
    )
    return {"run": run_to_wire(run, data)}


@access(_READ)
@api_view("GET")
def GetRunApi(request: HttpRequest, args: Args) -> dict:
    run = store.get_run(args.run_id())
    return {"run": run_to_wire(run, store.load_run_data([run.run_uuid])[run.run_uuid])}


@access(_EDIT)
@api_view("POST")
def UpdateRunApi(request: HttpRequest, args: Args) -> dict:
    run = store.update_run(
        run_id=args.run_id(), status=args.str("status"), end_time=args.int("end_time"), run_name=args.str("run_name")
    )
    return {"run_info": run_info_to_wire(run)}


@access(_MANAGE)
@api_view("POST")
def DeleteRunApi(request: HttpRequest, args: Args) -> dict:
    store.delete_run(run_id=args.run_id(), user=request_user(request))
    return {}


@access(_MANAGE)
@api_view("POST")
def RestoreRunApi(request: HttpRequest, args: Args) -> dict:
    store.restore_run(run_id=args.run_id())
    return {}


@access(_EDIT)
@api_view("POST")
def SetTagApi(request: HttpRequest, args: Args) -> dict:
    store.set_tag(run_id=args.run_id(), key=args.str("key", required=True), value=args.str("value", required=True))
    return {}


@access(_EDIT)
@api_view("POST")
def DeleteTagApi(request: HttpRequest, args: Args) -> dict:
    store.delete_tag(run_id=args.run_id(), key=args.str("key", required=True))
    return {}


@access(_EDIT)
@api_view("POST")
def LogParamApi(request: HttpRequest, args: Args) -> dict:
    store.log_param(run_id=args.run_id(), key=args.str("key", required=True), value=args.str("value", required=True))
    return {}


@access(_LOG_METRICS)
@api_view("POST")
def LogMetricApi(request: HttpRequest, args: Args) -> dict:
    metric = {name: args.data.get(name) for name in ("key", "value", "timestamp", "step", *_METRIC_LINKS)}
    store.log_batch(run_id=args.run_id(), metrics=_metrics([{k: v for k, v in metric.items() if v is not None}]))
    return {}


@access(_LOG_METRICS)
@api_view("POST")
def LogBatchApi(request: HttpRequest, args: Args) -> dict:
    store.log_batch(
        run_id=args.run_id(),
        metrics=_metrics(args.list("metrics")),
        params=args.key_values("params"),
        tags=args.key_values("tags"),
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
