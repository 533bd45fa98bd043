"""The artifact store on local disk and MLflow's artifact proxy: Django's client, raw HTTP, and the real client."""

from __future__ import annotations

import errno
import hashlib
import http.client
import io
import json
import os
import shutil
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import orjson
import pytest
from django.core import signing
from django.test import Client
from mlflow.tracking import MlflowClient
from PIL import Image

from studio.errors import StudioError
from tracking.api.artifact_proxy import _PART_SALT
from tracking.artifacts import LocalArtifactStore, copy_artifacts, delete_artifacts, get_artifact_store, safe_path
from tracking.artifacts import local as local_store
from tracking.store.common import experiment_artifact_location

PROXY = "/api/2.0/mlflow-artifacts/"


class ProxyClient:
    """Django's test client on the artifact proxy."""

    def __init__(self, prefix: str = PROXY) -> None:
        self.client = Client()
        self.prefix = prefix

    def url(self, path: str) -> str:
        return self.prefix + "artifacts/" + urllib.parse.quote(path)

    def put(self, path: str, data: bytes, status: int = 200) -> dict:
        response = self.client.put(self.url(path), data, content_type="application/octet-stream")
        assert response.status_code == status, (response.status_code, response.content[:300])
        return orjson.loads(response.content)

    def get(self, path: str, **headers: str) -> Any:
        return self.client.get(self.url(path), headers=headers)

    def list(self, path: str | None = None, status: int = 200) -> dict:
        response = self.client.get(self.prefix + "artifacts", {"path": path} if path is not None else {})
        assert response.status_code == status, (response.status_code, response.content[:300])
        return orjson.loads(response.content)

    def delete(self, path: str, status: int = 200) -> dict:
        response = self.client.delete(self.url(path))
        assert response.status_code == status, (response.status_code, response.content[:300])
        return orjson.loads(response.content)

    def post(self, endpoint: str, payload: dict, status: int = 200) -> dict:
        response = self.client.post(self.prefix + endpoint, orjson.dumps(payload), content_type="application/json")
        assert response.status_code == status, (response.status_code, response.content[:300])
        return orjson.loads(response.content)


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def assert_error(response: Any, status: int, error_code: str) -> None:
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert orjson.loads(response.content)["error_code"] == error_code


@pytest.fixture
def proxy(db: None) -> ProxyClient:
    return ProxyClient()


@pytest.fixture
def root(settings: Any) -> Path:
    return Path(settings.STUDIO_ARTIFACT_ROOT)


# --- paths -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("", ""),
        ("a/b.txt", "a/b.txt"),
        ("a//b/./c", "a/b/c"),
        ("dir/", "dir"),
        ("with space ünï 日本.txt", "with space ünï 日本.txt"),
        ("100%.txt", "100%.txt"),
        ("..a/b..", "..a/b.."),
    ],
)
def test_safe_path_normalizes(raw, normalized):
    assert safe_path(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "..",
        "../x",
        "a/../../x",
        "%2e%2e/x",
        "%2E%2E/x",
        "%252e%252e/x",
        "a/%2e%2e",
        "/etc/passwd",
        "C:/Windows",
        "C:\\Windows",
        "a\\..\\b",
        "a\x00b",
        "a\nb",
        "a#b",
        ".studio-uploads/x",
        "a/.studio-tmp-1",
    ],
)
def test_safe_path_refuses(raw):
    with pytest.raises(Exception, match="Invalid path"):
        safe_path(raw)


def test_get_artifact_store_follows_settings(settings, tmp_path):
    settings.STUDIO_ARTIFACT_ROOT = str(tmp_path / "x")
    assert isinstance(get_artifact_store(), LocalArtifactStore)
    assert get_artifact_store().root == (tmp_path / "x").resolve()
    settings.STUDIO_ARTIFACT_ROOT = f"file://{tmp_path}/y"
    assert get_artifact_store().root == (tmp_path / "y").resolve()


# --- proxy through Django's client -----------------------------------------------------------------------------------


def test_upload_download_headers(proxy, root):
    assert proxy.put("1/r/artifacts/dir/a.txt", b"hello") == {}
    assert (root / "1/r/artifacts/dir/a.txt").read_bytes() == b"hello"
    response = proxy.get("1/r/artifacts/dir/a.txt")
    assert response.status_code == 200
    assert body(response) == b"hello"
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Length"] == "5"
    assert response["Content-Disposition"] == 'attachment; filename="a.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Accept-Ranges"] == "bytes"


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("m.json", "text/plain"),
        ("MLmodel", "text/plain"),
        ("img.png", "image/png"),
        ("page.html", "text/html"),
        ("weights.bin", "application/octet-stream"),
        ("noext", "application/octet-stream"),
    ],
)
def test_download_content_type_follows_mlflow(proxy, name, content_type):
    proxy.put(f"1/{name}", b"x")
    assert proxy.get(f"1/{name}")["Content-Type"] == content_type


def test_unicode_filename_disposition(proxy):
    proxy.put("1/ünï code.txt", "ü".encode())
    response = proxy.get("1/ünï code.txt")
    assert body(response) == "ü".encode()
    assert response["Content-Disposition"] == "attachment; filename*=utf-8''%C3%BCn%C3%AF%20code.txt"


