"""Artifacts as objects under ``s3://bucket/prefix``, on AWS or any S3-compatible server (MinIO, Ceph, moto)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import posixpath
import tempfile
import urllib.parse
from collections.abc import Iterator
from typing import Any

from studio.errors import StudioError, invalid, not_found
from tracking.artifacts.base import (
    CHUNK_SIZE,
    RESERVED_PREFIX,
    ArtifactEntry,
    ArtifactStore,
    Readable,
    check_copy_paths,
    check_part_number,
    check_parts,
    copy_stream,
    file_path,
    is_reserved,
    read_full,
    safe_path,
)

log = logging.getLogger(__name__)
# Plain uploads to S3 go up in parts of this size: one part in memory per upload, objects up to 80 GB.
S3_PART_SIZE = 8 * 1024 * 1024


class _BodyChunks:
    """Chunks of an S3 object body; closing it releases the connection."""

    def __init__(self, body: Any) -> None:
        self.body = body
        self.chunks = body.iter_chunks(CHUNK_SIZE)

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self.chunks)

    def close(self) -> None:
        self.body.close()


_AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_PROFILE")


@functools.lru_cache(maxsize=8)
def _s3_client(endpoint_url: str | None, aws_env: tuple[str | None, ...]) -> Any:
    # Creating a client costs tens of milliseconds: one per endpoint and credentials, shared (clients are
    # thread-safe). aws_env is only part of the cache key; boto3 reads the variables itself.
    import boto3
    from botocore.config import Config

    # S3-compatible servers (MinIO, Ceph, moto) are addressed by host:port, where bucket subdomains do not resolve.
    config = Config(s3={"addressing_style": "path" if endpoint_url else "auto"}, retries={"mode": "standard"})
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


@contextlib.contextmanager
def _client_errors(path: str) -> Iterator[None]:
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404", "NotFound"}:
            raise not_found(f"No such artifact: '{path}'") from None
        if code == "NoSuchUpload":
            raise not_found(f"No multipart upload for '{path}'") from None
        if code in {"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "InvalidRange"}:
            raise invalid(f"{code}: {exc.response['Error'].get('Message', '')}") from None
        raise


class S3ArtifactStore(ArtifactStore):
    """Artifacts as objects under ``s3://bucket/prefix`` on AWS or any S3-compatible server."""

    PAGE_SIZE = 1000  # keys per listing page, and so per delete_objects call (whose limit is 1,000)

    def __init__(self, root: str, endpoint_url: str | None = None) -> None:
        parsed = urllib.parse.urlparse(root)
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.client = _s3_client(endpoint_url, tuple(os.environ.get(name) for name in _AWS_ENV))

    def _key(self, path: str) -> str:
        return posixpath.join(self.prefix, path) if self.prefix and path else self.prefix or path

    @staticmethod
    def _dir_prefix(key: str) -> str:
        return f"{key}/" if key else ""

    def stat(self, path: str) -> ArtifactEntry | None:
        checked = safe_path(path)
        key = self._key(checked)
        name = posixpath.basename(checked)
        if checked:
            with contextlib.suppress(StudioError), _client_errors(checked):
                head = self.client.head_object(Bucket=self.bucket, Key=key)
                return ArtifactEntry(name, False, head["ContentLength"])
        # S3 has no directories: a path is one when some key lies under it.
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._dir_prefix(key), MaxKeys=1)
        return ArtifactEntry(name, True) if listing.get("KeyCount") else None

    def open(self, path: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        checked = safe_path(path)
        if length == 0:
            return iter(())
        extra = {}
        if start or length is not None:
            extra["Range"] = f"bytes={start}-{'' if length is None else start + length - 1}"
        with _client_errors(checked):
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(checked), **extra)
        return _BodyChunks(response["Body"])

    def write(self, path: str, stream: Readable) -> int:
        checked = file_path(path)
        key = self._key(checked)
        first = read_full(stream, S3_PART_SIZE)
        if len(first) < S3_PART_SIZE:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=first)
            return len(first)
        # Larger bodies go up part by part, so at most one part is in memory (boto3's upload_fileobj keeps ten).
        upload_id = self.create_multipart(checked)
        try:
            parts, written, chunk = [], 0, first
            while chunk:
                number = len(parts) + 1
                check_part_number(number)
                response = self.client.upload_part(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append((number, response["ETag"]))
                written += len(chunk)
                chunk = read_full(stream, S3_PART_SIZE)
            self.complete_multipart(checked, upload_id, parts)
        except BaseException:
            self.abort_multipart(checked, upload_id)
            raise
        return written

    def _walk(self, prefix: str, delimiter: str = "") -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        options = {"Delimiter": delimiter} if delimiter else {}
        pages = {"PageSize": self.PAGE_SIZE}
        yield from paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig=pages, **options)

    def list(self, path: str) -> list[ArtifactEntry]:
        prefix = self._dir_prefix(self._key(safe_path(path)))
        entries = []
        for page in self._walk(prefix, delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                entries.append(ArtifactEntry(common["Prefix"][len(prefix) :].rstrip("/"), True))
            for item in page.get("Contents", []):
                entries.append(ArtifactEntry(item["Key"][len(prefix) :], False, item["Size"]))
        visible = [e for e in entries if e.name and not e.name.startswith(RESERVED_PREFIX)]
        return sorted(visible, key=lambda entry: entry.name)

    def walk(self, path: str) -> Iterator[tuple[str, int]]:
        prefix = self._dir_prefix(self._key(safe_path(path)))
        for page in self._walk(prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :]
                # Keys ending in "/" are folder markers some tools write, not files.
                if relative and not relative.endswith("/") and not any(map(is_reserved, relative.split("/"))):
                    yield relative, item["Size"]

    def delete(self, path: str) -> None:
        key = self._key(file_path(path))
        self.client.delete_object(Bucket=self.bucket, Key=key)
        for page in self._walk(self._dir_prefix(key)):
            if objects := [{"Key": item["Key"]} for item in page.get("Contents", [])]:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    def copy(self, src: str, dst: str) -> tuple[int, int]:
        source, target = check_copy_paths(src, dst)
        entry = self.stat(source)
        if entry is None:
            raise not_found(f"No such artifact: '{source}'")
        if self.stat(target) is not None:
            raise invalid(f"Cannot copy to '{target}': something is there already")
        if entry.is_dir:
            pairs = self._copy_plan(source, target)
        else:
            pairs = [(self._key(source), self._key(target), entry.size or 0)]
        if not pairs:
            raise not_found(f"No files under '{source}'")
        copied: list[str] = []
        try:
            for key, new_key, _ in pairs:
                # boto3's managed copy: server-side (multipart past its threshold, so objects over 5 GB too); no byte
                # passes through Studio.
                self.client.copy({"Bucket": self.bucket, "Key": key}, self.bucket, new_key)
                copied.append(new_key)
        except BaseException:
            self._delete_keys(copied)
            raise
        return len(pairs), sum(size for _, _, size in pairs)

    def _copy_plan(self, source: str, target: str) -> list[tuple[str, str, int]]:
        """``(key, new key, size)`` of every object under the directory ``source``, but reserved ones."""
        prefix, new_prefix = self._dir_prefix(self._key(source)), self._dir_prefix(self._key(target))
        pairs = []
        for page in self._walk(prefix):
            for item in page.get("Contents", []):
                relative = item["Key"][len(prefix) :]
                # Keys ending in "/" are folder markers some tools write: no file to copy.
                if relative.endswith("/") or any(is_reserved(part) for part in relative.split("/")):
                    continue
                pairs.append((item["Key"], new_prefix + relative, item["Size"]))
        return pairs

    def _delete_keys(self, keys: list[str]) -> None:
        """Best-effort removal of a failed copy's objects; the copy's own error is what the caller needs to see."""
        for start in range(0, len(keys), self.PAGE_SIZE):
            objects = [{"Key": key} for key in keys[start : start + self.PAGE_SIZE]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
            except Exception:
                log.exception("Could not remove %d objects of a failed copy in s3://%s", len(objects), self.bucket)

    def create_multipart(self, path: str) -> str:
        key = self._key(file_path(path))
        return self.client.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

    def upload_part(self, path: str, upload_id: str, part_number: int, stream: Readable) -> str:
        check_part_number(part_number)
        checked = file_path(path)
        # boto3 wants a part body it can seek (for checksums and retries): spool it (to disk past S3_PART_SIZE).
        with tempfile.SpooledTemporaryFile(max_size=S3_PART_SIZE) as spool, _client_errors(checked):
            copy_stream(stream, spool)
            spool.seek(0)
            response = self.client.upload_part(
                Bucket=self.bucket, Key=self._key(checked), UploadId=upload_id, PartNumber=part_number, Body=spool
            )
        return response["ETag"]

    def complete_multipart(self, path: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
        checked = file_path(path)
        wire_parts = [{"PartNumber": number, "ETag": etag} for number, etag in check_parts(parts)]
        with _client_errors(checked):
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(checked), UploadId=upload_id, MultipartUpload={"Parts": wire_parts}
            )

    def abort_multipart(self, path: str, upload_id: str) -> None:
        checked = file_path(path)
        with contextlib.suppress(StudioError), _client_errors(checked):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(checked), UploadId=upload_id)
