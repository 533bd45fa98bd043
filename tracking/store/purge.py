"""Purging: removing soft-deleted runs and logged models for good, database rows first and then their files.

The rows go in a transaction and the files only once it has committed, so a failure never leaves a row pointing at
missing files (at worst, files without rows, which a later purge of the store can sweep). Files the model registry
copied from a run or logged model are its own (``registry/``) and are not touched.
"""

from __future__ import annotations

from django.db import transaction

from studio.errors import StudioError, invalid, not_found
from tracking import artifacts
from tracking.models import LifecycleStage, LoggedModel, Run


def _artifact_folder(artifact_uri: str) -> str | None:
    """The store path behind a proxied artifact root; None for a location Studio does not manage."""
    try:
        folder = artifacts.proxy_path(artifact_uri)
    except StudioError:
        return None
    # An experiment created with artifact_location "mlflow-artifacts:/registry/..." puts its runs' URIs there; what
    # lies in that folder is the registry's to delete, never a purge's.
    if not folder or artifacts.in_registry_root(folder):
        return None
    return folder


def _delete_after_commit(folder: str | None) -> None:
    if folder:
        transaction.on_commit(lambda: artifacts.delete_artifacts(folder))


def purge_run(*, run_id: str) -> None:
    """Remove a deleted run: its rows (params, tags, metrics, inputs, links) and then its artifact files."""
    with transaction.atomic():
        run = Run.objects.select_for_update().filter(pk=run_id).first()
        if run is None:
            raise not_found(f"Run with id={run_id} not found")
        if run.lifecycle_stage != LifecycleStage.DELETED:
            raise invalid(f"Run {run_id} must be deleted before it is purged; it is {run.lifecycle_stage}.")
        run.delete()
        _delete_after_commit(_artifact_folder(run.artifact_uri))


def purge_logged_model(*, model_id: str) -> None:
    """Remove a deleted logged model: its rows (tags, params, metrics) and then its files."""
    with transaction.atomic():
        model = LoggedModel.objects.select_for_update().filter(pk=model_id).first()
        if model is None:
            raise not_found(f"Logged model with ID '{model_id}' not found.")
        if model.lifecycle_stage != LifecycleStage.DELETED:
            raise invalid(
                f"Logged model {model_id} must be deleted before it is purged; it is {model.lifecycle_stage}."
            )
        model.delete()
        _delete_after_commit(_artifact_folder(model.artifact_uri))
