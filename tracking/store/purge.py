"""Purging: removing soft-deleted experiments, runs and logged models for good, database rows first, then files.

The rows go in a transaction and the files only once it has committed, so a failure never leaves a row pointing at
missing files (at worst, files without rows, which a purge job re-run deletes, since it keeps the folders it planned).
Files the model registry copied from a run or logged model are its own (``registry/``) and are never touched.
"""

from __future__ import annotations

import posixpath

from django.db import transaction

from studio.auth import permissions
from studio.cleanup.kinds import SkipItem
from studio.errors import StudioError, invalid, not_found
from tracking import artifacts
from tracking.models import Experiment, LifecycleStage, LoggedModel, Run
from tracking.store.common import experiment_artifact_location


def artifact_folder(artifact_uri: str) -> str | None:
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


def owned_folder(artifact_uri: str, owner_id: str) -> str | None:
    """The folder a purge of a run or logged model deletes: ``…/<id>`` around its ``…/<id>/artifacts`` root (so no
    empty folder is left behind), or the root itself when it is laid out otherwise."""
    root = artifact_folder(artifact_uri)
    if root is None:
        return None
    parent, leaf = posixpath.split(root)
    return parent if leaf == "artifacts" and posixpath.basename(parent) == owner_id else root


def experiment_folder(experiment: Experiment) -> str | None:
    """An experiment's own folder, deleted once its runs and models are gone: only Studio's default location (a
    location the user chose may hold other things) and only when no other experiment lies in it."""
    if experiment.artifact_location != experiment_artifact_location(experiment.pk):
        return None
    folder = artifact_folder(experiment.artifact_location)
    prefix = experiment.artifact_location.rstrip("/") + "/"
    shared = Experiment.objects.exclude(pk=experiment.pk).filter(artifact_location__startswith=prefix).exists()
    return None if shared else folder


def _locked_deleted(model: type[Run] | type[LoggedModel] | type[Experiment], pk: object) -> object | None:
    row = model.objects.select_for_update().filter(pk=pk).first()
    if row is not None and row.lifecycle_stage != LifecycleStage.DELETED:
        raise SkipItem(f"{model.__name__} {pk} is {row.lifecycle_stage}, no longer deleted")
    return row


def purge_run_rows(run_id: str) -> bool:
    """Delete a deleted run's rows (params, tags, metrics, inputs, links); False when it is gone already."""
    with transaction.atomic():
        run = _locked_deleted(Run, run_id)
        if run is None:
            return False
        run.delete()
    return True


def purge_logged_model_rows(model_id: str) -> bool:
    """Delete a deleted logged model's rows (tags, params, metrics); False when it is gone already."""
    with transaction.atomic():
        model = _locked_deleted(LoggedModel, model_id)
        if model is None:
            return False
        model.delete()
    return True


def purge_experiment_rows(experiment_id: str) -> bool:
    """Delete a deleted experiment's rows (with its logged models, which MLflow's delete leaves active) once its
    runs are purged; False when it is gone already. An active run inside it (restored on its own) keeps it."""
    with transaction.atomic():
        experiment = _locked_deleted(Experiment, int(experiment_id))
        if experiment is None:
            return False
        if Run.objects.filter(experiment=experiment).exclude(lifecycle_stage=LifecycleStage.DELETED).exists():
            raise StudioError(
                f"Experiment {experiment_id} still holds active runs; delete them or restore the experiment.",
                "RESOURCE_CONFLICT",
            )
        experiment.delete()
        # A later experiment may get the same id (SQLite reuses the highest): it must not inherit these grants.
        permissions.forget("experiment", [int(experiment_id)])
    return True


def _purge_now(purge_rows: object, pk: str, folder: str | None, missing: str) -> None:
    # Within the caller's transaction: the files go only if everything around the purge commits.
    with transaction.atomic():
        try:
            if not purge_rows(pk):
                raise not_found(missing)
        except SkipItem as skipped:
            raise invalid(str(skipped)) from None
        if folder:
            transaction.on_commit(lambda: artifacts.delete_artifacts(folder))


def purge_run(*, run_id: str) -> None:
    """Remove a deleted run at once: its rows, then (after the commit) its artifact files."""
    run = Run.objects.filter(pk=run_id).first()
    if run is not None and run.lifecycle_stage != LifecycleStage.DELETED:
        raise invalid(f"Run {run_id} must be deleted before it is purged; it is {run.lifecycle_stage}.")
    folder = owned_folder(run.artifact_uri, run_id) if run else None
    _purge_now(purge_run_rows, run_id, folder, f"Run with id={run_id} not found")


def purge_logged_model(*, model_id: str) -> None:
    """Remove a deleted logged model at once: its rows, then (after the commit) its files."""
    model = LoggedModel.objects.filter(pk=model_id).first()
    if model is not None and model.lifecycle_stage != LifecycleStage.DELETED:
        raise invalid(f"Logged model {model_id} must be deleted before it is purged; it is {model.lifecycle_stage}.")
    folder = owned_folder(model.artifact_uri, model_id) if model else None
    _purge_now(purge_logged_model_rows, model_id, folder, f"Logged model with ID '{model_id}' not found.")
