"""End to end: the unmodified ``mlflow`` client's registry against a live Studio, the way users drive it."""

from __future__ import annotations

import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def _quiet_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")


@pytest.fixture
def iris():
    return load_iris(return_X_y=True, as_frame=True)


def _train_and_register(X, y, name: str, max_iter: int):
    model = LogisticRegression(max_iter=max_iter).fit(X, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(
            model, name="model", signature=infer_signature(X, y), input_example=X[:2], registered_model_name=name
        )
    return model, run.info.run_id, info


def _error_code(call) -> str:
    with pytest.raises(MlflowException) as raised:
        call()
    return raised.value.error_code


def test_register_alias_load_and_search(tracking_uri, mlflow_client, iris):
    X, y = iris
    mlflow.set_experiment("registry-e2e")
    first, run_1, _ = _train_and_register(X, y, "iris", 50)
    second, run_2, info_2 = _train_and_register(X, y, "iris", 500)
    versions = sorted(mlflow_client.search_model_versions("name = 'iris'"), key=lambda v: int(v.version))
    assert [(v.version, v.run_id) for v in versions] == [("1", run_1), ("2", run_2)]
    assert versions[1].source == f"models:/{info_2.model_id}"  # the 3.17 client does not read model_id back
    assert versions[1].status == "READY"

    mlflow_client.set_registered_model_alias("iris", "champion", "1")
    assert mlflow_client.get_model_version_by_alias("iris", "champion").version == "1"
    champion = mlflow.pyfunc.load_model("models:/iris@champion")
    np.testing.assert_array_equal(champion.predict(X), first.predict(X))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/iris/1").predict(X), first.predict(X))
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/iris/latest").predict(X), second.predict(X))
    np.testing.assert_array_equal(mlflow.sklearn.load_model("models:/iris/2").predict(X), second.predict(X))

    mlflow_client.create_registered_model("other", tags={"team": "vision"}, description="o")
    names = [m.name for m in mlflow_client.search_registered_models(filter_string="name LIKE 'iri%'")]
    assert names == ["iris"]
    assert [m.name for m in mlflow_client.search_registered_models(filter_string="tags.team = 'vision'")] == ["other"]
    assert [m.name for m in mlflow_client.search_registered_models(order_by=["name DESC"])] == ["other", "iris"]
    iris_model = mlflow_client.get_registered_model("iris")
    assert iris_model.aliases == {"champion": "1"}
    assert [v.version for v in iris_model.latest_versions] == ["2"]
    newest_first = mlflow_client.search_model_versions("name = 'iris'", order_by=["version_number DESC"])
    assert [v.version for v in newest_first] == ["2", "1"]
    assert [v.version for v in mlflow_client.search_model_versions(f"run_id = '{run_1}'")] == ["1"]

    mlflow_client.set_model_version_tag("iris", "2", "validated", "yes")
    assert [v.version for v in mlflow_client.search_model_versions("tags.validated = 'yes'")] == ["2"]
    mlflow_client.update_model_version("iris", "2", description="better")
    assert mlflow_client.get_model_version("iris", "2").description == "better"


def test_stages_copy_rename_and_delete(tracking_uri, mlflow_client, iris):
    X, y = iris
    mlflow.set_experiment("registry-e2e-2")
    model, _, _ = _train_and_register(X, y, "clf", 100)
    _train_and_register(X, y, "clf", 200)
    mlflow_client.transition_model_version_stage("clf", "1", "Production")
    moved = mlflow_client.transition_model_version_stage("clf", "2", "Production", archive_existing_versions=True)
    assert moved.current_stage == "Production"
    assert mlflow_client.get_model_version("clf", "1").current_stage == "Archived"
    assert [v.version for v in mlflow_client.get_latest_versions("clf", stages=["Production"])] == ["2"]
    assert mlflow.pyfunc.load_model("models:/clf/Production") is not None

    copied = mlflow_client.copy_model_version("models:/clf/1", "clf-copy")
    assert (copied.name, copied.version) == ("clf-copy", "1")
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/clf-copy/1").predict(X), model.predict(X))

    mlflow_client.set_registered_model_alias("clf", "prod", "2")
    mlflow_client.rename_registered_model("clf", "clf-renamed")
    renamed = mlflow_client.get_registered_model("clf-renamed")
    assert renamed.aliases == {"prod": "2"}
    assert {v.version for v in mlflow_client.search_model_versions("name = 'clf-renamed'")} == {"1", "2"}
    assert mlflow.pyfunc.load_model("models:/clf-renamed@prod") is not None

    mlflow_client.delete_model_version("clf-renamed", "1")
    assert _error_code(lambda: mlflow_client.get_model_version("clf-renamed", "1")) == "RESOURCE_DOES_NOT_EXIST"
    mlflow_client.delete_registered_model("clf-renamed")
    assert _error_code(lambda: mlflow_client.get_registered_model("clf-renamed")) == "RESOURCE_DOES_NOT_EXIST"
    assert mlflow_client.search_model_versions("name = 'clf-renamed'") == []
    # The copy was a copy: it still loads.
    np.testing.assert_array_equal(mlflow.pyfunc.load_model("models:/clf-copy/1").predict(X), model.predict(X))


def test_error_codes(tracking_uri, mlflow_client):
    mlflow_client.create_registered_model("e")
    assert _error_code(lambda: mlflow_client.create_registered_model("e")) == "RESOURCE_ALREADY_EXISTS"
    assert _error_code(lambda: mlflow_client.get_registered_model("missing")) == "RESOURCE_DOES_NOT_EXIST"
    assert _error_code(lambda: mlflow_client.get_model_version("e", "1")) == "RESOURCE_DOES_NOT_EXIST"
    assert _error_code(lambda: mlflow_client.get_model_version_by_alias("e", "nope")) == "INVALID_PARAMETER_VALUE"
    assert (
        _error_code(lambda: mlflow_client.set_registered_model_alias("e", "latest", "1")) == "INVALID_PARAMETER_VALUE"
    )
    assert _error_code(lambda: mlflow_client.create_registered_model("a/b")) == "INVALID_PARAMETER_VALUE"
    assert _error_code(lambda: mlflow_client.search_registered_models(filter_string="bogus = 1")) == (
        "INVALID_PARAMETER_VALUE"
    )
    assert _error_code(lambda: mlflow_client.create_model_version("e", "/tmp/local/model")) == "INVALID_PARAMETER_VALUE"


def test_version_still_loads_after_its_run_is_deleted_and_purged(tracking_uri, mlflow_client, iris, settings):
    from studio.cleanup import jobs
    from tracking.store import logged_models, runs

    X, y = iris
    experiment_id = mlflow.set_experiment("registry-purge").experiment_id
    model, run_id, info = _train_and_register(X, y, "durable", 300)
    # Also through the client's own register_model from the run, a second version.
    second = mlflow.register_model(f"runs:/{run_id}/model", "durable")
    assert second.version == "2"

    runs.delete_run(run_id=run_id)
    logged_models.delete_logged_model(model_id=info.model_id)
    # Purged the way an admin does, from the trash, by a purge job.
    job = jobs.create_job(items=[("run", run_id), ("logged_model", info.model_id)], enqueue=False)
    jobs.run_job(job.pk)
    assert jobs.summary(job.pk)["done"] == 2
    # Even the experiment's whole artifact folder is gone.
    shutil.rmtree(Path(settings.STUDIO_ARTIFACT_ROOT) / experiment_id, ignore_errors=True)
    assert _error_code(lambda: mlflow_client.get_run(run_id)) == "RESOURCE_DOES_NOT_EXIST"

    for uri in ("models:/durable/1", "models:/durable/2", "models:/durable/latest"):
        np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(X), model.predict(X))
