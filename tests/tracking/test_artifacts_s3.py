"""The artifact proxy on S3-compatible storage: moto's real HTTP server, boto3 unmocked, the real mlflow client."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import mlflow
import pytest
from moto.server import ThreadedMotoServer

from studio.errors import StudioError
from tests.tracking.test_artifacts import ProxyClient, assert_client_round_trip, assert_error, body
from tracking.artifacts import S3ArtifactStore, get_artifact_store

BUCKET = "studio-artifacts"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto as a real S3 server on a free local port, with the bucket created."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3(s3_endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@pytest.fixture
def prefix(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point Studio at s3://bucket/<fresh prefix> for this test, with credentials from the usual variables."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    key_prefix = f"runs-{uuid.uuid4().hex}"
    settings.STUDIO_ARTIFACT_ROOT = f"s3://{BUCKET}/{key_prefix}"
    settings.STUDIO_S3_ENDPOINT_URL = s3_endpoint
    return key_prefix


@pytest.fixture
def proxy(db: None, prefix: str) -> ProxyClient:
    return ProxyClient()


def keys(s3: Any, prefix: str) -> dict[str, int]:
    """Every object under the prefix, relative to it, with its size."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            found[item["Key"][len(prefix) + 1 :]] = item["Size"]
    return found


def test_settings_select_the_s3_store(prefix):
    store = get_artifact_store()
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == (BUCKET, prefix)


