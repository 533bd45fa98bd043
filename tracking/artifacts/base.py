"""What both artifact backends share: path checks, the store interface, and stream helpers."""

from __future__ import annotations

import re
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO, Protocol

from studio.errors import StudioError, invalid, not_found

CHUNK_SIZE = 1024 * 1024
MAX_PARTS = 10_000  # S3's limit, applied to both backends so that they behave alike
# Names starting with this are Studio's own (partial writes, multipart staging): hidden and refused as paths.
RESERVED_PREFIX = ".studio-"
UPLOADS_DIR = RESERVED_PREFIX + "uploads"
# The top-level folder where the model registry keeps its copies of version files: read-only through the proxy.
REGISTRY_ROOT = "registry"
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


class Readable(Protocol):
    """What the store reads bodies from: a request, a file, an upload part."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class ArtifactEntry:
    """A file or directory: ``name`` is relative to the listed directory (or the run root), ``size`` is for files."""

    name: str
    is_dir: bool
    size: int | None = None


def _fully_decoded(path: str) -> str:
    # MLflow decodes until stable so that %252e%252e cannot smuggle ".." past a single unquote.
    for _ in range(10):
        decoded = urllib.parse.unquote(path)
        if decoded == path:
            return path
        path = decoded
    raise invalid("Invalid path")


def safe_path(path: str) -> str:
    """A client-supplied path as a normalized relative POSIX path ("" is the root); refuses traversal (400)."""
    for candidate in (path, _fully_decoded(path)):
        if (
            "\\" in candidate
            or "#" in candidate
            or _CONTROL_CHARS.search(candidate)
            or ".." in candidate.split("/")
            or PurePosixPath(candidate).is_absolute()
            or PureWindowsPath(candidate).is_absolute()
        ):
            raise invalid("Invalid path")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if any(part.startswith(RESERVED_PREFIX) for part in parts):
        raise invalid("Invalid path")
    return "/".join(parts)


def file_path(path: str) -> str:
    """A path that must name a file (writes, deletes): never the root."""
    checked = safe_path(path)
    if not checked:
        raise invalid("Invalid path")
    return checked


def proxy_path(artifact_uri: str) -> str:
    """The store path of a proxied URI: ``mlflow-artifacts:/<path>`` (or ``mlflow-artifacts://host/<path>``)."""
    parsed = urllib.parse.urlparse(artifact_uri)
    if parsed.scheme != "mlflow-artifacts":
        raise invalid(f"Studio serves proxied artifacts (mlflow-artifacts:/...) only, not {artifact_uri!r}")
    return safe_path(parsed.path.lstrip("/"))


def in_registry_root(path: str) -> bool:
    """Whether a path lies in the registry's folder, however it is spelled (``./registry``, ``Registry``, ...)."""
    checked = safe_path(path)
    # The decoded spelling too: "registry%2Fx" is one file name to the store, but no layer that decodes once more (a
    # reverse proxy, a future backend) may land it in the folder. Case is folded for case-insensitive file systems
    # (macOS), where "Registry/x" is the same folder.
    for candidate in (checked, _fully_decoded(checked)):
        first = next((part for part in candidate.split("/") if part not in ("", ".")), "")
        if first.casefold() == REGISTRY_ROOT:
            return True
    return False


def check_writable(path: str) -> str:
    """A path a client may write or delete through the proxy: anything but the registry's copies (403)."""
    checked = safe_path(path)
    if in_registry_root(checked):
        raise StudioError(
            f"'{checked}' is read-only: files of registered model versions are written by the model registry only",
            "PERMISSION_DENIED",
        )
    return checked


def check_copy_paths(src: str, dst: str) -> tuple[str, str]:
    """The checked ``(src, dst)`` of a copy: ``src`` is not the root and ``dst`` is neither the root nor inside it."""
    source, target = safe_path(src), file_path(dst)
    if not source:
        raise invalid("Cannot copy the whole artifact root")
    if target == source or target.startswith(source + "/"):
        raise invalid(f"Cannot copy '{source}' into itself ('{target}')")
    return source, target


def is_reserved(name: str) -> bool:
    """Studio's own entries (temporary files, staging): never listed, copied or served."""
    return name.startswith(RESERVED_PREFIX)


def check_parts(parts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The ``(part_number, etag)`` list of a completion, in part order; refuses an empty list and duplicates."""
    numbers = [number for number, _ in parts]
    if not parts or len(set(numbers)) != len(numbers) or not all(1 <= n <= MAX_PARTS for n in numbers):
        raise invalid(f"parts must be distinct part numbers between 1 and {MAX_PARTS}")
    return sorted(parts)


def check_part_number(part_number: int) -> None:
    """Part numbers run from 1 to 10,000, as on S3."""
    if not 1 <= part_number <= MAX_PARTS:
        raise invalid(f"part_number must be between 1 and {MAX_PARTS}")


def read_full(stream: Readable, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the stream."""
    chunks, remaining = [], size
    while remaining and (chunk := stream.read(min(remaining, CHUNK_SIZE))):
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def copy_stream(stream: Readable, out: BinaryIO, digest: Any = None) -> int:
    """Copy chunk by chunk, feeding ``digest`` if given; returns the bytes copied."""
    written = 0
    while chunk := stream.read(CHUNK_SIZE):
        out.write(chunk)
        if digest is not None:
            digest.update(chunk)
        written += len(chunk)
    return written


class ArtifactStore(ABC):
    """Artifacts under one root. Paths are relative POSIX paths; each method checks the one it is given."""

    @abstractmethod
    def stat(self, path: str) -> ArtifactEntry | None:
        """The file or directory at ``path``, or None when there is nothing."""

    @abstractmethod
    def open(self, path: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """The bytes of a file (``length`` bytes from ``start``) as chunks; close the iterator when done."""

    @abstractmethod
    def write(self, path: str, stream: Readable) -> int:
        """Store a file from a stream read in chunks, replacing any previous one; returns the bytes written."""

    @abstractmethod
    def list(self, path: str) -> list[ArtifactEntry]:
        """The children of a directory, sorted by name; empty for a file or a missing path."""

    @abstractmethod
    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        """Every file under the directory ``path``: ``(path relative to it, size)``, reserved entries skipped.

        Nothing for a file or a missing path. Files written or deleted during the walk may or may not appear.
        """

    @abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a directory tree; a missing path is not an error (as in MLflow)."""

    @abstractmethod
    def create_multipart(self, path: str) -> str:
        """Start a multipart upload to ``path``; returns its upload id."""

    @abstractmethod
    def upload_part(self, path: str, upload_id: str, part_number: int, stream: Readable) -> str:
        """Store one part of a multipart upload; returns its ETag."""

    @abstractmethod
    def complete_multipart(self, path: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        """Assemble the listed ``(part_number, etag)`` parts, in part order, into the file at ``path``."""

    @abstractmethod
    def abort_multipart(self, path: str, upload_id: str) -> None:
        """Discard a multipart upload and its parts; an unknown upload is not an error."""

    @abstractmethod
    def copy(self, src: str, dst: str) -> tuple[int, int]:
        """Copy the file or directory tree at ``src`` to ``dst``, which must hold nothing yet; returns (files, bytes).

        Reserved entries are skipped. All or nothing: a failure leaves no partial copy. A missing or empty ``src`` is
        RESOURCE_DOES_NOT_EXIST; an occupied ``dst``, the root, or a ``dst`` inside ``src`` INVALID_PARAMETER_VALUE.
        """

    def exists(self, path: str) -> bool:
        """Whether a file or directory is at ``path``."""
        return self.stat(path) is not None

    def size(self, path: str) -> int:
        """The size of the file at ``path``: 404 when missing, 400 for a directory (as MLflow's download)."""
        entry = self.stat(path)
        if entry is None:
            raise not_found(f"No such artifact: '{safe_path(path)}'")
        if entry.is_dir or entry.size is None:
            raise invalid(f"Artifact path refers to a directory, not a file: '{safe_path(path)}'")
        return entry.size