def test_upload_replaces_and_leaves_no_temporary_files(proxy, root):
    proxy.put("1/f.txt", b"one")
    proxy.put("1/f.txt", b"two")
    assert body(proxy.get("1/f.txt")) == b"two"
    assert [p.name for p in (root / "1").iterdir()] == ["f.txt"]


def test_download_errors(proxy):
    proxy.put("1/d/f.txt", b"x")
    assert_error(proxy.get("1/d/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(proxy.get("1/d"), 400, "INVALID_PARAMETER_VALUE")


def test_upload_over_a_directory_or_under_a_file_is_invalid(proxy):
    proxy.put("1/d/f.txt", b"x")
    assert proxy.put("1/d", b"y", status=400)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert proxy.put("1/d/f.txt/g.txt", b"y", status=400)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_list_one_level_relative_names(proxy):
    proxy.put("1/r/artifacts/b.json", b'{"b": 1}')
    proxy.put("1/r/artifacts/sub/deep/c.txt", b"c")
    proxy.put("1/r/artifacts/a.txt", b"aaaa")
    assert proxy.list("1/r/artifacts") == {
        "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 4},
            {"path": "b.json", "is_dir": False, "file_size": 8},
            {"path": "sub", "is_dir": True},
        ]
    }
    assert proxy.list("1/r/artifacts/sub") == {"files": [{"path": "deep", "is_dir": True}]}
    assert proxy.list() == {"files": [{"path": "1", "is_dir": True}]}


def test_list_missing_dir_or_file_is_empty(proxy):
    proxy.put("1/a.txt", b"a")
    assert proxy.list("1/nope") == {}
    assert proxy.list("1/a.txt") == {}


def test_delete_file_and_tree(proxy, root):
    proxy.put("1/r/a.txt", b"a")
    proxy.put("1/r/t/b.txt", b"b")
    proxy.put("1/r/t/u/c.txt", b"c")
    assert proxy.delete("1/r/a.txt") == {}
    assert not (root / "1/r/a.txt").exists()
    assert proxy.delete("1/r/t") == {}
    assert not (root / "1/r/t").exists()
    assert proxy.delete("1/r/never-there") == {}
    assert proxy.list("1/r") == {}


def test_ajax_prefix_serves_the_same_proxy(db):
    ajax = ProxyClient("/ajax-api/2.0/mlflow-artifacts/")
    ajax.put("1/x.txt", b"x")
    assert body(ProxyClient().get("1/x.txt")) == b"x"


def test_wrong_method_is_endpoint_not_found(proxy):
    assert_error(proxy.client.post(proxy.url("1/x.txt")), 404, "ENDPOINT_NOT_FOUND")


def test_large_upload_is_streamed_not_buffered(proxy, root, settings):
    # request.body refuses bodies over DATA_UPLOAD_MAX_MEMORY_SIZE: an upload that read it would fail here.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    data = os.urandom(3 * 1024 * 1024 + 17)
    proxy.put("1/big.bin", data)
    assert (root / "1/big.bin").read_bytes() == data
    response = proxy.get("1/big.bin")
    assert response.streaming
    assert hashlib.sha256(body(response)).digest() == hashlib.sha256(data).digest()


# --- ranges ----------------------------------------------------------------------------------------------------------

DATA = bytes(range(100))


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, 99),
        ("bytes=-5", 95, 99),
        ("bytes=-500", 0, 99),
        ("bytes=90-1000", 90, 99),
        ("bytes=42-42", 42, 42),
    ],
)
def test_range_request(proxy, header, start, end):
    proxy.put("1/data.bin", DATA)
    response = proxy.get("1/data.bin", Range=header)
    assert response.status_code == 206
    assert body(response) == DATA[start : end + 1]
    assert response["Content-Range"] == f"bytes {start}-{end}/100"
    assert response["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=500-600", "bytes=-0"])
def test_unsatisfiable_range_is_416(proxy, header):
    proxy.put("1/data.bin", DATA)
    response = proxy.get("1/data.bin", Range=header)
    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */100"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=abc"])
def test_unsupported_or_malformed_range_sends_everything(proxy, header):
    proxy.put("1/data.bin", DATA)
    response = proxy.get("1/data.bin", Range=header)
    assert response.status_code == 200
    assert body(response) == DATA


# --- traversal -------------------------------------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = tmp_path / "outside"
    secret.mkdir()
    (secret / "secret.txt").write_text("top secret")
    return secret