def test_upload_download_list_delete(proxy, s3, prefix):
    proxy.put("1/r/artifacts/a.txt", b"hello")
    proxy.put("1/r/artifacts/sub/b.json", b"{}")
    proxy.put("1/r/artifacts/sub/deep/c.bin", b"c")
    assert keys(s3, prefix) == {
        "1/r/artifacts/a.txt": 5,
        "1/r/artifacts/sub/b.json": 2,
        "1/r/artifacts/sub/deep/c.bin": 1,
    }
    response = proxy.get("1/r/artifacts/a.txt")
    assert body(response) == b"hello"
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Disposition"] == 'attachment; filename="a.txt"'
    assert response["X-Content-Type-Options"] == "nosniff"
    assert proxy.list("1/r/artifacts") == {
        "files": [{"path": "a.txt", "is_dir": False, "file_size": 5}, {"path": "sub", "is_dir": True}]
    }
    assert proxy.list("1/r/artifacts/sub") == {
        "files": [{"path": "b.json", "is_dir": False, "file_size": 2}, {"path": "deep", "is_dir": True}]
    }
    assert proxy.list("1/r/artifacts/missing") == {}
    assert proxy.list("1/r/artifacts/a.txt") == {}
    assert_error(proxy.get("1/r/artifacts/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
    assert_error(proxy.get("1/r/artifacts/sub"), 400, "INVALID_PARAMETER_VALUE")
    proxy.delete("1/r/artifacts/sub")
    assert keys(s3, prefix) == {"1/r/artifacts/a.txt": 5}
    proxy.delete("1/r/artifacts/a.txt")
    proxy.delete("1/r/artifacts/never-there")
    assert keys(s3, prefix) == {}


def test_range_requests(proxy):
    data = bytes(range(100))
    proxy.put("1/data.bin", data)
    response = proxy.get("1/data.bin", Range="bytes=10-19")
    assert response.status_code == 206
    assert body(response) == data[10:20]
    assert response["Content-Range"] == "bytes 10-19/100"
    assert body(proxy.get("1/data.bin", Range="bytes=-3")) == data[-3:]
    assert proxy.get("1/data.bin", Range="bytes=100-").status_code == 416


def test_empty_file(proxy, s3, prefix):
    proxy.put("1/empty.txt", b"")
    assert keys(s3, prefix) == {"1/empty.txt": 0}
    assert body(proxy.get("1/empty.txt")) == b""


def test_large_upload_is_streamed_in_parts(proxy, s3, prefix, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # request.body would refuse this upload
    data = os.urandom(10 * 1024 * 1024 + 5)  # above boto3's multipart threshold
    proxy.put("1/big.bin", data)
    head = s3.head_object(Bucket=BUCKET, Key=f"{prefix}/1/big.bin")
    assert head["ContentLength"] == len(data)
    assert "-" in head["ETag"], "uploaded as a multipart object, chunk by chunk"
    assert body(proxy.get("1/big.bin")) == data


def test_delete_tree_spanning_several_pages(proxy, s3, prefix, monkeypatch):
    monkeypatch.setattr(S3ArtifactStore, "PAGE_SIZE", 10)
    for i in range(25):
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/many/{i:02d}.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/keep.txt", Body=b"k")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/many-not-under.txt", Body=b"k")
    assert len(proxy.list("1/many")["files"]) == 25
    proxy.delete("1/many")
    assert keys(s3, prefix) == {"1/keep.txt": 1, "1/many-not-under.txt": 1}


@pytest.mark.parametrize("path", ["../x.txt", "%2e%2e/x.txt", "1/../../x.txt", "/x.txt"])
def test_traversal_refused(proxy, s3, prefix, path):
    url = "/api/2.0/mlflow-artifacts/artifacts/" + path
    assert_error(proxy.client.put(url, b"x", content_type="text/plain"), 400, "INVALID_PARAMETER_VALUE")
    assert_error(proxy.client.get(url), 400, "INVALID_PARAMETER_VALUE")
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="x.txt").get("KeyCount") == 0


def test_multipart_abort_via_proxy(proxy, s3, prefix, settings):
    settings.STUDIO_MULTIPART_UPLOADS = True
    created = proxy.post("mpu/create/1", {"path": "/tmp/f.bin", "num_parts": 1})
    part = proxy.client.put(created["credentials"][0]["url"].split("testserver", 1)[1], b"x" * 10)
    assert part.status_code == 200
    assert s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads")
    proxy.post("mpu/abort/1", {"path": "/tmp/f.bin", "upload_id": created["upload_id"]})
    assert not s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads")
    reply = proxy.post("mpu/complete/1", {"path": "/tmp/f.bin", "upload_id": created["upload_id"], "parts": []}, 400)
    assert reply["error_code"] == "INVALID_PARAMETER_VALUE"


@pytest.mark.live
def test_mlflow_client_round_trip_on_s3(mlflow_client, tmp_path, s3, prefix):
    run_id = assert_client_round_trip(mlflow_client, tmp_path)
    stored = keys(s3, prefix)
    assert any(key.endswith(f"{run_id}/artifacts/tree/nested/deeper/c.bin") for key in stored)
    assert any(key.endswith(f"{run_id}/artifacts/images/img.png") for key in stored)


@pytest.mark.live
def test_mlflow_client_multipart_upload_on_s3(mlflow_client, tmp_path, s3, prefix, settings, monkeypatch):
    settings.STUDIO_MULTIPART_UPLOADS = True
    part_size = 5 * 1024 * 1024  # S3's minimum for every part but the last
    monkeypatch.setenv("MLFLOW_ENABLE_PROXY_MULTIPART_UPLOAD", "true")
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_MINIMUM_FILE_SIZE", str(part_size))
    monkeypatch.setenv("MLFLOW_MULTIPART_UPLOAD_CHUNK_SIZE", str(part_size))
    data = os.urandom(part_size + 4321)
    (tmp_path / "model.bin").write_bytes(data)
    experiment_id = mlflow_client.create_experiment("s3-mpu")
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_artifact(str(tmp_path / "model.bin"), "weights")
    key = f"{prefix}/{experiment_id}/{run.info.run_id}/artifacts/weights/model.bin"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-2"'), "assembled by S3 from the client's two parts"
    assert not s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads")
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=f"{run.info.artifact_uri}/weights/model.bin", dst_path=tmp_path / "d"
    )
    assert Path(local).read_bytes() == data


def _copy_error(src: str, dst: str) -> StudioError:
    with pytest.raises(StudioError) as raised:
        get_artifact_store().copy(src, dst)
    return raised.value


