"""Studio's extension for deleting one artifact of a run: ``POST /api/2.0/studio/runs/delete-artifact``."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view, missing, request_user
from studio.auth.access import access, on
from studio.auth.permissions import MANAGE
from tracking.access import EXPERIMENT, run_field
from tracking.store import artifact_deletion


@access(on(EXPERIMENT, MANAGE, run_field()))
@api_view("POST")
def DeleteRunArtifactApi(request: HttpRequest, args: Args) -> dict:
    """``{"run_id", "path"[, "dry_run"]}`` → ``{"files_deleted", "bytes_deleted"}``; a dry run only counts them."""
    run_id = args.run_id()
    artifact_path = args.str("path")
    if artifact_path is None:
        raise missing("path")
    if args.bool("dry_run"):
        files, size = artifact_deletion.measure_run_artifact(run_id=run_id, path=artifact_path)
        return {"files_deleted": files, "bytes_deleted": size, "dry_run": True}
    files, size = artifact_deletion.delete_run_artifact(run_id=run_id, path=artifact_path, user=request_user(request))
    return {"files_deleted": files, "bytes_deleted": size}


studio_urlpatterns = [
    path("runs/delete-artifact", DeleteRunArtifactApi, name="run-delete-artifact"),
]
