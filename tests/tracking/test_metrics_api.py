"""Metric history endpoints over MLflow's wire protocol, Studio's sample extension, and the real ``mlflow`` client."""

from __future__ import annotations

import math

import mlflow
import orjson
import pytest
from mlflow.entities import Metric

from tests.conftest import ApiClient

HINT = " See the API docs for more information about request parameters."
FLOAT_MAX = 1.7976931348623157e308


def log(api: ApiClient, run_id: str, points: list[tuple], key: str = "m") -> None:
    """Log (step, timestamp, value) points with log-batch, 1,000 per call."""
    metrics = [{"key": key, "value": value, "timestamp": ts, "step": step} for step, ts, value in points]
    for start in range(0, len(metrics), 1000):
        api.post("runs/log-batch", {"run_id": run_id, "metrics": metrics[start : start + 1000]})


def get_history(api: ApiClient, payload: dict, status: int = 200) -> dict:
    """``metrics/get-history``, whose success responses stream."""
    response = api.client.get(api.prefix + "metrics/get-history", payload)
    assert response.status_code == status, response
    return orjson.loads(b"".join(response.streaming_content) if response.streaming else response.content)


def points_of(body: dict) -> list[tuple]:
    return [(m["step"], m["timestamp"], m["value"]) for m in body.get("metrics", [])]


def test_history_is_the_whole_series_in_step_then_timestamp_order(api, run_id):
    log(api, run_id, [(3, 30, 0.3), (1, 20, 0.2), (1, 10, 0.1), (-2, 99, -1.5), (2, 5, 7.0)])
    body = get_history(api, {"run_id": run_id, "metric_key": "m"})
    assert body == {
        "metrics": [
            {"key": "m", "value": -1.5, "timestamp": 99, "step": -2},
            {"key": "m", "value": 0.1, "timestamp": 10, "step": 1},
            {"key": "m", "value": 0.2, "timestamp": 20, "step": 1},
            {"key": "m", "value": 7.0, "timestamp": 5, "step": 2},
            {"key": "m", "value": 0.3, "timestamp": 30, "step": 3},
        ]
    }
    # The legacy run_uuid and the UI's prefix answer the same.
    assert get_history(ApiClient("/ajax-api/2.0/mlflow/"), {"run_uuid": run_id, "metric_key": "m"}) == body


def test_history_sends_nan_as_a_string_and_clamps_infinities(api, run_id):
    log(api, run_id, [(0, 1, "NaN"), (1, 1, "Infinity"), (2, 1, "-Infinity"), (3, 1, 2.5)])
    assert points_of(get_history(api, {"run_id": run_id, "metric_key": "m"})) == [
        (0, 1, "NaN"),
        (1, 1, FLOAT_MAX),
        (2, 1, -FLOAT_MAX),
        (3, 1, 2.5),
    ]


def test_history_keeps_a_point_logged_twice_once(api, run_id):
    for _ in range(2):
        api.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.5, "timestamp": 7, "step": 3})
        api.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": "NaN", "timestamp": 7, "step": 3})
    api.post("runs/log-metric", {"run_id": run_id, "key": "m", "value": 2.5, "timestamp": 7, "step": 3})
    assert points_of(get_history(api, {"run_id": run_id, "metric_key": "m"})) == [
        (3, 7, 1.5),
        (3, 7, "NaN"),
        (3, 7, 2.5),
    ]


def test_history_of_an_unknown_key_is_empty(api, run_id):
    log(api, run_id, [(0, 1, 1.0)])
    assert get_history(api, {"run_id": run_id, "metric_key": "other"}) == {}
    assert get_history(api, {"run_id": run_id, "metric_key": "other", "max_results": 10}) == {}


