"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/``): upload, download, list, delete, multipart uploads.

Paths arrive URL-decoded once by Django and are checked by the store (``tracking.artifacts.safe_path``); unsafe ones
answer 400 INVALID_PARAMETER_VALUE "Invalid path", as ``validate_path_is_safe`` in MLflow's handlers does. Bodies are
streamed both ways: uploads read the request in chunks (never ``request.body``), downloads are streaming responses.
"""

from __future__ import annotations

import functools
import mimetypes
import posixpath
import re
from collections.abc import Callable
from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.views.decorators.csrf import csrf_exempt

from studio.api import Args, api_view, endpoint_not_found, error_response, json_response, translate_exception
from studio.auth.access import PUBLIC, access
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.errors import StudioError, invalid
from tracking.access import on_artifact_path
from tracking.artifacts import (
    MAX_PARTS,
    ArtifactEntry,
    check_writable,
    get_artifact_store,
    multipart_uploads_enabled,
)
from tracking.store import storage

# The client falls back to a plain PUT on a 501 whose message starts with this
# (mlflow.exceptions._UnsupportedMultipartUploadException.MESSAGE).
MULTIPART_UNSUPPORTED = "Multipart upload is not supported for the current artifact repository"
PART_URL_MAX_AGE = 24 * 3600
_PART_SALT = "tracking.artifact_proxy.part"
# mlflow.utils.mime_type_utils: text-like files are served as text/plain, as MLflow's server does.
_TEXT_EXTENSIONS = frozenset(
    [
        "txt",
        "log",
        "err",
        "cfg",
        "conf",
        "cnf",
        "cf",
        "ini",
        "properties",
        "prop",
        "hocon",
        "toml",
        "yaml",
        "yml",
        "xml",
        "json",
        "js",
        "py",
        "py3",
        "csv",
        "tsv",
        "md",
        "rst",
        "ipynb",
        "MLmodel",
        "MLproject",
    ]
)


def guess_mime_type(path: str) -> str:
    """The Content-Type MLflow's server sends for an artifact, from its extension."""
    name = posixpath.basename(path)
    extension = posixpath.splitext(name)[1].lstrip(".") or name
    if extension in _TEXT_EXTENSIONS:
        return "text/plain"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class RequestStream:
    """The request body read in chunks; a body shorter than its Content-Length is an error, not a short file."""

    def __init__(self, request: HttpRequest) -> None:
        if "CONTENT_LENGTH" not in request.META and "HTTP_TRANSFER_ENCODING" in request.META:
            # Django reads a body without Content-Length as empty: refuse rather than store an empty file.
            raise invalid("Artifact uploads need a Content-Length header (chunked bodies are not supported).")
        self.request = request
        self.expected = int(request.META.get("CONTENT_LENGTH") or 0)
        self.received = 0

    def read(self, size: int = 1024 * 1024) -> bytes:
        chunk = self.request.read(size if size and size > 0 else 1024 * 1024)
        self.received += len(chunk)
        if not chunk and self.received < self.expected:
            raise invalid(f"The request body ended after {self.received} of {self.expected} bytes.")
        return chunk


# Paths are ``<experiment id>/...``: reads READ, writes EDIT, deletes MANAGE (as MLflow's auth app maps DELETE to
# ``manage``), all on the experiment that owns the folder; see ``tracking.access.artifact_owner``. The multipart
# calls write, so EDIT; they name the folder in the URL, and the file keeps it (``_destination`` adds a base name).
PATH_READ = on_artifact_path(READ)
PATH_EDIT = on_artifact_path(EDIT)
PATH_MANAGE = on_artifact_path(MANAGE)


