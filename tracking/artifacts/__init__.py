"""The artifact store: one interface over local disk and S3-compatible storage, behind MLflow's artifact proxy.

An artifact is addressed by a relative POSIX path under ``STUDIO_ARTIFACT_ROOT``: ``mlflow-artifacts:/<path>`` is
``<root>/<path>``. Every public method checks its path with :func:`safe_path` (and, on disk, checks that symlinks do
not lead out of the owner's folder, the path's first two segments), so no caller can forget to. Bodies move in
bounded chunks, never whole in memory.
"""

from __future__ import annotations

import posixpath
import urllib.parse
from dataclasses import replace

from django.conf import settings

from tracking.artifacts.base import (
    MAX_PARTS,
    REGISTRY_ROOT,
    RESERVED_PREFIX,
    ArtifactEntry,
    ArtifactStore,
    Readable,
    check_part_number,
    check_writable,
    in_registry_root,
    proxy_path,
    safe_path,
)
from tracking.artifacts.local import LocalArtifactStore
from tracking.artifacts.s3 import S3ArtifactStore

__all__ = [
    "MAX_PARTS",
    "REGISTRY_ROOT",
    "RESERVED_PREFIX",
    "ArtifactEntry",
    "ArtifactStore",
    "LocalArtifactStore",
    "Readable",
    "S3ArtifactStore",
    "check_part_number",
    "check_writable",
    "copy_artifacts",
    "delete_artifacts",
    "get_artifact_store",
    "in_registry_root",
    "list_artifacts",
    "multipart_uploads_enabled",
    "proxy_path",
    "safe_path",
]


def multipart_uploads_enabled() -> bool:
    """Whether the proxy offers multipart uploads (``STUDIO_MULTIPART_UPLOADS``, off by default like MLflow)."""
    return bool(getattr(settings, "STUDIO_MULTIPART_UPLOADS", False))


def get_artifact_store() -> ArtifactStore:
    """The store for ``STUDIO_ARTIFACT_ROOT`` as configured now: ``s3://bucket/prefix`` or a directory."""
    root = str(settings.STUDIO_ARTIFACT_ROOT)
    if root.startswith("s3://"):
        return S3ArtifactStore(root, endpoint_url=getattr(settings, "STUDIO_S3_ENDPOINT_URL", None))
    if root.startswith("file://"):
        root = urllib.parse.unquote(urllib.parse.urlparse(root).path)
    return LocalArtifactStore(root)


def list_artifacts(*, artifact_uri: str, path: str = "") -> list[ArtifactEntry]:
    """The children of ``path`` under a run's (or model's) proxied artifact root, named relative to that root."""
    root = proxy_path(artifact_uri)
    relative = safe_path(path)
    entries = get_artifact_store().list(posixpath.join(root, relative) if relative else root)
    return [replace(entry, name=posixpath.join(relative, entry.name) if relative else entry.name) for entry in entries]


def copy_artifacts(*, src: str, dst: str) -> tuple[int, int]:
    """Copy the file or tree at store path ``src`` to the empty store path ``dst``: (files, bytes), all or nothing."""
    return get_artifact_store().copy(src, dst)


def delete_artifacts(path: str) -> None:
    """Delete the file or tree at a store path; nothing there is fine."""
    get_artifact_store().delete(path)