def test_history_pages_with_keyset_tokens_across_equal_steps(api, run_id):
    # Eleven points share step 5, three of them also their timestamp: pages must split them without loss or repeats.
    points = [(5, ts // 2, float(ts)) for ts in range(11)] + [(4, 0, -1.0), (6, 0, 1.0)]
    log(api, run_id, points)
    whole = get_history(api, {"run_id": run_id, "metric_key": "m"})["metrics"]
    assert len(whole) == 13
    pages, token = [], None
    while True:
        query = {"run_id": run_id, "metric_key": "m", "max_results": 3}
        if token:
            query["page_token"] = token
        page = get_history(api, query)
        pages.append(page["metrics"])
        token = page.get("next_page_token")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 3, 3, 1]
    assert [m for page in pages for m in page] == whole
    assert "next_page_token" not in get_history(api, {"run_id": run_id, "metric_key": "m", "max_results": 13})


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"run_id": "0" * 32, "metric_key": "m"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"metric_key": "m"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "max_results": 0}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "max_results": "many"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"run_id": "RUN", "metric_key": "m", "max_results": 5, "page_token": "bad"}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)  # fmt: skip
def test_history_errors(api, run_id, payload, status, code):
    payload = {k: run_id if v == "RUN" else v for k, v in payload.items()}
    assert get_history(api, payload, status)["error_code"] == code


@pytest.fixture
def two_runs(api, experiment_id) -> list[str]:
    """Two runs (sorted by id) with 300 and 40 steps of ``m``."""
    runs = sorted(api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"] for _ in range(2))
    log(api, runs[0], [(step, 1000 + step, math.sin(step / 9)) for step in range(300)])
    log(api, runs[1], [(step * 3, 2000 + step, float(step)) for step in range(40)])
    return runs


def test_bulk_interval_samples_each_run_keeping_its_first_and_last_point(api, two_runs):
    body = api.get("metrics/get-history-bulk-interval", {"run_ids": two_runs, "metric_key": "m", "max_results": 50})
    by_run = {run_id: [m for m in body["metrics"] if m["run_id"] == run_id] for run_id in two_runs}
    assert [m["run_id"] for m in body["metrics"]] == sorted(m["run_id"] for m in body["metrics"])
    first, second = by_run[two_runs[0]], by_run[two_runs[1]]
    assert 25 <= len(first) <= 50
    assert (first[0]["step"], first[-1]["step"]) == (0, 299)
    assert [m["step"] for m in first] == sorted({m["step"] for m in first})
    # Sampled points are logged points, not averages.
    assert all(m["value"] == math.sin(m["step"] / 9) and m["timestamp"] == 1000 + m["step"] for m in first)
    assert all(m["key"] == "m" for m in body["metrics"])
    # A run with fewer points than max_results comes back whole.
    assert [(m["step"], m["value"]) for m in second] == [(step * 3, float(step)) for step in range(40)]


def test_bulk_interval_restricts_to_a_step_range_and_one_point_is_the_last(api, two_runs):
    query = {"run_ids": two_runs[:1], "metric_key": "m", "start_step": 100, "end_step": 120}
    body = api.get("metrics/get-history-bulk-interval", query)
    assert [m["step"] for m in body["metrics"]] == list(range(100, 121))
    body = api.get("metrics/get-history-bulk-interval", {**query, "max_results": 1})
    assert [m["step"] for m in body["metrics"]] == [120]
    body = api.get("metrics/get-history-bulk-interval", {**query, "start_step": 500, "end_step": 600})
    assert body == {}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"metric_key": "m"}, f"Missing value for required parameter 'run_ids'.{HINT}"),
        (
            {"run_ids": [f"{i:032x}" for i in range(101)], "metric_key": "m"},
            f"GetMetricHistoryBulkInterval request must specify at most 100 run_ids. Received 101 run_ids.{HINT}",
        ),
        ({"run_ids": ["RUN"]}, f"Missing value for required parameter 'metric_key'.{HINT}"),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "start_step": "x", "end_step": "1"},
            f"Invalid value \"x\" for parameter 'start_step' supplied:  Hint: Value was of type 'str'.{HINT}",
        ),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "max_results": "lots"},
            f"Invalid value \"lots\" for parameter 'max_results' supplied:  Hint: Value was of type 'str'.{HINT}",
        ),
        ({"run_ids": ["RUN"], "metric_key": "m", "max_results": 0}, f"max_results must be between 1 and 2500.{HINT}"),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "max_results": 2501},
            f"max_results must be between 1 and 2500.{HINT}",
        ),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "start_step": 1},
            "If either start step or end step are specified, both must be specified.",
        ),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "end_step": 1},
            "If either start step or end step are specified, both must be specified.",
        ),
        (
            {"run_ids": ["RUN"], "metric_key": "m", "start_step": 5, "end_step": 1},
            "end_step must be greater than start_step. Found start_step=5 and end_step=1.",
        ),
    ],
)
def test_bulk_interval_validation(api, run_id, query, message):
    query = {k: [run_id if v == "RUN" else v for v in vs] if k == "run_ids" else vs for k, vs in query.items()}
    assert api.error("GET", "metrics/get-history-bulk-interval", query, 400, "INVALID_PARAMETER_VALUE") == message


