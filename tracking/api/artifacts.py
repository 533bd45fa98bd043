"""The tracking API's artifact listing (``GET artifacts/list``); the bytes themselves go through the proxy."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view
from studio.auth.access import access, on
from studio.auth.permissions import READ
from tracking import artifacts
from tracking.access import EXPERIMENT, run_field
from tracking.api.artifact_proxy import entry_to_wire
from tracking.store import runs as runs_store


@access(on(EXPERIMENT, READ, run_field()))
@api_view("GET")
def ListArtifactsApi(request: HttpRequest, args: Args) -> dict:
    """One directory level of a run's artifacts, named relative to the run's artifact root (MLflow's FileInfo)."""
    run = runs_store.get_run(args.run_id())
    entries = artifacts.list_artifacts(artifact_uri=run.artifact_uri, path=args.str("path", default=""))
    payload: dict = {"root_uri": run.artifact_uri}
    if entries:
        payload["files"] = [entry_to_wire(entry) for entry in entries]
    return payload


urlpatterns = [
    path("artifacts/list", ListArtifactsApi),
]
