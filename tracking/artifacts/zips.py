"""Folder zips, written while they are sent: zipfile writes into a pipe that the response empties chunk by chunk,
so neither the archive nor any file in it is ever whole in memory."""

from __future__ import annotations

import logging
import posixpath
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime

from studio.errors import StudioError, invalid
from tracking.artifacts import ArtifactStore, get_artifact_store, safe_path
from tracking.artifacts.browse import extension, stat, store_path

log = logging.getLogger(__name__)

# Already compressed: stored as they are in a zip, where deflating again would cost CPU and save nothing.
_COMPRESSED = frozenset(
    {
        *("png", "jpg", "jpeg", "gif", "webp", "avif", "mp3", "ogg", "oga", "opus", "m4a", "aac", "weba", "flac"),
        *("mp4", "m4v", "webm", "ogv", "mov", "zip", "gz", "tgz", "bz2", "xz", "zst", "7z", "pdf", "parquet", "npz"),
    }
)


class _Pipe:
    """A write-only file that keeps what was written until taken: zipfile writes into it, the response reads it.

    It has no ``tell``/``seek``, so zipfile writes each entry's sizes in a data descriptor after its bytes instead of
    seeking back, which is what lets the archive go out while it is being built.
    """

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: :meth:`take` hands the bytes on."""

    def take(self) -> bytes:
        """Everything written since the last call."""
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def _walk(store: ArtifactStore, folder: str, prefix: str) -> Iterator[tuple[str, str, int]]:
    """``(store path, name in the zip, size)`` of every file under a store folder, depth first, by name."""
    for entry in store.list(folder):
        child = posixpath.join(folder, entry.name)
        if entry.is_dir:
            yield from _walk(store, child, f"{prefix}{entry.name}/")
        else:
            yield child, prefix + entry.name, entry.size or 0


def zip_name(*, path: str, root_name: str) -> str:
    """The file name of a folder's zip: the folder's name, or ``root_name`` (slashes made dashes) for the root."""
    name = posixpath.basename(safe_path(path)) or root_name.replace("/", "-").replace("\\", "-")
    return f"{name}.zip"


def zip_folder(*, root: str, path: str, root_name: str) -> Iterator[bytes]:
    """A zip of the folder at ``path`` under ``root`` as chunks made while it is read (checks come first: a missing
    folder is a 404 and a file a 400 before any byte). Entries sit in one folder named like the zip."""
    store = get_artifact_store()
    entry = stat(root=root, path=path, store=store)
    if not entry.is_dir:
        raise invalid(f"'{entry.path}' is a file, not a folder: download it as it is")
    folder = posixpath.splitext(zip_name(path=entry.path, root_name=root_name))[0]
    return _zip_chunks(store, store_path(root, entry.path), folder)


def _zip_chunks(store: ArtifactStore, folder: str, top: str) -> Iterator[bytes]:
    pipe = _Pipe()
    stamp = datetime.now(UTC).timetuple()[:6]
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # type: ignore[arg-type]
        for source, name, size in _walk(store, folder, f"{top}/"):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if extension(name) in _COMPRESSED else zipfile.ZIP_DEFLATED
            info.file_size = size  # lets zipfile choose ZIP64 for files over 2 GiB up front
            try:
                chunks = store.open(source)
            except StudioError:  # deleted since the listing: the zip has what is there
                log.info("Skipped %s in a zip: gone since the listing", source)
                continue
            try:
                with archive.open(info, "w") as out:
                    for chunk in chunks:
                        out.write(chunk)
                        if data := pipe.take():
                            yield data
            finally:
                close = getattr(chunks, "close", None)
                if close:
                    close()
            if data := pipe.take():
                yield data
    yield pipe.take()
