from __future__ import annotations

import pytest

from tracking.models import MetricPoint, Param, RunTag


def _run(api, run_id):
    return api.get("runs/get", {"run_id": run_id})["run"]


def test_create_run_mirrors_name_in_tag_and_returns_both_ids(api, experiment_id):
    run = api.post(
        "runs/create",
        {
            "experiment_id": experiment_id,
            "run_name": "alpha",
            "start_time": 123,
            "user_id": "ana",
            "tags": [{"key": "team", "value": "x"}],
        },
    )["run"]
    info = run["info"]
    assert info["run_id"] == info["run_uuid"] and len(info["run_id"]) == 32
    assert info["run_name"] == "alpha" and info["user_id"] == "ana" and info["start_time"] == 123
    assert info["status"] == "RUNNING" and info["lifecycle_stage"] == "active"
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/{info['run_id']}/artifacts"
    assert {"key": "mlflow.runName", "value": "alpha"} in run["data"]["tags"]
    assert {"key": "team", "value": "x"} in run["data"]["tags"]


def test_create_run_without_name_gets_a_generated_one(api, experiment_id):
    info = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]
    assert info["run_name"]


def test_create_run_defaults_to_experiment_zero(api):
    assert api.post("runs/create", {})["run"]["info"]["experiment_id"] == "0"


def test_get_run_accepts_legacy_run_uuid(api, run_id):
    assert api.get("runs/get", {"run_uuid": run_id})["run"]["info"]["run_id"] == run_id


