from __future__ import annotations

import pytest

from tracking.models import Dataset, DatasetInput


def dataset(name="iris", digest="abc123", **fields) -> dict:
    return {"name": name, "digest": digest, "source_type": "local", "source": '{"uri": "/data/iris.csv"}', **fields}


def dataset_input(context="training", **fields) -> dict:
    return {"tags": [{"key": "mlflow.data.context", "value": context}], "dataset": dataset(**fields)}


def run_inputs(api, run_id) -> dict:
    return api.get("runs/get", {"run_id": run_id})["run"]["inputs"]


def test_logged_dataset_appears_in_the_run(api, run_id):
    logged = dataset_input(schema='{"mlflow_colspec": []}', profile='{"num_rows": 150}')
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [logged]})
    assert run_inputs(api, run_id) == {"dataset_inputs": [logged]}
    assert DatasetInput.objects.get(run_id=run_id).context == "training"


def test_optional_dataset_fields_are_omitted(api, run_id):
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": dataset()}]})
    assert run_inputs(api, run_id) == {"dataset_inputs": [{"dataset": dataset()}]}


def test_logging_the_same_dataset_again_is_idempotent(api, run_id):
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [dataset_input(), dataset_input(context="eval")]})
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [dataset_input(context="eval")]})
    assert run_inputs(api, run_id)["dataset_inputs"] == [dataset_input()]
    assert Dataset.objects.count() == 1


def test_datasets_are_shared_within_an_experiment_only(api, experiment_id, run_id):
    second_run = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    other_experiment = api.post("experiments/create", {"name": "other"})["experiment_id"]
    other_run = api.post("runs/create", {"experiment_id": other_experiment})["run"]["info"]["run_id"]
    for run in (run_id, second_run, other_run):
        api.post("runs/log-inputs", {"run_id": run, "datasets": [dataset_input()]})
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [dataset_input(digest="changed")]})
    assert Dataset.objects.filter(experiment_id=experiment_id).count() == 2
    assert Dataset.objects.filter(experiment_id=other_experiment).count() == 1
    assert len(run_inputs(api, run_id)["dataset_inputs"]) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"dataset": dataset(name="n" * 501)},
        {"dataset": dataset(digest="d" * 37)},
        {"dataset": dataset(source="s" * 65536)},
        {"dataset": dataset(source_type="t" * 37)},
        {"dataset": {"digest": "d", "source_type": "local", "source": "s"}},
        {"dataset": {"name": "n", "source_type": "local", "source": "s"}},
        {"dataset": {"name": "n", "digest": "d", "source": "s"}},
        {"dataset": {"name": "n", "digest": "d", "source_type": "local"}},
        {"dataset": dataset(), "tags": [{"key": "k" * 256, "value": "v"}]},
        {"dataset": dataset(), "tags": [{"key": "k", "value": "v" * 501}]},
        {"dataset": dataset(), "tags": [{"key": "k"}]},
        "not-an-object",
    ],
)
def test_log_inputs_enforces_mlflow_limits_before_writing(api, run_id, bad):
    api.error(
        "POST",
        "runs/log-inputs",
        {"run_id": run_id, "datasets": [dataset_input(), bad]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert not Dataset.objects.exists()
    assert "dataset_inputs" not in run_inputs(api, run_id)


def test_schema_at_the_limit_is_accepted(api, run_id):
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": dataset(schema="s" * 1048575)}]})
    api.error(
        "POST",
        "runs/log-inputs",
        {"run_id": run_id, "datasets": [{"dataset": dataset(name="x", schema="s" * 1048576)}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_log_inputs_errors_on_runs(api, run_id):
    api.error("POST", "runs/log-inputs", {"datasets": [dataset_input()]}, 400, "INVALID_PARAMETER_VALUE")
    api.error("POST", "runs/log-inputs", {"run_id": "f" * 32}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.post("runs/delete", {"run_id": run_id})
    api.error(
        "POST", "runs/log-inputs", {"run_id": run_id, "datasets": [dataset_input()]}, 400, "INVALID_PARAMETER_VALUE"
    )


def create_model(api, experiment_id, name="m") -> str:
    return api.post("logged-models", {"experiment_id": experiment_id, "name": name})["model"]["info"]["model_id"]


def test_model_inputs_and_outputs_appear_in_the_run(api, experiment_id, run_id):
    used = create_model(api, experiment_id, "used")
    produced = create_model(api, experiment_id, "produced")
    api.post("runs/log-inputs", {"run_id": run_id, "models": [{"model_id": used}, {"model_id": used}]})
    api.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": produced, "step": 3}]})
    run = api.get("runs/get", {"run_id": run_id})["run"]
    assert run["inputs"] == {"model_inputs": [{"model_id": used}]}
    assert run["outputs"] == {"model_outputs": [{"model_id": produced, "step": 3}]}
    # Logging an output again moves it to the new step.
    api.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": produced, "step": 5}]})
    assert api.get("runs/get", {"run_id": run_id})["run"]["outputs"] == {
        "model_outputs": [{"model_id": produced, "step": 5}]
    }


def test_outputs_step_defaults_to_zero(api, experiment_id, run_id):
    produced = create_model(api, experiment_id)
    api.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": produced}]})
    assert api.get("runs/get", {"run_id": run_id})["run"]["outputs"] == {
        "model_outputs": [{"model_id": produced, "step": 0}]
    }


@pytest.mark.parametrize(
    ("endpoint", "payload", "status", "code"),
    [
        ("runs/outputs", {"models": []}, 400, "INVALID_PARAMETER_VALUE"),
        ("runs/outputs", {"models": [{"step": 1}]}, 400, "INVALID_PARAMETER_VALUE"),
        ("runs/outputs", {"models": [{"model_id": "m-unknown"}]}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ("runs/log-inputs", {"models": [{"model_id": "m-unknown"}]}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ],
)
def test_model_link_errors(api, run_id, endpoint, payload, status, code):
    api.error("POST", endpoint, {"run_id": run_id, **payload}, status, code)


def test_outputs_require_a_run_id(api, experiment_id):
    produced = create_model(api, experiment_id)
    api.error("POST", "runs/outputs", {"models": [{"model_id": produced}]}, 400, "INVALID_PARAMETER_VALUE")
