"""Registry fixtures: models with files to register, uploaded through the artifact proxy as the client does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from tests.conftest import ApiClient

PROXY = "/api/2.0/mlflow-artifacts/artifacts/"
MODEL_FILES = {"MLmodel": b"flavors: {}\n", "model.pkl": b"\x80\x04weights", "sub/conda.yaml": b"name: m\n"}


def upload(root_uri: str, files: dict[str, bytes]) -> None:
    """PUT each file under a proxied artifact root (``mlflow-artifacts:/...``)."""
    client = Client()
    root = root_uri.removeprefix("mlflow-artifacts:/")
    for name, data in files.items():
        response = client.put(f"{PROXY}{root}/{name}", data, content_type="application/octet-stream")
        assert response.status_code == 200, response.content


def download(uri: str, name: str) -> bytes:
    response = Client().get(f"{PROXY}{uri.removeprefix('mlflow-artifacts:/')}/{name}")
    assert response.status_code == 200, (uri, name, response.status_code)
    return b"".join(response.streaming_content)


@pytest.fixture
def logged_model(api: ApiClient, experiment_id: str, run_id: str) -> dict:
    """A READY logged model of ``run_id`` with a few files, as ``log_model`` leaves it."""
    info = api.post("logged-models", {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id})
    info = info["model"]["info"]
    upload(info["artifact_uri"], MODEL_FILES)
    api.call("PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
    return info


@pytest.fixture
def register(api: ApiClient, logged_model: dict) -> Callable[..., dict]:
    """Register a version of ``name`` (created when missing) from the logged model, or from ``source``."""

    def register(name: str = "m", source: str | None = None, **fields: object) -> dict:
        api.call("POST", "registered-models/create", {"name": name}, status=None)
        payload = {"name": name, "source": source or f"models:/{logged_model['model_id']}", **fields}
        if source is None:
            payload.setdefault("model_id", logged_model["model_id"])
        return api.post("model-versions/create", payload)["model_version"]

    return register
