"""Purging deleted runs and logged models: rows first, files after the commit; active ones are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.test import Client

from studio.errors import StudioError
from tracking.models import (
    DatasetInput,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelTag,
    MetricBucket,
    MetricPoint,
    MetricSeries,
    Param,
    Run,
    RunModelLink,
    RunTag,
)
from tracking.store import logged_models, purge, runs


def upload(artifact_uri: str, files: dict[str, bytes]) -> Path:
    """PUT files under a proxied artifact root as the client does; returns the root's folder on disk."""
    client = Client()
    path = artifact_uri.removeprefix("mlflow-artifacts:/")
    for name, data in files.items():
        response = client.put(f"/api/2.0/mlflow-artifacts/artifacts/{path}/{name}", data, "application/octet-stream")
        assert response.status_code == 200, response.content
    return Path(settings.STUDIO_ARTIFACT_ROOT) / path


def error_code(call: Any) -> str:
    with pytest.raises(StudioError) as raised:
        call()
    return raised.value.error_code


@pytest.fixture
def full_run(api, experiment_id: str, run_id: str) -> dict:
    """A run with params, tags, metrics, a dataset, a model link and two artifact files."""
    model_id = api.post("logged-models", {"experiment_id": experiment_id, "name": "m"})["model"]["info"]["model_id"]
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "p", "value": "1"}],
            "tags": [{"key": "t", "value": "x"}],
            "metrics": [
                {"key": "loss", "value": v, "timestamp": 1, "step": s, "model_id": model_id}
                for s, v in enumerate([3.0, 2.0, 1.0])
            ],
        },
    )
    dataset = {"name": "iris", "digest": "abc", "source_type": "local", "source": "{}"}
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"dataset": dataset}]})
    api.post("runs/outputs", {"run_id": run_id, "models": [{"model_id": model_id, "step": 0}]})
    info = api.get("runs/get", {"run_id": run_id})["run"]["info"]
    folder = upload(info["artifact_uri"], {"a.txt": b"a", "d/b.txt": b"b"})
    return {"run_id": run_id, "folder": folder, "model_id": model_id}


def test_purge_run_removes_its_rows_and_then_its_files(full_run, django_capture_on_commit_callbacks):
    run_id, folder = full_run["run_id"], full_run["folder"]
    series = list(MetricSeries.objects.filter(run_id=run_id).values_list("pk", flat=True))
    assert MetricPoint.objects.filter(series__in=series).count() == 3
    assert MetricBucket.objects.filter(series__in=series).exists()
    runs.delete_run(run_id=run_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        purge.purge_run(run_id=run_id)
    assert not Run.objects.filter(pk=run_id).exists()
    for table in (Param, RunTag, MetricSeries, DatasetInput, RunModelLink):
        assert not table.objects.filter(run_id=run_id).exists(), table
    assert not MetricPoint.objects.filter(series__in=series).exists()
    assert not MetricBucket.objects.filter(series__in=series).exists()
    assert (folder / "a.txt").exists(), "the files wait for the commit"
    assert len(callbacks) == 1
    callbacks[0]()
    assert not folder.exists()
    assert folder.parent.parent.is_dir(), "the experiment's folder stays"
    assert LoggedModel.objects.filter(pk=full_run["model_id"]).exists(), "a model outlives the run it came from"


def test_purge_run_refuses_an_active_run_and_keeps_everything(full_run, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(StudioError) as raised:
        purge.purge_run(run_id=full_run["run_id"])
    assert raised.value.error_code == "INVALID_PARAMETER_VALUE"
    assert raised.value.message == f"Run {full_run['run_id']} must be deleted before it is purged; it is active."
    assert Param.objects.filter(run_id=full_run["run_id"]).exists()
    assert (full_run["folder"] / "d/b.txt").read_bytes() == b"b"


def test_purge_run_unknown_or_already_purged_is_not_found(full_run, django_capture_on_commit_callbacks):
    assert error_code(lambda: purge.purge_run(run_id="0" * 32)) == "RESOURCE_DOES_NOT_EXIST"
    runs.delete_run(run_id=full_run["run_id"])
    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_run(run_id=full_run["run_id"])
    assert error_code(lambda: purge.purge_run(run_id=full_run["run_id"])) == "RESOURCE_DOES_NOT_EXIST"


def test_purge_rolled_back_keeps_the_files(full_run, django_capture_on_commit_callbacks):
    runs.delete_run(run_id=full_run["run_id"])
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012
        purge.purge_run(run_id=full_run["run_id"])
        raise RuntimeError("the caller's transaction fails after the purge")
    assert Run.objects.filter(pk=full_run["run_id"]).exists()
    assert (full_run["folder"] / "a.txt").read_bytes() == b"a"


def test_purge_run_skips_files_studio_does_not_manage(api, django_capture_on_commit_callbacks):
    experiment_id = api.post("experiments/create", {"name": "ext", "artifact_location": "s3://elsewhere/x"})
    run_id = api.post("runs/create", {"experiment_id": experiment_id["experiment_id"]})["run"]["info"]["run_id"]
    runs.delete_run(run_id=run_id)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        purge.purge_run(run_id=run_id)
    assert not Run.objects.filter(pk=run_id).exists()
    assert callbacks == []


def test_purge_run_never_deletes_in_the_registry_folder(api, django_capture_on_commit_callbacks):
    location = "mlflow-artifacts:/registry/7"
    experiment_id = api.post("experiments/create", {"name": "odd", "artifact_location": location})["experiment_id"]
    run = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    folder.mkdir(parents=True)
    (folder / "f.txt").write_bytes(b"registry's")
    runs.delete_run(run_id=run["run_id"])
    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_run(run_id=run["run_id"])
    assert (folder / "f.txt").read_bytes() == b"registry's"


def test_purge_logged_model_removes_its_rows_and_then_its_files(full_run, api, django_capture_on_commit_callbacks):
    model_id = full_run["model_id"]
    logged_models.log_logged_model_params(model_id=model_id, params=[("lr", "0.1")])
    logged_models.set_logged_model_tags(model_id=model_id, tags=[("k", "v")])
    info = logged_models.get_logged_model(model_id)
    folder = upload(info.artifact_uri, {"MLmodel": b"flavors", "data/w.bin": b"w"})
    assert LoggedModelMetric.objects.filter(model_id=model_id).count() == 3
    assert error_code(lambda: purge.purge_logged_model(model_id=model_id)) == "INVALID_PARAMETER_VALUE"
    assert folder.is_dir()
    logged_models.delete_logged_model(model_id=model_id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        purge.purge_logged_model(model_id=model_id)
    assert not LoggedModel.objects.filter(pk=model_id).exists()
    for table in (LoggedModelParam, LoggedModelTag, LoggedModelMetric):
        assert not table.objects.filter(model_id=model_id).exists(), table
    assert (folder / "MLmodel").exists(), "the files wait for the commit"
    callbacks[0]()
    assert not folder.exists()
    assert (full_run["folder"] / "a.txt").read_bytes() == b"a", "the run's files are not the model's"
    assert Run.objects.filter(pk=full_run["run_id"]).exists()
    assert error_code(lambda: purge.purge_logged_model(model_id=model_id)) == "RESOURCE_DOES_NOT_EXIST"


def test_purge_logged_model_unknown_is_not_found(db):
    assert error_code(lambda: purge.purge_logged_model(model_id="m-" + "0" * 32)) == "RESOURCE_DOES_NOT_EXIST"
