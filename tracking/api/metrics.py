"""Metric history endpoints of MLflow's tracking API, and Studio's sampled-series extension.

``get-history`` streams: a 1,000,000-point history is ~80 MB of JSON, which is produced chunk by chunk (orjson on
lists of rows) while the rows are still being read, instead of being built in memory first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import path

from studio.api import Args, api_view, wire_float
from studio.auth.access import access, on
from studio.auth.permissions import READ
from studio.errors import invalid
from tracking.access import EXPERIMENT, run_field, runs_field
from tracking.store import metric_sampling as sampling
from tracking.store import metrics as store

# MLflow's limits (mlflow/server/handlers.py).
MAX_RUNS_BULK_INTERVAL = 100
MAX_RESULTS_PER_RUN = 2500
MAX_RUNS_HISTORY_BULK = 100
MAX_RESULTS_HISTORY_BULK = 25000
# Studio's sampling extension: a chart of up to 200 runs, each with a handful of keys.
MAX_RUNS_SAMPLE = 200
MAX_KEYS_SAMPLE = 100

_DOCS_HINT = " See the API docs for more information about request parameters."


@access(on(EXPERIMENT, READ, run_field()))
@api_view("GET")
def GetMetricHistoryApi(request: HttpRequest, args: Args) -> StreamingHttpResponse:
    run_id = args.run_id()
    key = args.str("metric_key", required=True)
    history = store.get_metric_history(
        run_id=run_id, key=key, max_results=args.int("max_results"), page_token=args.str("page_token") or None
    )
    return StreamingHttpResponse(_history_json(key, history), content_type="application/json")


def _history_json(key: str, history: store.MetricHistory) -> Iterator[bytes]:
    """``{"metrics": [...], "next_page_token": ...}`` in pieces; empty fields are omitted, as proto3 JSON does."""
    opened = False
    for rows in history.chunks():
        body = orjson.dumps(
            [{"key": key, "value": "NaN" if v is None else v, "timestamp": t, "step": s} for s, t, v in rows]
        )
        yield (b"," + body[1:-1]) if opened else (b'{"metrics":' + body[:-1])
        opened = True
    tail = b"]" if opened else b"{"
    if history.next_page_token:
        tail += (b"," if opened else b"") + b'"next_page_token":' + orjson.dumps(history.next_page_token)
    yield tail + b"}"


@access(on(EXPERIMENT, READ, runs_field("run_ids")))
@api_view("GET")
def GetMetricHistoryBulkIntervalApi(request: HttpRequest, args: Args) -> dict:
    # Checked in the order of MLflow's request schema, with its messages.
    run_ids = args.str_list("run_ids", required=True)
    if len(run_ids) > MAX_RUNS_BULK_INTERVAL:
        raise invalid(
            f"GetMetricHistoryBulkInterval request must specify at most {MAX_RUNS_BULK_INTERVAL} run_ids. "
            f"Received {len(run_ids)} run_ids.{_DOCS_HINT}"
        )
    key = args.str("metric_key", required=True)
    start_step, end_step = _query_int(args, "start_step"), _query_int(args, "end_step")
    max_results = _query_int(args, "max_results", MAX_RESULTS_PER_RUN)
    if not 1 <= max_results <= MAX_RESULTS_PER_RUN:
        raise invalid(f"max_results must be between 1 and {MAX_RESULTS_PER_RUN}.{_DOCS_HINT}")
    rows = sampling.get_metric_history_bulk_interval(
        run_ids=run_ids, key=key, max_results=max_results, start_step=start_step, end_step=end_step
    )
    return {"metrics": _metrics_with_run_ids(key, rows)} if rows else {}


@access(on(EXPERIMENT, READ, runs_field("run_id")))
@api_view("GET")
def GetMetricHistoryBulkApi(request: HttpRequest, args: Args) -> dict:
    """The UI's older bulk endpoint (``/ajax-api/2.0/mlflow/metrics/get-history-bulk``), with MLflow's messages."""
    run_ids = args.str_list("run_id")
    if not run_ids:
        raise invalid("GetMetricHistoryBulk request must specify at least one run_id.")
    if len(run_ids) > MAX_RUNS_HISTORY_BULK:
        raise invalid(
            f"GetMetricHistoryBulk request cannot specify more than {MAX_RUNS_HISTORY_BULK} run_ids. "
            f"Received {len(run_ids)} run_ids."
        )
    key = args.str("metric_key")
    if key is None:
        raise invalid("GetMetricHistoryBulk request must specify a metric_key.")
    max_results = max(0, min(_query_int(args, "max_results", MAX_RESULTS_HISTORY_BULK), MAX_RESULTS_HISTORY_BULK))
    rows = store.get_metric_history_bulk(run_ids=run_ids, key=key, max_results=max_results)
    return {"metrics": _metrics_with_run_ids(key, rows)}


def _metrics_with_run_ids(key: str, rows: list[tuple[str, store.PointRow]]) -> list[dict[str, Any]]:
    return [
        {"key": key, "value": wire_float(value), "timestamp": timestamp, "step": step, "run_id": run_id}
        for run_id, (step, timestamp, value) in rows
    ]


def _query_int(args: Args, name: str, default: int | None = None) -> int | None:
    """An integer query parameter, refused with the message of MLflow's ``_assert_intlike``."""
    value = args.str(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise invalid(
            f"Invalid value {orjson.dumps(value).decode()} for parameter '{name}' supplied:  "
            f"Hint: Value was of type 'str'.{_DOCS_HINT}"
        ) from None


@access(on(EXPERIMENT, READ, runs_field("run_ids")))
@api_view("GET", "POST")
def SampleMetricsApi(request: HttpRequest, args: Args) -> dict:
    """Studio extension: each (run, key) series sampled to at most ``points`` buckets of last/min/max/count."""
    run_ids = args.str_list("run_ids", required=True)
    keys = args.str_list("metric_keys", required=True)
    if len(run_ids) > MAX_RUNS_SAMPLE or len(keys) > MAX_KEYS_SAMPLE:
        raise invalid(
            f"A sample takes at most {MAX_RUNS_SAMPLE} run_ids and {MAX_KEYS_SAMPLE} metric_keys. "
            f"Received {len(run_ids)} run_ids and {len(keys)} metric_keys."
        )
    series = sampling.sample_metric_series(
        run_ids=run_ids,
        keys=keys,
        points=args.int("points", default=sampling.DEFAULT_POINTS),
        start_step=args.int("start_step"),
        end_step=args.int("end_step"),
    )
    return {"series": [_sampled_series_to_wire(s) for s in series]}


def _sampled_series_to_wire(series: sampling.SampledSeries) -> dict[str, Any]:
    return {
        "run_id": series.run_id,
        "key": series.key,
        "count": series.count,
        "min_step": series.min_step,
        "max_step": series.max_step,
        "sampled": series.sampled,
        "buckets": [
            {
                "step": b.step,
                "timestamp": b.timestamp,
                "value": wire_float(b.value),
                "min": wire_float(b.min),
                "max": wire_float(b.max),
                "count": b.count,
            }
            for b in series.buckets
        ],
    }


urlpatterns = [
    path("metrics/get-history", GetMetricHistoryApi),
    path("metrics/get-history-bulk-interval", GetMetricHistoryBulkIntervalApi),
    path("metrics/get-history-bulk", GetMetricHistoryBulkApi),
]

# Mounted under /api/2.0/studio/ by tracking/api/studio_urls.py.
studio_urlpatterns = [
    path("metrics/sample", SampleMetricsApi),
]