def test_bulk_interval_of_an_unknown_run_is_not_found(api, run_id):
    query = {"run_ids": [run_id, "f" * 32], "metric_key": "m"}
    api.error("GET", "metrics/get-history-bulk-interval", query, 404, "RESOURCE_DOES_NOT_EXIST")


def test_history_bulk_for_the_ui_orders_by_run_then_timestamp(two_runs):
    ajax = ApiClient("/ajax-api/2.0/mlflow/")
    body = ajax.get("metrics/get-history-bulk", {"run_id": two_runs[::-1], "metric_key": "m", "max_results": 320})
    metrics = body["metrics"]
    assert len(metrics) == 320
    assert [(m["run_id"], m["timestamp"]) for m in metrics] == sorted((m["run_id"], m["timestamp"]) for m in metrics)
    assert metrics[0] == {"key": "m", "value": 0.0, "timestamp": 1000, "step": 0, "run_id": two_runs[0]}
    assert metrics[-1]["run_id"] == two_runs[1]
    assert ajax.get("metrics/get-history-bulk", {"run_id": two_runs, "metric_key": "nope"}) == {"metrics": []}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"metric_key": "m"}, "GetMetricHistoryBulk request must specify at least one run_id."),
        (
            {"run_id": [f"{i:032x}" for i in range(101)], "metric_key": "m"},
            "GetMetricHistoryBulk request cannot specify more than 100 run_ids. Received 101 run_ids.",
        ),
        ({"run_id": ["a" * 32]}, "GetMetricHistoryBulk request must specify a metric_key."),
    ],
)
def test_history_bulk_validation(api, query, message):
    assert api.error("GET", "metrics/get-history-bulk", query, 400, "INVALID_PARAMETER_VALUE") == message


