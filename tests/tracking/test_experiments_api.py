from __future__ import annotations

import pytest


def test_default_experiment_exists(api):
    experiment = api.get("experiments/get", {"experiment_id": "0"})["experiment"]
    assert experiment["name"] == "Default"
    assert experiment["artifact_location"] == "mlflow-artifacts:/0"


def test_create_get_and_get_by_name(api):
    experiment_id = api.post("experiments/create", {"name": "a", "tags": [{"key": "k", "value": "v"}]})["experiment_id"]
    by_id = api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]
    by_name = api.get("experiments/get-by-name", {"experiment_name": "a"})["experiment"]
    assert by_id == by_name
    assert by_id["tags"] == [{"key": "k", "value": "v"}]
    assert by_id["artifact_location"] == f"mlflow-artifacts:/{experiment_id}"
    assert by_id["lifecycle_stage"] == "active"


def test_create_duplicate_name_is_resource_already_exists(api):
    api.post("experiments/create", {"name": "dup"})
    api.error("POST", "experiments/create", {"name": "dup"}, 400, "RESOURCE_ALREADY_EXISTS")


@pytest.mark.parametrize(
    ("method", "endpoint", "payload", "status", "code"),
    [
        ("POST", "experiments/create", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/create", {"name": ""}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/create", {"name": 5}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/create", {"name": "x" * 501}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "experiments/get", {"experiment_id": "12345"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("GET", "experiments/get", {}, 400, "INVALID_PARAMETER_VALUE"),
        ("GET", "experiments/get-by-name", {"experiment_name": "missing"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "experiments/delete", {"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE"),
        ("POST", "experiments/delete", {"experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("POST", "experiments/restore", {"experiment_id": "0"}, 400, "INVALID_PARAMETER_VALUE"),
        (
            "POST",
            "experiments/delete-experiment-tag",
            {"experiment_id": "0", "key": "nope"},
            404,
            "RESOURCE_DOES_NOT_EXIST",
        ),
        ("GET", "experiments/nonexistent", {}, 404, "ENDPOINT_NOT_FOUND"),
    ],
)
def test_experiment_errors(api, method, endpoint, payload, status, code):
    api.error(method, endpoint, payload, status, code)


def test_rename_delete_restore(api, experiment_id):
    api.post("experiments/update", {"experiment_id": experiment_id, "new_name": "renamed"})
    assert api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]["name"] == "renamed"
    api.post("experiments/create", {"name": "other"})
    api.error(
        "POST",
        "experiments/update",
        {"experiment_id": experiment_id, "new_name": "other"},
        400,
        "RESOURCE_ALREADY_EXISTS",
    )
    api.post("experiments/delete", {"experiment_id": experiment_id})
    assert api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]["lifecycle_stage"] == "deleted"
    # Names of deleted experiments stay reserved, as in MLflow.
    api.error("POST", "experiments/create", {"name": "renamed"}, 400, "RESOURCE_ALREADY_EXISTS")
    api.error(
        "POST",
        "experiments/set-experiment-tag",
        {"experiment_id": experiment_id, "key": "k", "value": "v"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.post("experiments/restore", {"experiment_id": experiment_id})
    assert api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]["lifecycle_stage"] == "active"


def test_delete_experiment_deletes_its_runs_and_restore_brings_them_back(api, experiment_id, run_id):
    api.post("experiments/delete", {"experiment_id": experiment_id})
    assert api.get("runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "deleted"
    api.post("experiments/restore", {"experiment_id": experiment_id})
    assert api.get("runs/get", {"run_id": run_id})["run"]["info"]["lifecycle_stage"] == "active"


def test_experiment_tags(api, experiment_id):
    api.post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "1"})
    api.post("experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "2"})
    assert api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]["tags"] == [
        {"key": "k", "value": "2"}
    ]
    api.post("experiments/delete-experiment-tag", {"experiment_id": experiment_id, "key": "k"})
    assert "tags" not in api.get("experiments/get", {"experiment_id": experiment_id})["experiment"]


def test_ajax_api_prefix_serves_the_same_handlers(api):
    from tests.conftest import ApiClient

    ajax = ApiClient("/ajax-api/2.0/mlflow/")
    assert ajax.get("experiments/get", {"experiment_id": "0"})["experiment"]["name"] == "Default"