@pytest.mark.parametrize(
    ("method", "endpoint", "payload", "status", "code"),
    [
        ("GET", "runs/get", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "runs/get", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "runs/create", {"experiment_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "runs/create", {"start_time": "soon"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "runs/create", {"start_time": 2**63}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "runs/update", {"run_id": "0" * 32, "status": "FINISHED"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        (
            "POST",
            "runs/log-metric",
            {"run_id": "0" * 32, "key": "m", "value": 1, "timestamp": 1},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        ("POST", "runs/delete", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_run_errors(api, method, endpoint, payload, status, code):
    api.error(method, endpoint, payload, status, code)


def test_create_run_with_conflicting_name_and_tag_is_refused(api, experiment_id):
    api.error(
        "POST",
        "runs/create",
        {"experiment_id": experiment_id, "run_name": "a", "tags": [{"key": "mlflow.runName", "value": "b"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_update_run_status_end_time_and_name(api, run_id):
    info = api.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 999, "run_name": "new"})[
        "run_info"
    ]
    assert (info["status"], info["end_time"], info["run_name"]) == ("FINISHED", 999, "new")
    assert {"key": "mlflow.runName", "value": "new"} in _run(api, run_id)["data"]["tags"]
    api.error("POST", "runs/update", {"run_id": run_id, "status": "DONE"}, 400, "INVALID_PARAMETER_VALUE")


def test_set_tag_runname_renames_run(api, run_id):
    api.post("runs/set-tag", {"run_id": run_id, "key": "mlflow.runName", "value": "via-tag"})
    assert _run(api, run_id)["info"]["run_name"] == "via-tag"


def test_tags_set_overwrite_and_delete(api, run_id):
    api.post("runs/set-tag", {"run_id": run_id, "key": "k", "value": "1"})
    api.post("runs/set-tag", {"run_uuid": run_id, "key": "k", "value": "2"})
    assert {"key": "k", "value": "2"} in _run(api, run_id)["data"]["tags"]
    api.post("runs/delete-tag", {"run_id": run_id, "key": "k"})
    assert all(t["key"] != "k" for t in _run(api, run_id)["data"]["tags"])
    api.error("POST", "runs/delete-tag", {"run_id": run_id, "key": "k"}, 404, "RESOURCE_DOES_NOT_EXIST")


@pytest.mark.parametrize(
    ("key", "value"),
    [("bad key!", "v"), ("a/../b", "v"), ("x" * 251, "v"), ("/abs", "v")],
)
def test_invalid_tag_keys_are_refused(api, run_id, key, value):
    api.error("POST", "runs/set-tag", {"run_id": run_id, "key": key, "value": value}, 400, "INVALID_PARAMETER_VALUE")


def test_params_are_immutable_but_relogging_the_same_value_is_fine(api, run_id):
    api.post("runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "0.5"})
    api.post("runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "0.5"})
    message = api.error(
        "POST", "runs/log-parameter", {"run_id": run_id, "key": "alpha", "value": "0.6"}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert "Changing param values is not allowed" in message
    assert _run(api, run_id)["data"]["params"] == [{"key": "alpha", "value": "0.5"}]


def test_log_metric_keeps_latest_by_step_then_timestamp(api, run_id):
    for value, timestamp, step in [(1.0, 10, 5), (2.0, 5, 7), (3.0, 1, 6), (4.0, 20, 7)]:
        api.post(
            "runs/log-metric", {"run_id": run_id, "key": "m", "value": value, "timestamp": timestamp, "step": step}
        )
    assert _run(api, run_id)["data"]["metrics"] == [{"key": "m", "value": 4.0, "timestamp": 20, "step": 7}]


def test_nan_and_infinity_round_trip_as_mlflow_sends_them(api, run_id):
    api.post("runs/log-metric", {"run_id": run_id, "key": "n", "value": "NaN", "timestamp": 1, "step": 0})
    api.post("runs/log-metric", {"run_id": run_id, "key": "i", "value": "Infinity", "timestamp": 1, "step": 0})
    metrics = {m["key"]: m["value"] for m in _run(api, run_id)["data"]["metrics"]}
    assert metrics == {"n": "NaN", "i": 1.7976931348623157e308}


def test_log_batch_writes_everything(api, run_id):
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": "m", "value": i, "timestamp": 100 + i, "step": i} for i in range(50)],
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "t", "value": "v"}],
        },
    )
    data = _run(api, run_id)["data"]
    assert data["metrics"] == [{"key": "m", "value": 49.0, "timestamp": 149, "step": 49}]
    assert data["params"] == [{"key": "p", "value": "1"}]
    assert {"key": "t", "value": "v"} in data["tags"]


@pytest.mark.parametrize(
    "payload",
    [
        # too many metrics
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)]},
        # too many params
        {"params": [{"key": f"p{i}", "value": "v"} for i in range(101)]},
        # too many entities in total
        {
            "metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(950)],
            "tags": [{"key": f"t{i}", "value": "v"} for i in range(51)],
        },
        # a duplicate param key
        {"params": [{"key": "p", "value": "1"}, {"key": "p", "value": "2"}]},
        # one bad metric among good ones
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1}, {"key": "m", "value": "x", "timestamp": 1}]},
        {"metrics": [{"key": "m", "value": 1, "timestamp": -5}]},
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1, "step": 2**70}]},
        {"metrics": [{"key": "m", "value": 1, "timestamp": 2**64}]},
        {"metrics": [{"key": "m", "value": 1}]},
        {"metrics": [{"key": "bad key!", "value": 1, "timestamp": 1}]},
        # a good metric and an over-long param value... is truncated by MLflow; an over-long key is not
        {"metrics": [{"key": "m", "value": 1, "timestamp": 1}], "params": [{"key": "k" * 251, "value": "v"}]},
        {"tags": [{"key": "ok", "value": "v"}, {"key": "bad/../key", "value": "v"}]},
    ],
)
def test_rejected_batch_writes_nothing(api, run_id, payload):
    api.error("POST", "runs/log-batch", {"run_id": run_id, **payload}, 400, "INVALID_PARAMETER_VALUE")
    assert not MetricPoint.objects.filter(series__run_id=run_id).exists()
    assert not Param.objects.filter(run_id=run_id).exists()
    assert set(RunTag.objects.filter(run_id=run_id).values_list("key", flat=True)) == {"mlflow.runName"}


def test_batch_with_changed_param_writes_nothing(api, run_id):
    api.post("runs/log-parameter", {"run_id": run_id, "key": "p", "value": "1"})
    api.error(
        "POST",
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": "m", "value": 1, "timestamp": 1}],
            "params": [{"key": "p", "value": "2"}],
        },
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert not MetricPoint.objects.filter(series__run_id=run_id).exists()


def test_deleted_run_refuses_writes_and_restore_allows_them(api, run_id):
    api.post("runs/delete", {"run_id": run_id})
    assert _run(api, run_id)["info"]["lifecycle_stage"] == "deleted"
    api.error("POST", "runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"}, 400, "INVALID_PARAMETER_VALUE")
    api.post("runs/restore", {"run_id": run_id})
    api.post("runs/set-tag", {"run_id": run_id, "key": "k", "value": "v"})


def test_malformed_json_body_is_a_clear_error(api):
    response = api.client.post("/api/2.0/mlflow/runs/create", b"{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_wrong_method_is_endpoint_not_found(api):
    response = api.client.get("/api/2.0/mlflow/runs/create")
    assert response.status_code == 404
    assert response.json()["error_code"] == "ENDPOINT_NOT_FOUND"