def test_sample_extension_returns_min_max_last_buckets(run_id, api):
    log(api, run_id, [(step, step, float(step % 100)) for step in range(5000)])
    log(api, run_id, [(0, 0, "NaN"), (1, 1, 4.0)], key="short")
    studio = ApiClient("/api/2.0/studio/")
    body = studio.get("metrics/sample", {"run_ids": [run_id], "metric_keys": ["m", "short", "none"], "points": 10})
    long, short = body["series"]
    assert {k: long[k] for k in ("run_id", "key", "count", "min_step", "max_step", "sampled")} == {
        "run_id": run_id,
        "key": "m",
        "count": 5000,
        "min_step": 0,
        "max_step": 4999,
        "sampled": True,
    }
    assert 5 <= len(long["buckets"]) <= 10
    assert sum(b["count"] for b in long["buckets"]) == 5000
    assert all(b["min"] == 0.0 and b["max"] == 99.0 for b in long["buckets"])
    assert long["buckets"][-1] == {
        "step": 4999,
        "timestamp": 4999,
        "value": 99.0,
        "min": 0.0,
        "max": 99.0,
        "count": 392,
    }
    assert short == {
        "run_id": run_id,
        "key": "short",
        "count": 2,
        "min_step": 0,
        "max_step": 1,
        "sampled": False,
        "buckets": [
            {"step": 0, "timestamp": 0, "value": "NaN", "min": "NaN", "max": "NaN", "count": 1},
            {"step": 1, "timestamp": 1, "value": 4.0, "min": 4.0, "max": 4.0, "count": 1},
        ],
    }
    # A zoomed range, through the UI's prefix and as a POST body.
    zoom = ApiClient("/ajax-api/2.0/studio/").post(
        "metrics/sample", {"run_ids": [run_id], "metric_keys": ["m"], "start_step": 150, "end_step": 249}
    )["series"][0]
    assert not zoom["sampled"]
    assert [b["step"] for b in zoom["buckets"]] == list(range(150, 250))


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ({"metric_keys": ["m"]}, 400),
        ({"run_ids": ["RUN"]}, 400),
        ({"run_ids": ["RUN"], "metric_keys": ["m"], "points": 0}, 400),
        ({"run_ids": ["RUN"], "metric_keys": ["m"], "points": "x"}, 400),
        ({"run_ids": ["RUN"], "metric_keys": ["m"], "start_step": 9, "end_step": 2}, 400),
        ({"run_ids": [f"{i:032x}" for i in range(201)], "metric_keys": ["m"]}, 400),
        ({"run_ids": ["RUN", "e" * 32], "metric_keys": ["m"]}, 404),
    ],
)
def test_sample_extension_validation(run_id, query, status):
    query = {k: [run_id if v == "RUN" else v for v in vs] if k == "run_ids" else vs for k, vs in query.items()}
    code = "RESOURCE_DOES_NOT_EXIST" if status == 404 else "INVALID_PARAMETER_VALUE"
    ApiClient("/api/2.0/studio/").error("GET", "metrics/sample", query, status, code)


@pytest.fixture
def quiet_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """No usage telemetry from the client under test."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@pytest.mark.live
def test_client_reads_back_what_log_metric_logged(quiet_client, mlflow_client, monkeypatch):
    # Mostly queued and sent as log-batch calls: Django's live test server takes ~50 ms per request, so 3,000
    # synchronous calls would take minutes. Buffering lets the queue gather large batches.
    monkeypatch.setenv("MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS", "1")
    logged = []
    with mlflow.start_run(experiment_id=mlflow_client.create_experiment("history")) as run:
        for step in range(3000):
            value = math.nan if step % 97 == 0 else math.cos(step / 100)
            mlflow.log_metric("loss", value, step=step, timestamp=10_000 + step, synchronous=step % 1000 == 0)
            logged.append((step, 10_000 + step, value))
    history = mlflow_client.get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(s, t) for s, t, _ in logged]
    for metric, (_, _, value) in zip(history, logged, strict=True):
        assert metric.value == value or (math.isnan(metric.value) and math.isnan(value))


@pytest.mark.live
def test_client_pages_through_a_history_longer_than_its_page(quiet_client, mlflow_client):
    # The client asks for pages of 25,000 points and follows next_page_token.
    run_id = mlflow_client.create_run(mlflow_client.create_experiment("paged")).info.run_id
    metrics = [Metric("acc", step / 30_000, 1_000 + step // 2, step // 3) for step in range(30_000)]
    for start in range(0, len(metrics), 1000):
        mlflow_client.log_batch(run_id, metrics=metrics[start : start + 1000], synchronous=True)
    history = mlflow_client.get_metric_history(run_id, "acc")
    assert [(m.step, m.timestamp, m.value) for m in history] == [(m.step, m.timestamp, m.value) for m in metrics]
