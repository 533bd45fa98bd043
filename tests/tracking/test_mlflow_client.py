"""End to end: the unmodified ``mlflow`` client against a live Studio, the way users drive it."""

from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from PIL import Image
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def _quiet_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """No usage telemetry from the client under test (the sandbox has no network and the data is not real)."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@pytest.fixture
def experiment_id(tracking_uri: str) -> str:
    """A fresh experiment made active with ``mlflow.set_experiment``, which creates it by name."""
    return mlflow.set_experiment("e2e").experiment_id


def test_set_experiment_creates_once_and_then_finds_it(experiment_id, mlflow_client):
    assert mlflow.set_experiment("e2e").experiment_id == experiment_id
    experiment = mlflow_client.get_experiment_by_name("e2e")
    assert experiment.experiment_id == experiment_id
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment_id}"
    assert mlflow_client.get_experiment_by_name("missing") is None


def test_nested_runs_with_params_metrics_and_tags(experiment_id, mlflow_client):
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_param("alpha", 0.5)
        mlflow.log_params({"solver": "lbfgs", "layers": 3})
        mlflow.set_tag("team", "vision")
        mlflow.set_tags({"stage": "dev", "owner": "me"})
        mlflow.log_metric("loss", 0.9, step=0)
        mlflow.log_metric("loss", 0.4, step=1)
        mlflow.log_metrics({"acc": 0.7, "f1": 0.6}, step=1)
        with mlflow.start_run(run_name="child", nested=True) as child:
            mlflow.log_metric("acc", 0.8)
    parent_run = mlflow_client.get_run(parent.info.run_id)
    child_run = mlflow_client.get_run(child.info.run_id)

    assert parent_run.info.run_name == "parent"
    assert parent_run.info.experiment_id == experiment_id
    assert parent_run.info.status == "FINISHED"
    assert parent_run.info.end_time >= parent_run.info.start_time
    assert parent_run.info.artifact_uri == f"mlflow-artifacts:/{experiment_id}/{parent.info.run_id}/artifacts"
    assert parent_run.data.params == {"alpha": "0.5", "solver": "lbfgs", "layers": "3"}
    assert parent_run.data.metrics == {"loss": 0.4, "acc": 0.7, "f1": 0.6}
    assert {"team": "vision", "stage": "dev", "owner": "me", "mlflow.runName": "parent"}.items() <= (
        parent_run.data.tags.items()
    )
    assert child_run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child_run.data.metrics == {"acc": 0.8}
    assert child_run.info.status == "FINISHED"


def test_thousands_of_metric_steps_through_log_batch(experiment_id, mlflow_client):
    steps = 5000
    now = int(time.time() * 1000)
    with mlflow.start_run() as run:
        run_id = run.info.run_id
        # The client splits this into batches of 1,000 metrics, with the params and tags in the first one.
        mlflow_client.log_batch(
            run_id,
            metrics=[Metric("curve", 1.0 / (i + 1), now + i, i) for i in range(steps)],
            params=[Param("epochs", str(steps))],
            tags=[RunTag("kind", "bulk")],
        )
        for i in range(3):
            mlflow.log_metric("lr", 0.1 / (i + 1), step=i)
    history = mlflow_client.get_metric_history(run_id, "curve")
    assert len(history) == steps
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(steps))
    assert {m.step: m.value for m in history}[123] == pytest.approx(1.0 / 124)
    fetched = mlflow_client.get_run(run_id)
    assert fetched.data.metrics["curve"] == pytest.approx(1.0 / steps)
    assert fetched.data.metrics["lr"] == pytest.approx(0.1 / 3)
    assert fetched.data.params == {"epochs": str(steps)}
    assert fetched.data.tags["kind"] == "bulk"
    assert [m.value for m in mlflow_client.get_metric_history(run_id, "lr")] == pytest.approx([0.1, 0.05, 0.1 / 3])


def test_log_input_records_a_pandas_dataset(experiment_id, mlflow_client):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [0, 1, 0]})
    dataset = mlflow.data.from_pandas(frame, source="/data/points.csv", name="points", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(dataset, context="training")
        mlflow.log_input(dataset, context="training")
    inputs = mlflow_client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(inputs) == 1
    logged = inputs[0].dataset
    assert (logged.name, logged.digest, logged.source_type) == ("points", dataset.digest, "local")
    assert json.loads(logged.source)["uri"] == "/data/points.csv"
    assert json.loads(logged.schema) == json.loads(dataset._to_mlflow_entity().schema)
    assert json.loads(logged.profile)["num_rows"] == 3
    assert {t.key: t.value for t in inputs[0].tags} == {"mlflow.data.context": "training"}


@pytest.fixture
def iris() -> tuple[pd.DataFrame, pd.Series]:
    return load_iris(return_X_y=True, as_frame=True)


def test_sklearn_model_round_trip(experiment_id, mlflow_client, iris):
    X, y = iris
    model = LogisticRegression(max_iter=500).fit(X, y)
    with mlflow.start_run() as run:
        mlflow.log_param("max_iter", 500)
        mlflow.log_metric("train_acc", model.score(X, y))
        info = mlflow.sklearn.log_model(model, name="model", signature=infer_signature(X, y), input_example=X[:3])
    run_id = run.info.run_id
    expected = model.predict(X)

    assert info.model_uri == f"models:/{info.model_id}"
    by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    np.testing.assert_array_equal(by_run.predict(X), expected)
    by_model_uri = mlflow.pyfunc.load_model(info.model_uri)
    np.testing.assert_array_equal(by_model_uri.predict(X), expected)

    logged = mlflow.get_logged_model(info.model_id)
    assert logged.status == "READY"
    assert logged.name == "model"
    assert logged.source_run_id == run_id
    assert logged.experiment_id == experiment_id
    assert logged.artifact_location == f"mlflow-artifacts:/{experiment_id}/models/{info.model_id}/artifacts"
    assert logged.params == {"max_iter": "500"}
    # The run's metrics are re-logged with the model id when the model is logged.
    assert {m.key: m.value for m in logged.metrics} == {"train_acc": pytest.approx(model.score(X, y))}
    outputs = mlflow_client.get_run(run_id).outputs.model_outputs
    assert [(o.model_id, o.step) for o in outputs] == [(info.model_id, 0)]
    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id], filter_string="name = 'model'", output_format="list"
    )
    assert [m.model_id for m in found] == [info.model_id]


def test_artifacts_upload_list_and_download(experiment_id, mlflow_client, tmp_path: Path):
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha")
    (source / "sub" / "b.txt").write_text("beta")
    single = tmp_path / "notes.md"
    single.write_text("# notes")
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    image[:, :, 0] = 255
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifacts(str(source), artifact_path="data")
        mlflow.log_dict({"lr": 0.1, "layers": [1, 2]}, "config/params.json")
        mlflow.log_text("hello", "hello.txt")
        mlflow.log_image(image, "plots/red.png")
    run_id = run.info.run_id

    top = {f.path: f.is_dir for f in mlflow_client.list_artifacts(run_id)}
    assert top == {"notes.md": False, "data": True, "config": True, "hello.txt": False, "plots": True}
    assert sorted(f.path for f in mlflow_client.list_artifacts(run_id, "data")) == ["data/a.txt", "data/sub"]
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/config/params.json") == {"lr": 0.1, "layers": [1, 2]}
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/hello.txt") == "hello"

    downloaded = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="data", dst_path=tmp_path / "d"))
    assert (downloaded / "a.txt").read_text() == "alpha"
    assert (downloaded / "sub" / "b.txt").read_text() == "beta"
    png = Path(mlflow_client.download_artifacts(run_id, "plots/red.png", str(tmp_path / "img")))
    assert np.array_equal(np.asarray(Image.open(png)), image)


def test_search_runs_and_experiments(experiment_id, mlflow_client):
    for name, alpha, acc in [("low", "0.1", 0.6), ("mid", "0.5", 0.8), ("high", "0.9", 0.95)]:
        with mlflow.start_run(run_name=name):
            mlflow.log_param("alpha", alpha)
            mlflow.log_metric("acc", acc)
            mlflow.set_tag("stage", "prod" if acc > 0.7 else "dev")

    frame = mlflow.search_runs(
        experiment_ids=[experiment_id], filter_string="metrics.acc > 0.7", order_by=["metrics.acc DESC"]
    )
    assert list(frame["tags.mlflow.runName"]) == ["high", "mid"]
    assert list(frame["params.alpha"]) == ["0.9", "0.5"]
    runs = mlflow.search_runs(experiment_ids=[experiment_id], filter_string="tags.stage = 'dev'", output_format="list")
    assert [r.info.run_name for r in runs] == ["low"]
    runs = mlflow_client.search_runs([experiment_id], "params.alpha = '0.5'", max_results=10)
    assert [r.info.run_name for r in runs] == ["mid"]

    mlflow_client.create_experiment("e2e-other", tags={"team": "nlp"})
    names = {e.name for e in mlflow.search_experiments(filter_string="name LIKE 'e2e%'")}
    assert names == {"e2e", "e2e-other"}
    tagged = mlflow.search_experiments(filter_string="tags.team = 'nlp'")
    assert [e.name for e in tagged] == ["e2e-other"]


def test_delete_and_restore_runs_and_experiments(experiment_id, mlflow_client):
    with mlflow.start_run() as run:
        mlflow.log_metric("m", 1.0)
    run_id = run.info.run_id

    mlflow_client.delete_run(run_id)
    assert mlflow_client.get_run(run_id).info.lifecycle_stage == "deleted"
    assert mlflow.search_runs(experiment_ids=[experiment_id], output_format="list") == []
    deleted = mlflow.search_runs(
        experiment_ids=[experiment_id], run_view_type=ViewType.DELETED_ONLY, output_format="list"
    )
    assert [r.info.run_id for r in deleted] == [run_id]
    mlflow_client.restore_run(run_id)
    assert mlflow_client.get_run(run_id).info.lifecycle_stage == "active"

    other_id = mlflow_client.create_experiment("to-delete")
    mlflow_client.delete_experiment(other_id)
    assert mlflow_client.get_experiment(other_id).lifecycle_stage == "deleted"
    assert "to-delete" not in {e.name for e in mlflow.search_experiments()}
    assert "to-delete" in {e.name for e in mlflow.search_experiments(view_type=ViewType.DELETED_ONLY)}
    mlflow_client.restore_experiment(other_id)
    assert mlflow_client.get_experiment(other_id).lifecycle_stage == "active"


def test_errors_surface_as_mlflow_exceptions_with_mlflow_codes(experiment_id, mlflow_client):
    with pytest.raises(MlflowException) as missing_run:
        mlflow_client.get_run("f" * 32)
    assert missing_run.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    mlflow_client.create_experiment("dup")
    with pytest.raises(MlflowException) as duplicate:
        mlflow_client.create_experiment("dup")
    assert duplicate.value.error_code == "RESOURCE_ALREADY_EXISTS"

    with mlflow.start_run():
        mlflow.log_param("alpha", 1)
        mlflow.log_param("alpha", 1)
        with pytest.raises(MlflowException) as changed:
            mlflow.log_param("alpha", 2)
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "Changing param values is not allowed" in changed.value.message
