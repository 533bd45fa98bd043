"""Deleting one artifact of a run, a file or a folder: measured first, removed from the store, the run's storage usage
marked stale, and the deletion written to the audit log.

Active and deleted runs alike: an admin may free the space of a deleted run's big artifact before the run is purged,
and a deleted run's page still shows its artifacts. Model versions registered from the run are not affected: the
registry keeps its own copy of their files (``registry/``), which this never reaches.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from studio import audit
from studio.errors import StudioError, invalid, not_found
from studio.models import AuditEntry
from tracking.artifacts import ArtifactStore, check_writable, get_artifact_store, proxy_path, safe_path
from tracking.models import Run
from tracking.store import runs, storage


@dataclass(frozen=True)
class _Target:
    """An artifact of a run: its path relative to the run's root and its store path."""

    run: Run
    path: str
    store_path: str


def _run_root(run: Run) -> str:
    """The store path of the run's artifact root; refused when Studio's store does not hold the run's artifacts."""
    try:
        root = proxy_path(run.artifact_uri)
    except StudioError:
        root = ""
    if not root:
        raise invalid(
            f"The artifacts of run {run.run_uuid} are not in Studio's store ({run.artifact_uri}): "
            "delete them where they are kept"
        )
    return root


def _locate(run_id: str, path: str) -> _Target:
    run = runs.get_run(run_id)
    relative = safe_path(path)
    if not relative:
        raise invalid("Cannot delete all the artifacts of a run at once: delete the run instead")
    # A run root inside the registry's folder exists only through an odd artifact location; what lies there is the
    # registry's, refused as the proxy refuses it (403).
    store_path = check_writable(posixpath.join(_run_root(run), relative))
    return _Target(run, relative, store_path)


def _measure(store: ArtifactStore, target: _Target) -> tuple[int, int]:
    """(files, bytes) at the target; 404 when nothing is there."""
    entry = store.stat(target.store_path)
    if entry is None:
        raise not_found(f"No such artifact of run {target.run.run_uuid}: '{target.path}'")
    if not entry.is_dir:
        return 1, entry.size or 0
    files = size = 0
    for _, file_size in store.walk(target.store_path):
        files, size = files + 1, size + file_size
    return files, size


def measure_run_artifact(*, run_id: str, path: str) -> tuple[int, int]:
    """What deleting this artifact file or folder of a run would remove, as (files, bytes); nothing is deleted."""
    return _measure(get_artifact_store(), _locate(run_id, path))


def delete_run_artifact(*, run_id: str, path: str, user: str = "") -> tuple[int, int]:
    """Delete one artifact file or folder of a run (active or deleted) and audit it: (files, bytes) removed."""
    target = _locate(run_id, path)
    store = get_artifact_store()
    files, size = _measure(store, target)
    try:
        store.delete(target.store_path)
    finally:
        storage.record_change(target.store_path)  # a delete that failed halfway changed the usage too
    audit.record(
        action=AuditEntry.Action.DELETE_ARTIFACT,
        user=user,
        kind="artifact",
        object_id=target.run.run_uuid,
        name=target.path,
        bytes=size,
        files=files,
        detail={"run_id": target.run.run_uuid, "path": target.path, "experiment_id": str(target.run.experiment_id)},
    )
    return files, size