@pytest.mark.parametrize(
    "path",
    [
        "../outside/secret.txt",
        "1/../../outside/secret.txt",
        "%2e%2e/outside/secret.txt",
        "%252e%252e/outside/secret.txt",
        "/etc/passwd",
        "1/..\\..\\secret.txt",
    ],
)
def test_traversal_refused_on_every_verb(proxy, outside, path):
    url = PROXY + "artifacts/" + path
    assert_error(proxy.client.get(url), 400, "INVALID_PARAMETER_VALUE")
    assert_error(proxy.client.put(url, b"pwned", content_type="text/plain"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(proxy.client.delete(url), 400, "INVALID_PARAMETER_VALUE")
    mpu = {"path": "/tmp/f.bin", "num_parts": 1}
    assert_error(
        proxy.client.post(PROXY + "mpu/create/" + path, mpu, "application/json"), 400, "INVALID_PARAMETER_VALUE"
    )
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


@pytest.mark.parametrize("path", ["..", "../outside", "%2e%2e", "/etc", "1/../.."])
def test_traversal_refused_in_listing(proxy, outside, path):
    assert proxy.list(path, status=400)["error_code"] == "INVALID_PARAMETER_VALUE"


def test_symlink_out_of_the_root_is_refused(proxy, root, outside):
    (root / "1").mkdir(parents=True)
    (root / "1/link").symlink_to(outside, target_is_directory=True)
    (root / "1/file-link.txt").symlink_to(outside / "secret.txt")
    proxy.put("1/fine.txt", b"ok")
    for path in ("1/link/secret.txt", "1/file-link.txt"):
        assert_error(proxy.get(path), 400, "INVALID_PARAMETER_VALUE")
        assert proxy.delete(path, status=400)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert proxy.put("1/link/new.txt", b"pwned", status=400)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert proxy.list("1/link", status=400)["error_code"] == "INVALID_PARAMETER_VALUE"
    # The listing does not even reveal the links' names or sizes.
    assert proxy.list("1") == {"files": [{"path": "fine.txt", "is_dir": False, "file_size": 2}]}
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_symlink_inside_the_owners_folder_is_served(proxy, root):
    proxy.put("1/run/real/a.txt", b"a")
    (root / "1/run/alias").symlink_to(root / "1/run/real", target_is_directory=True)
    assert body(proxy.get("1/run/alias/a.txt")) == b"a"


def test_symlink_into_another_owners_folder_is_refused(proxy, root):
    # Permissions are judged on a path's owner (the experiment, the run): a link must not lead to a neighbour's files.
    proxy.put("1/run/a.txt", b"a")
    (root / "1/other").symlink_to(root / "1/run", target_is_directory=True)
    (root / "2").mkdir()
    (root / "2/run").symlink_to(root / "1/run", target_is_directory=True)
    assert proxy.get("1/other/a.txt").status_code == 400
    assert proxy.get("2/run/a.txt").status_code == 400


def _raw_http(url: str, request: bytes, body: bytes = b"", *, half_close: bool = False) -> tuple[int, bytes]:
    """Send bytes exactly as given (no client-side path normalization) and read the status and body."""
    parsed = urllib.parse.urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(request + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_literal_dot_dot_over_http_is_refused(live_server, outside):
    # requests/urllib3 and curl squash "../" before sending; a raw client does not, and the server must hold.
    for method in (b"GET", b"DELETE"):
        request = method + b" /api/2.0/mlflow-artifacts/artifacts/../../outside/secret.txt HTTP/1.1\r\nHost: x\r\n"
        status, payload = _raw_http(live_server.url, request + b"Connection: close\r\n\r\n")
        assert status == 400
        assert json.loads(payload)["error_code"] == "INVALID_PARAMETER_VALUE"
    assert (outside / "secret.txt").read_text() == "top secret"


def test_body_shorter_than_content_length_stores_nothing(live_server, root):
    request = (
        b"PUT /api/2.0/mlflow-artifacts/artifacts/1/short.bin HTTP/1.1\r\nHost: x\r\n"
        b"Content-Length: 100\r\nConnection: close\r\n\r\n"
    )
    status, payload = _raw_http(live_server.url, request, b"only ten b", half_close=True)
    assert status == 400, payload
    assert not (root / "1/short.bin").exists()
    assert not any(p.is_file() for p in root.rglob("*"))


# --- multipart through Django's client -------------------------------------------------------------------------------


@pytest.fixture
def multipart(settings: Any) -> None:
    settings.STUDIO_MULTIPART_UPLOADS = True


def _put_part(proxy: ProxyClient, url: str, data: bytes) -> Any:
    return proxy.client.put(urllib.parse.urlparse(url).path, data, content_type="application/octet-stream")


def test_multipart_disabled_answers_what_makes_the_client_fall_back(proxy, settings):
    settings.STUDIO_MULTIPART_UPLOADS = False
    reply = proxy.post("mpu/create/1/r/artifacts", {"path": "/tmp/big.bin", "num_parts": 2}, status=501)
    assert reply["error_code"] == "NOT_IMPLEMENTED"
    assert reply["message"].startswith("Multipart upload is not supported for the current artifact repository")


def test_multipart_upload_assembles_parts_in_order(proxy, root, multipart):
    parts = [os.urandom(1000), os.urandom(1000), os.urandom(10)]
    created = proxy.post("mpu/create/1/r/artifacts/dir", {"path": "/home/me/model.bin", "num_parts": 3})
    assert [c["part_number"] for c in created["credentials"]] == [1, 2, 3]
    assert all(
        c["url"].startswith("http://testserver/api/2.0/mlflow-artifacts/mpu/part/") for c in created["credentials"]
    )
    etags = {}
    # Parts may arrive in any order (the client uploads them from a thread pool).
    for credential, data in reversed(list(zip(created["credentials"], parts, strict=True))):
        response = _put_part(proxy, credential["url"], data)
        assert response.status_code == 200, response.content
        etags[credential["part_number"]] = response["ETag"]
        assert response["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert proxy.list("1/r/artifacts/dir") == {}  # nothing visible before completion
    complete = {
        "path": "/home/me/model.bin",
        "upload_id": created["upload_id"],
        "parts": [{"part_number": n, "etag": etags[n], "url": "ignored"} for n in (1, 2, 3)],
    }
    assert proxy.post("mpu/complete/1/r/artifacts/dir", complete) == {}
    assert (root / "1/r/artifacts/dir/model.bin").read_bytes() == b"".join(parts)
    assert not any((root / ".studio-uploads").iterdir())
    assert proxy.list("") == {"files": [{"path": "1", "is_dir": True}]}


def test_multipart_windows_client_path_keeps_base_name(proxy, root, multipart):
    created = proxy.post("mpu/create/1", {"path": "C:\\Users\\me\\w.bin", "num_parts": 1})
    etag = _put_part(proxy, created["credentials"][0]["url"], b"w")["ETag"]
    parts = [{"part_number": 1, "etag": etag}]
    proxy.post("mpu/complete/1", {"path": "C:\\Users\\me\\w.bin", "upload_id": created["upload_id"], "parts": parts})
    assert (root / "1/w.bin").read_bytes() == b"w"


def test_multipart_complete_refuses_unknown_parts(proxy, root, multipart):
    created = proxy.post("mpu/create/1", {"path": "/tmp/f.bin", "num_parts": 2})
    etag = _put_part(proxy, created["credentials"][0]["url"], b"one")["ETag"]
    upload_id = created["upload_id"]
    for parts in (
        [{"part_number": 1, "etag": etag}, {"part_number": 2, "etag": etag}],  # part 2 never uploaded
        [{"part_number": 1, "etag": '"' + "0" * 32 + '"'}],  # wrong ETag
        [{"part_number": 1, "etag": etag}, {"part_number": 1, "etag": etag}],  # duplicate
        [],
    ):
        reply = proxy.post("mpu/complete/1", {"path": "/tmp/f.bin", "upload_id": upload_id, "parts": parts}, 400)
        assert reply["error_code"] == "INVALID_PARAMETER_VALUE"
    other = {"path": "/tmp/g.bin", "upload_id": upload_id, "parts": [{"part_number": 1, "etag": etag}]}
    assert proxy.post("mpu/complete/1", other, 400)["error_code"] == "INVALID_PARAMETER_VALUE"
    missing = {"path": "/tmp/f.bin", "upload_id": "f" * 32, "parts": [{"part_number": 1, "etag": etag}]}
    assert proxy.post("mpu/complete/1", missing, 404)["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    assert not (root / "1/f.bin").exists()


def test_multipart_abort_discards_parts(proxy, root, multipart):
    created = proxy.post("mpu/create/1", {"path": "/tmp/f.bin", "num_parts": 1})
    _put_part(proxy, created["credentials"][0]["url"], b"data")
    assert proxy.post("mpu/abort/1", {"path": "/tmp/f.bin", "upload_id": created["upload_id"]}) == {}
    assert not any((root / ".studio-uploads").iterdir())
    assert proxy.post("mpu/abort/1", {"path": "/tmp/f.bin", "upload_id": created["upload_id"]}) == {}
    response = _put_part(proxy, created["credentials"][0]["url"], b"late")
    assert_error(response, 404, "RESOURCE_DOES_NOT_EXIST")


def test_multipart_part_url_is_signed(proxy, multipart):
    created = proxy.post("mpu/create/1", {"path": "/tmp/f.bin", "num_parts": 1})
    url = created["credentials"][0]["url"]
    assert_error(_put_part(proxy, url[:-3] + "xyz", b"x"), 403, "PERMISSION_DENIED")
    assert_error(_put_part(proxy, url + "0", b"x"), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("num_parts", [0, -1, 10_001])
def test_multipart_num_parts_bounds(proxy, multipart, num_parts):
    reply = proxy.post("mpu/create/1", {"path": "/tmp/f.bin", "num_parts": num_parts}, 400)
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"


# --- tracking API: artifacts/list ------------------------------------------------------------------------------------


def test_tracking_list_artifacts_relative_to_run_root(api, proxy, experiment_id, run_id):
    run = api.get("runs/get", {"run_id": run_id})["run"]["info"]
    root_uri = run["artifact_uri"]
    assert root_uri == f"{experiment_artifact_location(int(experiment_id))}/{run_id}/artifacts"
    base = f"{experiment_id}/{run_id}/artifacts"
    proxy.put(f"{base}/m.txt", b"mm")
    proxy.put(f"{base}/sub/n.txt", b"n")
    assert api.get("artifacts/list", {"run_id": run_id}) == {
        "root_uri": root_uri,
        "files": [{"path": "m.txt", "is_dir": False, "file_size": 2}, {"path": "sub", "is_dir": True}],
    }
    assert api.get("artifacts/list", {"run_uuid": run_id, "path": "sub"}) == {
        "root_uri": root_uri,
        "files": [{"path": "sub/n.txt", "is_dir": False, "file_size": 1}],
    }
    assert api.get("artifacts/list", {"run_id": run_id, "path": "nope"}) == {"root_uri": root_uri}


def test_tracking_list_artifacts_refuses_unproxied_roots(api):
    experiment_id = api.post("experiments/create", {"name": "ext", "artifact_location": "s3://elsewhere/x"})[
        "experiment_id"
    ]
    run_id = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    message = api.error("GET", "artifacts/list", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE")
    assert "mlflow-artifacts" in message


def test_tracking_list_artifacts_errors(api, run_id):
    api.error("GET", "artifacts/list", {"run_id": run_id, "path": "../x"}, 400, "INVALID_PARAMETER_VALUE")
    api.error("GET", "artifacts/list", {"run_id": "0" * 32}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("GET", "artifacts/list", {}, 400, "INVALID_PARAMETER_VALUE")


# --- the real mlflow client ------------------------------------------------------------------------------------------


def _write_tree(base: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_bytes(data)


def _read_tree(base: Path) -> dict[str, bytes]:
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*") if p.is_file()}


def assert_client_round_trip(client: MlflowClient, tmp_path: Path) -> str:
    """Log every kind of artifact with the real client, then list and download it back; returns the run id."""
    tree = {
        "a.txt": b"alpha",
        "nested/b.json": b'{"b": 1}',
        "nested/deeper/c.bin": bytes(range(256)) * 4096,
        "nested/with space ünï 日本.txt": "ünï".encode(),
    }
    _write_tree(tmp_path / "tree", tree)
    single = tmp_path / "single file ä.csv"
    single.write_text("x,y\n1,2\n")
    experiment_id = client.create_experiment(f"artifacts-{tmp_path.name}")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(single))
        mlflow.log_artifact(str(single), artifact_path="sub dir")
        mlflow.log_artifacts(str(tmp_path / "tree"), artifact_path="tree")
        mlflow.log_dict({"k": [1, 2]}, "dicts/d.json")
        mlflow.log_text("hello ✓", "texts/t.txt")
        mlflow.log_image(np.full((4, 6, 3), 200, dtype=np.uint8), "images/img.png")
    run_id = run.info.run_id
    root_uri = run.info.artifact_uri
    assert root_uri == f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts"

    top = client.list_artifacts(run_id)
    expected = {"dicts": True, "images": True, "single file ä.csv": False, "sub dir": True, "texts": True, "tree": True}
    assert {f.path: f.is_dir for f in top} == expected
    nested = {f.path: f.file_size for f in client.list_artifacts(run_id, "tree/nested")}
    assert nested == {"tree/nested/b.json": 8, "tree/nested/deeper": None, "tree/nested/with space ünï 日本.txt": 5}
    assert client.list_artifacts(run_id, "single file ä.csv") == []

    file_dst = tmp_path / "file-dst"
    file_dst.mkdir()
    local = mlflow.artifacts.download_artifacts(artifact_uri=f"{root_uri}/tree/nested/deeper/c.bin", dst_path=file_dst)
    assert Path(local).read_bytes() == tree["nested/deeper/c.bin"]
    local_dir = mlflow.artifacts.download_artifacts(artifact_uri=f"{root_uri}/tree", dst_path=tmp_path / "dir-dst")
    assert _read_tree(Path(local_dir)) == tree
    assert (
        Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{root_uri}/sub dir/single file ä.csv"))
    ).read_text() == ("x,y\n1,2\n")
    assert mlflow.artifacts.load_dict(f"{root_uri}/dicts/d.json") == {"k": [1, 2]}
    assert mlflow.artifacts.load_text(f"{root_uri}/texts/t.txt") == "hello ✓"
    image = Image.open(mlflow.artifacts.download_artifacts(artifact_uri=f"{root_uri}/images/img.png"))
    assert image.size == (6, 4)
    assert image.getpixel((0, 0)) == (200, 200, 200)
    return run_id


@pytest.mark.live
def test_mlflow_client_round_trip(mlflow_client, tmp_path, root):
    run_id = assert_client_round_trip(mlflow_client, tmp_path)
    assert any(p.name == "c.bin" for p in root.rglob("*")), "artifacts land under STUDIO_ARTIFACT_ROOT"
    assert run_id in {p.name for p in root.glob("*/*")}


@pytest.mark.live
def test_mlflow_client_download_artifacts_by_run_id(mlflow_client, tmp_path):
    experiment_id = mlflow_client.create_experiment("by-run-id")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_text("abc", "x/y.txt")
    local = mlflow_client.download_artifacts(run.info.run_id, "x/y.txt", str(tmp_path))
    assert Path(local).read_text() == "abc"


@pytest.mark.live
def test_mlflow_client_large_file_and_delete(mlflow_client, tmp_path, root):
    data = os.urandom(5 * 1024 * 1024 + 3)
    (tmp_path / "big.bin").write_bytes(data)
    experiment_id = mlflow_client.create_experiment("big")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(tmp_path / "big.bin"), "blobs")
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{run.info.artifact_uri}/blobs/big.bin", dst_path=tmp_path / "d"
    )
    assert Path(local).read_bytes() == data
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    get_artifact_repository(run.info.artifact_uri).delete_artifacts("blobs")
    assert mlflow_client.list_artifacts(run.info.run_id) == []


@pytest.fixture
def client_multipart(monkeypatch: pytest.MonkeyPatch, settings: Any) -> int:
    """Make the real client use mpu/create|complete and part uploads for files of 256 KiB and more."""
    settings.STUDIO_MULTIPART_UPLOADS = True
    chunk = 256 * 1024
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(chunk))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(chunk))
    return chunk


@pytest.mark.live
def test_mlflow_client_multipart_upload(mlflow_client, tmp_path, root, client_multipart):
    data = os.urandom(4 * client_multipart + 1234)  # five parts, the last one short
    (tmp_path / "model.bin").write_bytes(data)
    experiment_id = mlflow_client.create_experiment("mpu")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(tmp_path / "model.bin"), "weights")
    stored = root / experiment_id / run.info.run_id / "artifacts/weights/model.bin"
    assert stored.read_bytes() == data
    assert not any((root / ".studio-uploads").iterdir()), "staged parts are removed on completion"
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{run.info.artifact_uri}/weights/model.bin", dst_path=tmp_path / "d"
    )
    assert Path(local).read_bytes() == data


@pytest.mark.live
def test_mlflow_client_falls_back_to_put_when_multipart_is_off(
    mlflow_client, tmp_path, root, client_multipart, settings
):
    settings.STUDIO_MULTIPART_UPLOADS = False
    data = os.urandom(2 * client_multipart)
    (tmp_path / "model.bin").write_bytes(data)
    experiment_id = mlflow_client.create_experiment("no-mpu")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(tmp_path / "model.bin"))
    assert (root / experiment_id / run.info.run_id / "artifacts/model.bin").read_bytes() == data
    assert not (root / ".studio-uploads").exists()


# --- copy, and the read-only registry folder -------------------------------------------------------------------------


def _files(base: Path) -> dict[str, bytes]:
    """The regular files under ``base`` (symlinks not followed) and their bytes."""
    files = [p for p in base.rglob("*") if p.is_file() and not p.is_symlink()]
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in files}


