"""Artifacts as files under a directory, ``var/artifacts`` by default."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from studio.errors import invalid, not_found
from tracking.artifacts.base import (
    CHUNK_SIZE,
    RESERVED_PREFIX,
    UPLOADS_DIR,
    ArtifactEntry,
    ArtifactStore,
    Readable,
    check_copy_paths,
    check_part_number,
    check_parts,
    copy_stream,
    file_path,
    is_reserved,
    safe_path,
)

_OCCUPIED = "Cannot copy to '{}': something is there already"


class _FileChunks:
    """Chunks of an open file; closing it closes the file even if iteration never started."""

    def __init__(self, handle: BinaryIO, start: int, length: int | None) -> None:
        self.handle = handle
        self.remaining = length
        handle.seek(start)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        size = CHUNK_SIZE if self.remaining is None else min(CHUNK_SIZE, self.remaining)
        chunk = self.handle.read(size) if size else b""
        if not chunk:
            self.close()
            raise StopIteration
        if self.remaining is not None:
            self.remaining -= len(chunk)
        return chunk

    def close(self) -> None:
        self.handle.close()


@contextlib.contextmanager
def _os_errors(path: str) -> Iterator[None]:
    # What the filesystem says about a client's path is the client's error, with MLflow's codes.
    try:
        yield
    except FileNotFoundError:
        raise not_found(f"No such artifact: '{path}'") from None
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
        raise invalid(f"Cannot write artifact '{path}': {exc.strerror}") from None


def _snapshot(source: Path, target: Path) -> int:
    """Hard-link a file, or copy it where linking fails; returns its size.

    A link is an immutable snapshot because this store never rewrites a file in place: writes rename a new file over
    the old name and deletes unlink, so the linked inode keeps its bytes.
    """
    try:
        os.link(source, target)
    except OSError:  # another file system (EXDEV), no link support (EPERM, ENOTSUP), too many links (EMLINK)
        shutil.copy2(source, target)
    return target.stat().st_size


def _publish(staging: Path, target: Path, target_path: str) -> None:
    """Move a finished copy into place, never over something that appeared there meanwhile."""
    try:
        if staging.is_dir():
            os.rename(staging, target)  # replaces at most an empty directory, which holds nothing to lose
        elif not _link_exclusively(staging, target):
            os.rename(staging, target)  # no hard links on this file system; the target was checked free just before
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
            raise invalid(_OCCUPIED.format(target_path)) from None
        raise


def _link_exclusively(staging: Path, target: Path) -> bool:
    """Give the staged file its final name; unlike rename, a link refuses an existing target. False: no links here."""
    try:
        os.link(staging, target)
    except FileExistsError:
        raise
    except OSError:
        return False
    staging.unlink()
    return True


def _topmost_missing(directory: Path, root: Path) -> Path | None:
    """The highest directory on the way from ``root`` down to ``directory`` that does not exist yet, if any."""
    missing = None
    while directory != root and not directory.exists():
        missing, directory = directory, directory.parent
    return missing


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _remove_empty_directories(directory: Path, topmost: Path | None) -> None:
    """Undo ``mkdir(parents=True)`` after a failure: remove the directories it made while they are still empty."""
    while topmost is not None and directory.is_relative_to(topmost):
        try:
            directory.rmdir()
        except OSError:  # not empty (written meanwhile), or never made
            return
        directory = directory.parent


class LocalArtifactStore(ArtifactStore):
    """Artifacts as files under a directory (``var/artifacts`` by default)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _scope(self, path: str) -> Path:
        """The folder a symlink under ``path`` must stay in: the owner's folder, the path's first two segments (a
        run's ``<experiment>/<run>``, a version's ``registry/<model>``). Access is judged on the owner, so a link
        into a neighbour's folder would show what the neighbour's permissions hide."""
        return self.root.joinpath(*path.split("/")[:2]) if path else self.root

    def _resolve(self, path: str) -> Path:
        target = self.root / path if path else self.root
        # A symlink inside the root must not lead out of its owner's folder (MLflow only keeps it in the root:
        # validate_path_within_directory).
        real = target.resolve()
        scope = self._scope(path)
        if real != scope and not real.is_relative_to(scope):
            raise invalid("Invalid path")
        return target

    def stat(self, path: str) -> ArtifactEntry | None:
        target = self._resolve(safe_path(path))
        try:
            info = target.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        if target.is_dir():
            return ArtifactEntry(target.name, True)
        return ArtifactEntry(target.name, False, info.st_size)

    def open(self, path: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        checked = safe_path(path)
        target = self._resolve(checked)
        with _os_errors(checked):
            # Opened here, not lazily, so that a missing file fails before a response has started.
            return _FileChunks(target.open("rb"), start, length)

    def _atomic_write(self, path: str, fill: Callable[[BinaryIO], int]) -> int:
        target = self._resolve(path)
        with _os_errors(path):
            target.parent.mkdir(parents=True, exist_ok=True)
            self._resolve(path)  # again: a parent created concurrently may be a symlink
            # Readers never see a partial file: write beside the target, then rename over it.
            temporary = target.parent / f"{RESERVED_PREFIX}tmp-{uuid.uuid4().hex}"
            try:
                with temporary.open("xb") as out:
                    written = fill(out)
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
        return written

    def write(self, path: str, stream: Readable) -> int:
        return self._atomic_write(file_path(path), lambda out: copy_stream(stream, out))

    def list(self, path: str) -> list[ArtifactEntry]:
        checked = safe_path(path)
        directory, scope = self._resolve(checked), self._scope(checked)
        if not directory.is_dir():
            return []
        entries = []
        with os.scandir(directory) as children:
            for child in children:
                if child.name.startswith(RESERVED_PREFIX):
                    continue
                try:
                    if child.is_symlink() and not Path(child.path).resolve().is_relative_to(scope):
                        continue  # never reveal what lies outside the owner's folder, not even a size
                    is_dir = child.is_dir()
                    entries.append(ArtifactEntry(child.name, is_dir, None if is_dir else child.stat().st_size))
                except FileNotFoundError:  # deleted meanwhile, or a dangling symlink
                    continue
        return sorted(entries, key=lambda entry: entry.name)

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        checked = safe_path(path)
        directory = self._resolve(checked)
        if directory.is_dir():
            real = directory.resolve()
            yield from self._walk_tree(real, "", {real}, self._scope(checked))

    def _walk_tree(self, directory: Path, prefix: str, ancestors: set[Path], scope: Path) -> Iterator[tuple[str, int]]:
        """The files under ``directory`` (a real path), named ``prefix`` + their path below it."""
        try:
            with os.scandir(directory) as scan:
                children = sorted(scan, key=lambda child: child.name)
        except (FileNotFoundError, NotADirectoryError):  # removed meanwhile
            return
        for child in children:
            if is_reserved(child.name):
                continue
            try:
                found = self._walk_entry(child, directory, ancestors, scope)
            except FileNotFoundError:  # deleted meanwhile, or a dangling symlink
                continue
            if isinstance(found, Path):
                if found in ancestors:  # back into a folder being walked, through a symlink above it
                    continue
                yield from self._walk_tree(found, f"{prefix}{child.name}/", ancestors | {found}, scope)
            elif found is not None:
                yield prefix + child.name, found

    def _walk_entry(self, child: os.DirEntry, directory: Path, ancestors: set[Path], scope: Path) -> Path | int | None:
        """What a walk makes of an entry: a directory to enter (its real path), a file's size, or None to skip."""
        if not child.is_symlink():
            if child.is_dir(follow_symlinks=False):
                return directory / child.name
            return child.stat(follow_symlinks=False).st_size if child.is_file(follow_symlinks=False) else None
        # A symlink is followed as list and open serve it, but never out of the owner's folder, into reserved entries
        # or round a cycle (as copies do).
        real = Path(child.path).resolve()
        if not self._followable(real, ancestors, scope):
            return None
        if real.is_dir():
            return real
        return real.stat().st_size if real.is_file() else None

    def delete(self, path: str) -> None:
        checked = file_path(path)
        target = self._resolve(checked)
        with _os_errors(checked):
            if target.is_symlink() or target.is_file():
                target.unlink(missing_ok=True)
            elif target.is_dir():
                shutil.rmtree(target)

    def copy(self, src: str, dst: str) -> tuple[int, int]:
        source_path, target_path = check_copy_paths(src, dst)
        source, target = self._resolve(source_path), self._resolve(target_path)
        if not source.exists():
            raise not_found(f"No such artifact: '{source_path}'")
        if target.exists() or target.is_symlink():
            raise invalid(_OCCUPIED.format(target_path))
        created = _topmost_missing(target.parent, self.root)
        # Built beside the target under a reserved name (hidden, skipped by copies), then moved into place.
        staging = target.parent / f"{RESERVED_PREFIX}copy-{uuid.uuid4().hex}"
        try:
            with _os_errors(target_path):
                target.parent.mkdir(parents=True, exist_ok=True)
                self._resolve(target_path)  # again: a parent created concurrently may be a symlink
            counts = self._copy_into(source.resolve(), staging, source_path, self._scope(source_path))
            _publish(staging, target, target_path)
        except BaseException:
            _remove(staging)
            _remove_empty_directories(target.parent, created)
            raise
        return counts

    def _copy_into(self, source: Path, staging: Path, source_path: str, scope: Path) -> tuple[int, int]:
        with _os_errors(source_path):
            if source.is_dir():
                staging.mkdir()
                files, size = self._copy_tree(source, staging, {source}, scope)
            else:
                files, size = 1, _snapshot(source, staging)
        if not files:
            raise not_found(f"No files under '{source_path}'")
        return files, size

    def _copy_tree(self, source: Path, target: Path, ancestors: set[Path], scope: Path) -> tuple[int, int]:
        """Files and bytes copied from the directory ``source`` (a real path) into the new directory ``target``."""
        files = size = 0
        with os.scandir(source) as children:
            for child in children:
                if is_reserved(child.name):
                    continue
                real = Path(child.path).resolve()
                if child.is_symlink() and not self._followable(real, ancestors, scope):
                    continue
                if real.is_dir():
                    (target / child.name).mkdir()
                    more_files, more_bytes = self._copy_tree(real, target / child.name, ancestors | {real}, scope)
                    files, size = files + more_files, size + more_bytes
                elif real.is_file():
                    files, size = files + 1, size + _snapshot(real, target / child.name)
        return files, size

    def _followable(self, real: Path, ancestors: set[Path], scope: Path) -> bool:
        # A symlink is copied as what it points to (as list and open serve it), unless that lies out of the owner's
        # folder, in Studio's reserved entries, or is a directory being copied (a cycle).
        if real in ancestors or not real.is_relative_to(scope):
            return False
        return not any(is_reserved(part) for part in real.relative_to(self.root).parts)

    def _staging(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id or ""):
            raise not_found(f"No multipart upload '{upload_id}'")
        return self.root / UPLOADS_DIR / upload_id

    def _owned_staging(self, path: str, upload_id: str) -> Path:
        staging = self._staging(upload_id)
        try:
            owner = (staging / "path").read_text(encoding="utf-8")
        except FileNotFoundError:
            raise not_found(f"No multipart upload '{upload_id}'") from None
        if owner != path:
            raise invalid(f"Multipart upload '{upload_id}' is not an upload to '{path}'")
        return staging

    def create_multipart(self, path: str) -> str:
        checked = file_path(path)
        self._resolve(checked)
        upload_id = uuid.uuid4().hex
        staging = self._staging(upload_id)
        staging.mkdir(parents=True)
        (staging / "path").write_text(checked, encoding="utf-8")
        return upload_id

    def upload_part(self, path: str, upload_id: str, part_number: int, stream: Readable) -> str:
        check_part_number(part_number)
        staging = self._owned_staging(file_path(path), upload_id)
        digest = hashlib.md5(usedforsecurity=False)
        temporary = staging / f"tmp-{uuid.uuid4().hex}"
        try:
            with temporary.open("xb") as out:
                copy_stream(stream, out, digest)
            # The ETag is in the file name, so a part and its ETag appear together, atomically.
            os.replace(temporary, staging / f"{part_number:05d}-{digest.hexdigest()}")
        finally:
            temporary.unlink(missing_ok=True)
        return f'"{digest.hexdigest()}"'

    def complete_multipart(self, path: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        checked = file_path(path)
        staging = self._owned_staging(checked, upload_id)
        files = []
        for number, etag in check_parts(parts):
            part = staging / f"{number:05d}-{etag.strip(chr(34))}"
            if not re.fullmatch(r'"?[0-9a-f]{32}"?', etag) or not part.is_file():
                raise invalid(f"Part {number} with ETag {etag} was not uploaded to '{upload_id}'")
            files.append(part)

        def concatenate(out: BinaryIO) -> int:
            written = 0
            for part in files:
                with part.open("rb") as source:
                    written += copy_stream(source, out)
            return written

        self._atomic_write(checked, concatenate)
        shutil.rmtree(staging, ignore_errors=True)

    def abort_multipart(self, path: str, upload_id: str) -> None:
        file_path(path)
        shutil.rmtree(self._staging(upload_id), ignore_errors=True)