def stream_view(*methods: str) -> Callable:
    """Like ``api_view`` but leaves the body unread, for views that stream it or stream their response."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in methods:
                return endpoint_not_found(request)
            try:
                return view(request, **kwargs)
            except Exception as exc:
                return translate_exception(exc)

        return wrapper

    return decorate


class RangeNotSatisfiable(Exception):
    """A Range header that no byte of the file satisfies."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(start, length)`` of a single-range ``Range`` header, or None to send the whole file.

    Absent, malformed and multi-range headers are ignored, which RFC 9110 allows.
    """
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # a suffix: the last N bytes
        if int(last) == 0:
            raise RangeNotSatisfiable
        if size == 0:
            return None
        start = max(size - int(last), 0)
        return start, size - start
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    end = min(int(last), size - 1) if last else size - 1
    return start, end - start + 1


def _file_headers(response: HttpResponse, path: str, length: int) -> HttpResponse:
    # MLflow's _response_with_file_attachment_headers, plus what range requests need.
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(True, posixpath.basename(path))
    response["X-Content-Type-Options"] = "nosniff"
    return response


@access(PATH_READ)
@stream_view("GET")
def DownloadArtifactApi(request: HttpRequest, artifact_path: str) -> HttpResponse:
    store = get_artifact_store()
    size = store.size(artifact_path)
    try:
        requested = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        response = error_response("INVALID_PARAMETER_VALUE", f"Range not satisfiable for {size} bytes", 416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, length = requested or (0, size)
    chunks = store.open(artifact_path, start, length)
    response = StreamingHttpResponse(
        chunks, status=206 if requested else 200, content_type=guess_mime_type(artifact_path)
    )
    if requested:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    return _file_headers(response, artifact_path, length)


@access(PATH_EDIT)
@stream_view("PUT")
def UploadArtifactApi(request: HttpRequest, artifact_path: str) -> HttpResponse:
    path = check_writable(artifact_path)
    get_artifact_store().write(path, RequestStream(request))
    storage.record_change(path)
    return json_response({})


@access(PATH_MANAGE)
@api_view("DELETE")
def DeleteArtifactApi(request: HttpRequest, args: Args, artifact_path: str) -> dict:
    path = check_writable(artifact_path)
    get_artifact_store().delete(path)
    storage.record_change(path)
    return {}


def entry_to_wire(entry: ArtifactEntry) -> dict[str, Any]:
    """A ``FileInfo`` message; directories carry no size."""
    payload: dict[str, Any] = {"path": entry.name, "is_dir": entry.is_dir}
    if not entry.is_dir and entry.size is not None:
        payload["file_size"] = entry.size
    return payload


@access(on_artifact_path(READ, in_query=True))
@api_view("GET")
def ListArtifactsApi(request: HttpRequest, args: Args) -> dict:
    """``files`` named relative to the listed directory; a file or a missing path lists as ``{}``."""
    entries = get_artifact_store().list(args.str("path", default=""))
    return {"files": [entry_to_wire(entry) for entry in entries]} if entries else {}


def _destination(artifact_path: str, args: Args) -> str:
    # The client sends its local file path ("/tmp/x/model.bin", or a Windows path) as `path` and the artifact
    # directory in the URL; the file keeps its base name (as MLflow's S3ArtifactRepository.create_multipart_upload).
    local_file = args.str("path", required=True)
    return posixpath.join(artifact_path, re.split(r"[\\/]", local_file)[-1])


def _part_url(request: HttpRequest, path: str, upload_id: str, part_number: int) -> str:
    # The client PUTs parts without its auth headers (as to presigned S3 URLs): the signed token is the credential.
    token = signing.dumps({"p": path, "u": upload_id, "n": part_number}, salt=_PART_SALT, compress=True)
    namespace = request.resolver_match.namespace if request.resolver_match else "artifacts-api"
    return request.build_absolute_uri(reverse(f"{namespace}:upload-part", args=[token]))


@access(PATH_EDIT)
@api_view("POST")
def CreateMultipartUploadApi(request: HttpRequest, args: Args, artifact_path: str) -> dict:
    path = check_writable(_destination(artifact_path, args))  # an unsafe path is refused first, as in MLflow
    if not multipart_uploads_enabled():
        raise StudioError(MULTIPART_UNSUPPORTED, "NOT_IMPLEMENTED")
    num_parts = args.int("num_parts", default=1)
    if not 1 <= num_parts <= MAX_PARTS:
        raise invalid(f"num_parts must be between 1 and {MAX_PARTS}")
    upload_id = get_artifact_store().create_multipart(path)
    credentials = [{"part_number": n, "url": _part_url(request, path, upload_id, n)} for n in range(1, num_parts + 1)]
    return {"upload_id": upload_id, "credentials": credentials}


# The signed token is the credential, as a presigned S3 URL is: mpu/create issues it only after the EDIT check on
# the path, and it names that exact (checked) path, the upload and the part, for PART_URL_MAX_AGE. The client PUTs
# parts without its auth headers, so a rule that wanted a user would break multipart uploads.
@access(PUBLIC)
@stream_view("PUT")
def UploadPartApi(request: HttpRequest, token: str) -> HttpResponse:
    """Receive one part at the URL ``mpu/create`` handed out; answers its ETag, which the client echoes back."""
    try:
        claim = signing.loads(token, salt=_PART_SALT, max_age=PART_URL_MAX_AGE)
    except signing.BadSignature:
        raise StudioError("Invalid or expired part upload URL", "PERMISSION_DENIED") from None
    etag = get_artifact_store().upload_part(check_writable(claim["p"]), claim["u"], claim["n"], RequestStream(request))
    response = json_response({})
    response["ETag"] = etag
    return response


@access(PATH_EDIT)
@api_view("POST")
def CompleteMultipartUploadApi(request: HttpRequest, args: Args, artifact_path: str) -> dict:
    parts = []
    for i, item in enumerate(args.list("parts", required=True)):
        part = args.sub(item, f"parts[{i}]")
        parts.append((part.int("part_number", required=True), part.str("etag", required=True)))
    path = check_writable(_destination(artifact_path, args))
    get_artifact_store().complete_multipart(path, args.str("upload_id", required=True), parts)
    storage.record_change(path)
    return {}


@access(PATH_EDIT)
@api_view("POST")
def AbortMultipartUploadApi(request: HttpRequest, args: Args, artifact_path: str) -> dict:
    get_artifact_store().abort_multipart(
        check_writable(_destination(artifact_path, args)), args.str("upload_id", required=True)
    )
    return {}