def _studio_entries(base: Path) -> list[Path]:
    return list(base.rglob(".studio-*")) if base.exists() else []


def _copy_error(src: str, dst: str) -> StudioError:
    with pytest.raises(StudioError) as raised:
        get_artifact_store().copy(src, dst)
    return raised.value


def test_copy_hard_links_a_snapshot(proxy, root):
    proxy.put("1/r/artifacts/model/MLmodel", b"flavors")
    proxy.put("1/r/artifacts/model/data/w.bin", b"weights")
    proxy.put("1/r/artifacts/model/data/deep/x.txt", b"")
    store = get_artifact_store()
    assert store.copy("1/r/artifacts/model", "registry/1/v") == (3, len(b"flavors") + len(b"weights"))
    copied, source = root / "registry/1/v", root / "1/r/artifacts/model"
    assert _files(copied) == _files(source) == {"MLmodel": b"flavors", "data/w.bin": b"weights", "data/deep/x.txt": b""}
    for name in ("MLmodel", "data/w.bin"):
        # A second name for the same inode, not a second copy of the bytes.
        assert (copied / name).stat().st_ino == (source / name).stat().st_ino
        assert (copied / name).stat().st_nlink == 2
    proxy.put("1/r/artifacts/model/data/w.bin", b"changed")  # replaced by rename: the copy keeps the old bytes
    assert (copied / "data/w.bin").read_bytes() == b"weights"
    assert (copied / "data/w.bin").stat().st_nlink == 1
    proxy.delete("1/r/artifacts/model")
    assert (copied / "MLmodel").read_bytes() == b"flavors"
    assert _studio_entries(root) == []


