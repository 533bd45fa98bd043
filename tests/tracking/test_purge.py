"""Purging deleted runs and logged models: rows first, files after the commit; active ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.errors import StudioError
from tests.registry.conftest import upload
from tracking.models import LoggedModel, MetricSeries, Param, Run
from tracking.store import logged_models, purge, runs


def test_purge_run_removes_rows_and_files(api, run_id, settings, django_capture_on_commit_callbacks):
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "p", "value": "1"}],
            "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "step": 0}],
        },
    )
    info = api.get("runs/get", {"run_id": run_id})["run"]["info"]
    upload(info["artifact_uri"], {"a.txt": b"a", "d/b.txt": b"b"})
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    assert folder.is_dir()
    with pytest.raises(StudioError) as active:
        purge.purge_run(run_id=run_id)
    assert active.value.error_code == "INVALID_PARAMETER_VALUE"
    runs.delete_run(run_id=run_id)
    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_run(run_id=run_id)
    assert not Run.objects.filter(pk=run_id).exists()
    assert not Param.objects.filter(run_id=run_id).exists() and not MetricSeries.objects.filter(run_id=run_id).exists()
    assert not folder.exists()
    with pytest.raises(StudioError) as missing:
        purge.purge_run(run_id=run_id)
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_purge_logged_model(api, experiment_id, settings, django_capture_on_commit_callbacks):
    info = api.post("logged-models", {"experiment_id": experiment_id, "name": "m"})["model"]["info"]
    upload(info["artifact_uri"], {"MLmodel": b"x"})
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / info["artifact_uri"].removeprefix("mlflow-artifacts:/")
    with pytest.raises(StudioError):
        purge.purge_logged_model(model_id=info["model_id"])
    logged_models.delete_logged_model(model_id=info["model_id"])
    with django_capture_on_commit_callbacks(execute=True):
        purge.purge_logged_model(model_id=info["model_id"])
    assert not LoggedModel.objects.filter(pk=info["model_id"]).exists()
    assert not folder.exists()