def test_copy_is_server_side(proxy, s3, prefix, monkeypatch):
    proxy.put("1/r/artifacts/model/MLmodel", b"m")
    proxy.put("1/r/artifacts/model/data/w.bin", b"weights")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/r/artifacts/model/.studio-tmp-1", Body=b"partial")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/r/artifacts/model/data/.studio-x/y", Body=b"partial")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/r/artifacts/model/empty-folder/", Body=b"")  # a folder marker
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/r/artifacts/model-not-under/x", Body=b"x")
    store = get_artifact_store()

    def no_download(**kwargs: Any) -> None:
        raise AssertionError("the copy must not read the bytes through Studio")

    with monkeypatch.context() as patched:
        patched.setattr(store.client, "get_object", no_download)
        assert store.copy("1/r/artifacts/model", "registry/1/v") == (2, len(b"m") + len(b"weights"))
    assert {k: v for k, v in keys(s3, prefix).items() if k.startswith("registry/")} == {
        "registry/1/v/MLmodel": 1,
        "registry/1/v/data/w.bin": 7,
    }
    proxy.put("1/r/artifacts/model/data/w.bin", b"changed")
    assert body(proxy.get("registry/1/v/data/w.bin")) == b"weights"
    assert store.copy("1/r/artifacts/model/MLmodel", "registry/1/file") == (1, 1)
    assert body(proxy.get("registry/1/file")) == b"m"


def test_copy_of_an_object_past_the_multipart_threshold(proxy, s3, prefix):
    data = os.urandom(9 * 1024 * 1024)  # boto3's managed copy goes multipart (UploadPartCopy) from 8 MiB
    proxy.put("1/m/big.bin", data)
    assert get_artifact_store().copy("1/m", "registry/1/v") == (1, len(data))
    head = s3.head_object(Bucket=BUCKET, Key=f"{prefix}/registry/1/v/big.bin")
    assert head["ContentLength"] == len(data)
    assert "-" in head["ETag"], "copied part by part on the server"
    assert body(proxy.get("registry/1/v/big.bin")) == data


def test_copy_failing_halfway_removes_what_it_copied(proxy, s3, prefix, monkeypatch):
    for name in ("a", "b", "c"):
        proxy.put(f"1/m/{name}.txt", name.encode())
    store = get_artifact_store()
    real_copy, calls = store.client.copy, []

    def fail_on_the_third(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        if len(calls) == 3:
            raise ConnectionError("the endpoint went away")
        real_copy(*args, **kwargs)

    monkeypatch.setattr(store.client, "copy", fail_on_the_third)
    with pytest.raises(ConnectionError):
        store.copy("1/m", "registry/1/v")
    assert len(calls) == 3
    assert keys(s3, prefix) == {"1/m/a.txt": 1, "1/m/b.txt": 1, "1/m/c.txt": 1}


def test_copy_refusals(proxy, s3, prefix):
    proxy.put("1/d/f.txt", b"x")
    proxy.put("1/taken/g.txt", b"y")
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/1/reserved/.studio-tmp-1", Body=b"partial")
    for src, dst, code in [
        ("1/missing", "registry/x", "RESOURCE_DOES_NOT_EXIST"),
        ("1/reserved", "registry/x", "RESOURCE_DOES_NOT_EXIST"),
        ("1/d", "1/taken", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/taken/g.txt", "INVALID_PARAMETER_VALUE"),
        ("1/d", "1/d/sub", "INVALID_PARAMETER_VALUE"),
        ("", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "", "INVALID_PARAMETER_VALUE"),
        ("1/../..", "registry/x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "../x", "INVALID_PARAMETER_VALUE"),
        ("1/d", "%2e%2e/x", "INVALID_PARAMETER_VALUE"),
    ]:
        assert _copy_error(src, dst).error_code == code, (src, dst)
    assert _copy_error("1/d", "1/taken").message == "Cannot copy to '1/taken': something is there already"
    assert keys(s3, prefix) == {"1/d/f.txt": 1, "1/taken/g.txt": 1, "1/reserved/.studio-tmp-1": 7}
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="x").get("KeyCount") == 0


def test_registry_folder_is_read_only_on_s3(proxy, s3, prefix):
    get_artifact_store().write("registry/1/v/MLmodel", io.BytesIO(b"m"))
    for path in ("registry/1/v/MLmodel", "./registry/1/v/MLmodel", "registry%2F1%2Fv%2FMLmodel"):
        url = f"/api/2.0/mlflow-artifacts/artifacts/{path}"
        assert_error(proxy.client.put(url, b"x", content_type="text/plain"), 403, "PERMISSION_DENIED")
        assert_error(proxy.client.delete(url), 403, "PERMISSION_DENIED")
    assert keys(s3, prefix) == {"registry/1/v/MLmodel": 1}
    assert body(proxy.get("registry/1/v/MLmodel")) == b"m"
    assert proxy.list("registry/1/v") == {"files": [{"path": "MLmodel", "is_dir": False, "file_size": 1}]}