def test_copy_of_a_single_file(proxy, root):
    proxy.put("1/r/artifacts/MLmodel", b"flavors")
    assert get_artifact_store().copy("1/r/artifacts/MLmodel", "registry/1/one") == (1, 7)
    assert (root / "registry/1/one").read_bytes() == b"flavors"
    assert (root / "registry/1/one").stat().st_ino == (root / "1/r/artifacts/MLmodel").stat().st_ino
    assert _studio_entries(root) == []


def test_copy_artifacts_and_delete_artifacts_take_store_paths(proxy, root):
    proxy.put("1/r/artifacts/m/a.txt", b"a")
    assert copy_artifacts(src="1/r/artifacts/m", dst="registry/2/v") == (1, 1)
    assert proxy.list("registry/2/v") == {"files": [{"path": "a.txt", "is_dir": False, "file_size": 1}]}
    delete_artifacts("registry/2/v")
    delete_artifacts("registry/2/v")  # nothing there is fine
    assert not (root / "registry/2/v").exists()
    assert (root / "1/r/artifacts/m/a.txt").read_bytes() == b"a"


def test_copy_falls_back_to_copying_where_links_fail(proxy, root, monkeypatch):
    proxy.put("1/m/a.bin", b"aaa")
    proxy.put("1/m/sub/b.bin", b"bb")

    def cross_device(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    assert get_artifact_store().copy("1/m", "registry/1/v") == (2, 5)
    assert _files(root / "registry/1/v") == {"a.bin": b"aaa", "sub/b.bin": b"bb"}
    assert (root / "registry/1/v/a.bin").stat().st_ino != (root / "1/m/a.bin").stat().st_ino
    assert get_artifact_store().copy("1/m/sub/b.bin", "registry/1/b.bin") == (1, 2)
    assert (root / "registry/1/b.bin").read_bytes() == b"bb"
    assert _copy_error("1/m/a.bin", "registry/1/b.bin").error_code == "INVALID_PARAMETER_VALUE"
    assert _studio_entries(root) == []


def test_copy_failing_halfway_leaves_nothing(proxy, root, monkeypatch):
    for name in ("a", "b", "c"):
        proxy.put(f"1/m/{name}.bin", b"x")
    real_copy, copied = shutil.copy2, []

    def cross_device(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def copy_until_the_disk_is_full(source: Any, target: Any) -> None:
        if copied:
            raise OSError(errno.ENOSPC, "No space left on device")
        copied.append(real_copy(source, target))

    monkeypatch.setattr(os, "link", cross_device)
    monkeypatch.setattr(shutil, "copy2", copy_until_the_disk_is_full)
    with pytest.raises(OSError, match="No space"):
        get_artifact_store().copy("1/m", "registry/1/v")
    assert len(copied) == 1, "one file was copied before the failure"
    assert not (root / "registry").exists(), "the parents made for the copy go too"
    assert _studio_entries(root) == []
    assert _files(root / "1/m") == {"a.bin": b"x", "b.bin": b"x", "c.bin": b"x"}


@pytest.mark.parametrize("src", ["1/m", "1/m/a.bin"])
def test_copy_never_replaces_what_appeared_at_the_target_meanwhile(proxy, root, monkeypatch, src):
    proxy.put("1/m/a.bin", b"new")
    real_snapshot = local_store._snapshot

    def concurrent_writer(source: Path, target: Path) -> int:
        get_artifact_store().write("registry/1/v/a.bin" if src == "1/m" else "registry/1/v", io.BytesIO(b"theirs"))
        return real_snapshot(source, target)

    monkeypatch.setattr(local_store, "_snapshot", concurrent_writer)
    error = _copy_error(src, "registry/1/v")
    assert error.message == "Cannot copy to 'registry/1/v': something is there already"
    assert _files(root / "registry") == {"1/v/a.bin" if src == "1/m" else "1/v": b"theirs"}
    assert _studio_entries(root) == []


def test_copy_skips_reserved_entries(proxy, root):
    proxy.put("1/m/MLmodel", b"m")
    (root / "1/m/.studio-tmp-1").write_bytes(b"partial")
    (root / "1/m/.studio-uploads/u").mkdir(parents=True)
    (root / "1/m/.studio-uploads/u/00001-e").write_bytes(b"part")
    (root / "1/m/sub").mkdir()
    (root / "1/m/sub/.studio-tmp-2").write_bytes(b"partial")
    assert get_artifact_store().copy("1/m", "registry/1/v") == (1, 1)
    assert _files(root / "registry/1/v") == {"MLmodel": b"m"}
    (root / "1/only-reserved").mkdir()
    (root / "1/only-reserved/.studio-tmp-3").write_bytes(b"partial")
    assert _copy_error("1/only-reserved", "registry/1/w").error_code == "RESOURCE_DOES_NOT_EXIST"


def test_copy_follows_symlinks_within_the_owners_folder_only(proxy, root, outside):
    proxy.put("1/m/MLmodel", b"m")
    proxy.put("1/m/assets/vocab.txt", b"vocab")
    proxy.put("1/shared/neighbour.txt", b"neighbour")
    (root / "1/m/secret.txt").symlink_to(outside / "secret.txt")
    (root / "1/m/outside-dir").symlink_to(outside, target_is_directory=True)
    (root / "1/m/vocab").symlink_to(root / "1/m/assets", target_is_directory=True)
    (root / "1/m/neighbour").symlink_to(root / "1/shared", target_is_directory=True)
    (root / "1/m/loop").symlink_to(root / "1/m", target_is_directory=True)
    (root / "1/m/dangling").symlink_to(root / "1/nothing")
    assert get_artifact_store().copy("1/m", "registry/1/v") == (3, 11)
    copied = root / "registry/1/v"
    assert _files(copied) == {"MLmodel": b"m", "assets/vocab.txt": b"vocab", "vocab/vocab.txt": b"vocab"}
    assert not any(p.is_symlink() for p in copied.rglob("*"))
    (root / "1/leak").mkdir()
    (root / "1/leak/secret.txt").symlink_to(outside / "secret.txt")
    assert _copy_error("1/leak", "registry/1/w").error_code == "RESOURCE_DOES_NOT_EXIST"
    assert b"top secret" not in _files(root).values()


@pytest.mark.parametrize(
    ("src", "dst", "error_code"),
    [
        ("1/missing", "registry/x", "RESOURCE_DOES_NOT_EXIST"),
        ("1/empty", "registry/x", "RESOURCE_DOES_NOT_EXIST"),
        ("1/only-dirs", "registry/x", "RESOURCE_DOES_NOT_EXIST"),
        ("1/d", "1/taken", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/taken/f.txt", "INVALID_PARAMETER_VALUE"),
        ("1/d/f.txt", "1/taken/f.txt", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/d", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/d/sub", "INVALID_PARAMETER_VALUE"),
        ("", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "", "INVALID_PARAMETER_VALUE"),
        ("1/d", ".", "INVALID_PARAMETER_VALUE"),
        ("1/../..", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("../outside", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("%2e%2e/outside", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "../x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "registry/../../x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "/tmp/x", "INVALID_PARAMETER_VALUE"),
        (".studio-uploads", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "registry/.studio-tmp-x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/d/f.txt/x", "INVALID_PARAMETER_VALUE"),
    ],
)
def test_copy_refusals_leave_nothing(proxy, root, outside, src, dst, error_code):
    proxy.put("1/d/f.txt", b"x")
    proxy.put("1/taken/f.txt", b"old")
    (root / "1/empty").mkdir()
    (root / "1/only-dirs/a/b").mkdir(parents=True)
    before = _files(root)
    assert _copy_error(src, dst).error_code == error_code
    assert _files(root) == before
    assert not (root / "registry").exists()
    assert _studio_entries(root) == []
    assert [p.name for p in outside.iterdir()] == ["secret.txt"]


def test_copy_error_messages(proxy):
    proxy.put("1/d/f.txt", b"x")
    proxy.put("1/e/f.txt", b"x")
    assert _copy_error("1/nope", "registry/x").message == "No such artifact: '1/nope'"
    assert _copy_error("1/d", "./1//e").message == "Cannot copy to '1/e': something is there already"
    assert _copy_error("1/d", "1/d").message == "Cannot copy '1/d' into itself ('1/d')"
    assert _copy_error("1/d", "1/d/sub").message == "Cannot copy '1/d' into itself ('1/d/sub')"
    assert _copy_error("", "x").message == "Cannot copy the whole artifact root"


READ_ONLY = "is read-only: files of registered model versions are written by the model registry only"


@pytest.mark.parametrize(
    "url_path",
    [
        "registry/1/v/f.txt",
        "registry/new.txt",
        "./registry/1/v/f.txt",
        "registry//1/v/f.txt",
        "registry%2F1%2Fv%2Ff.txt",
        "registry%252Fnew.txt",
        "%72egistry/new.txt",
        "Registry/new.txt",
        "REGISTRY/1/v/f.txt",
        "registry",
    ],
)
def test_registry_folder_is_read_only_through_the_proxy(proxy, root, settings, url_path):
    settings.STUDIO_MULTIPART_UPLOADS = True
    (root / "registry/1/v").mkdir(parents=True)
    (root / "registry/1/v/f.txt").write_bytes(b"original")
    before = _files(root)
    url = PROXY + "artifacts/" + url_path
    for response in (
        proxy.client.put(url, b"evil", content_type="application/octet-stream"),
        proxy.client.delete(url),
    ):
        assert_error(response, 403, "PERMISSION_DENIED")
        assert READ_ONLY in orjson.loads(response.content)["message"]
    mpu = {"path": "/tmp/f.txt", "num_parts": 1, "upload_id": "0" * 32, "parts": [{"part_number": 1, "etag": "e"}]}
    for action in ("create", "complete", "abort"):
        response = proxy.client.post(f"{PROXY}mpu/{action}/{url_path}", orjson.dumps(mpu), "application/json")
        assert_error(response, 403, "PERMISSION_DENIED")
    assert _files(root) == before


def test_registry_folder_refuses_part_uploads_and_multipart_into_it(proxy, root, settings):
    settings.STUDIO_MULTIPART_UPLOADS = True
    # A part URL for the folder is never handed out, but one made with the server's key is refused all the same.
    upload_id = get_artifact_store().create_multipart("registry/1/v/w.bin")
    token = signing.dumps({"p": "registry/1/v/w.bin", "u": upload_id, "n": 1}, salt=_PART_SALT, compress=True)
    response = proxy.client.put(f"{PROXY}mpu/part/{token}", b"evil", content_type="application/octet-stream")
    assert_error(response, 403, "PERMISSION_DENIED")
    # The client's local file name cannot lead into the folder either: the directory comes from the URL.
    created = proxy.post("mpu/create/1", {"path": "/tmp/registry", "num_parts": 1})
    assert created["credentials"][0]["url"]
    response = proxy.client.post(f"{PROXY}mpu/create/registry", orjson.dumps({"path": "/tmp/x"}), "application/json")
    assert_error(response, 403, "PERMISSION_DENIED")
    assert not (root / "registry/1/v/w.bin").exists()


def test_registry_folder_reads_work_and_neighbours_stay_writable(proxy, root):
    proxy.put("1/f.txt", b"original")
    get_artifact_store().copy("1/f.txt", "registry/1/v/f.txt")  # the store API itself stays writable
    response = proxy.get("registry/1/v/f.txt")
    assert response.status_code == 200
    assert body(response) == b"original"
    assert body(proxy.get("registry/1/v/f.txt", Range="bytes=1-3")) == b"rig"
    assert proxy.list("registry/1/v") == {"files": [{"path": "f.txt", "is_dir": False, "file_size": 8}]}
    assert proxy.list("registry") == {"files": [{"path": "1", "is_dir": True}]}
    assert {"path": "registry", "is_dir": True} in proxy.list()["files"]
    assert proxy.put("registryfoo/f.txt", b"fine") == {}
    assert proxy.put("1/registry/f.txt", b"fine") == {}
    assert proxy.delete("registryfoo/f.txt") == {}
    get_artifact_store().write("registry/1/v/g.txt", io.BytesIO(b"server-side"))
    get_artifact_store().delete("registry/1/v/g.txt")
    assert (root / "registry/1/v/f.txt").read_bytes() == b"original"
