"""Artifact paths that try to leave a run's folder: encoded slashes, NUL bytes, backslashes, absolute paths, raw
``../`` over HTTP and symlinks on disk, through the artifact proxy, the tracking API and the run's artifact pages.

tests/tracking/test_artifacts.py and test_pages_artifacts.py already cover plain ``../``, ``%2e%2e``, double
encoding and ``/etc/passwd`` on each verb; this adds what they do not, and checks the bytes never come back."""

from __future__ import annotations

import http.client
import socket
import urllib.parse
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.test import Client

from tests.conftest import ApiClient

PROXY = "/api/2.0/mlflow-artifacts/"
SECRET = b"top secret outside the store"
NEIGHBOUR = b"another run's artifact"

# Each decodes (once, twice, or as the filesystem would read it) to a path out of where it is used.
ESCAPES = [
    "..%2f..%2foutside%2fsecret.txt",
    "%2e%2e%2f%2e%2e%2foutside%2fsecret.txt",
    "..%252f..%252foutside%252fsecret.txt",
    "%25252e%25252e/outside/secret.txt",
    "..%5c..%5coutside%5csecret.txt",
    "..\\..\\outside\\secret.txt",
    "sub/%00/../../outside/secret.txt",
    "secret.txt%00.png",
    "C:%5cWindows%5cwin.ini",
]


def _envelope(response: Any) -> None:
    """MLflow's 400 INVALID_PARAMETER_VALUE envelope."""
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert orjson.loads(response.content)["error_code"] == "INVALID_PARAMETER_VALUE"


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture
def store(settings: Any) -> Path:
    return Path(settings.STUDIO_ARTIFACT_ROOT)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the artifact store with a secret in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_bytes(SECRET)
    return folder


@pytest.fixture
def runs(api: ApiClient, experiment_id: str, store: Path) -> tuple[str, Path, str]:
    """A run with an artifact, and a neighbouring run of the same experiment with one of its own."""
    run_id, other = (
        api.post("runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"]["run_id"]
        for name in ("victim", "neighbour")
    )
    client = Client()
    for run, name, data in ((run_id, "fine.txt", b"fine"), (other, "secret.txt", NEIGHBOUR)):
        path = f"{PROXY}artifacts/{experiment_id}/{run}/artifacts/{name}"
        assert client.put(path, data, content_type="application/octet-stream").status_code == 200
    return run_id, store / experiment_id / run_id / "artifacts", other


def _untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == SECRET


# --- the artifact proxy ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("escape", ESCAPES)
def test_proxy_refuses_every_verb_on_an_escaping_path(db: None, store: Path, outside: Path, escape: str) -> None:
    (store / "1").mkdir(parents=True)
    client = Client()
    url = f"{PROXY}artifacts/1/{escape}"
    _envelope(client.get(url))
    _envelope(client.put(url, b"pwned", content_type="application/octet-stream"))
    _envelope(client.delete(url))
    _envelope(client.get(f"{PROXY}artifacts", {"path": urllib.parse.unquote(escape)}))
    _envelope(client.post(f"{PROXY}mpu/create/1/{escape}", {"path": "x.bin", "num_parts": 1}, "application/json"))
    _untouched(outside)
    assert not any((store / "1").iterdir())


def test_proxy_refuses_absolute_paths_to_a_file_out_of_the_store(db: None, outside: Path) -> None:
    # The secret's own absolute path (not /etc/passwd: a test run as root must never risk writing that).
    absolute = str(outside / "secret.txt")
    client = Client()
    for spelled in (absolute, urllib.parse.quote(absolute, safe=""), "%252f" + urllib.parse.quote(absolute[1:])):
        for response in (
            client.get(f"{PROXY}artifacts/{spelled}"),
            client.put(f"{PROXY}artifacts/{spelled}", b"pwned", content_type="application/octet-stream"),
            client.delete(f"{PROXY}artifacts/{spelled}"),
        ):
            assert response.status_code in (400, 404), (spelled, response.status_code)
            assert SECRET not in _body(response)
        _envelope(client.get(f"{PROXY}artifacts", {"path": absolute}))
    _untouched(outside)


def test_tracking_list_artifacts_refuses_escaping_paths(api: ApiClient, runs: tuple[str, Path, str]) -> None:
    run_id, _, other = runs
    for escape in [*ESCAPES, f"../../{other}/artifacts"]:
        query = {"run_id": run_id, "path": urllib.parse.unquote(escape)}
        api.error("GET", "artifacts/list", query, 400, "INVALID_PARAMETER_VALUE")


# --- the run's artifact pages ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("escape", [*ESCAPES, "../../{other}/artifacts/secret.txt", "..%2f..%2f{other}%2fartifacts"])
def test_run_pages_never_serve_out_of_the_run_folder(
    client: Client, runs: tuple[str, Path, str], outside: Path, escape: str
) -> None:
    run_id, _, other = runs
    escape = escape.format(other=other)
    base = f"/runs/{run_id}/artifacts/"
    for endpoint in ("raw", "download"):
        response = client.get(f"{base}{endpoint}/{escape}")
        assert response.status_code in (400, 404), (endpoint, response.status_code)
        assert SECRET not in _body(response) and NEIGHBOUR not in _body(response)
    for endpoint in ("list", "preview", "zip"):
        response = client.get(f"{base}{endpoint}", {"path": urllib.parse.unquote(escape)})
        assert response.status_code in (400, 404), (endpoint, escape, response.status_code)
        assert SECRET not in _body(response) and NEIGHBOUR not in _body(response)


def _raw_get(url: str, target: bytes) -> tuple[int, bytes]:
    """GET a request target exactly as given: clients squash ``../`` before sending, an attacker's does not."""
    parsed = urllib.parse.urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


@pytest.mark.live
def test_literal_dot_dot_and_nul_over_http_to_the_run_pages(
    live_server: Any, runs: tuple[str, Path, str], outside: Path
) -> None:
    run_id, _, other = runs
    base = f"/runs/{run_id}/artifacts".encode()
    targets = [
        base + b"/raw/../../../outside/secret.txt",
        base + b"/download/../../" + other.encode() + b"/artifacts/secret.txt",
        base + b"/raw/fine.txt%00.html",
        base + b"/preview?path=../../" + other.encode() + b"/artifacts/secret.txt",
        base + b"/zip?path=..%2F..%2F" + other.encode(),
    ]
    for target in targets:
        status, payload = _raw_get(live_server.url, target)
        assert status in (400, 404), (target, status)
        assert SECRET not in payload and NEIGHBOUR not in payload


# --- symlinks on disk ------------------------------------------------------------------------------------------------


def test_a_symlink_out_of_the_store_is_never_served_listed_or_zipped(
    client: Client, runs: tuple[str, Path, str], outside: Path
) -> None:
    run_id, folder, _ = runs
    (folder / "linked-dir").symlink_to(outside, target_is_directory=True)
    (folder / "linked-file.txt").symlink_to(outside / "secret.txt")
    base = f"/runs/{run_id}/artifacts/"
    for path in ("linked-file.txt", "linked-dir/secret.txt"):
        for endpoint in ("raw", "download"):
            response = client.get(f"{base}{endpoint}/{path}")
            assert response.status_code == 400, (path, endpoint, response.status_code)
            assert SECRET not in _body(response)
        preview = client.get(f"{base}preview", {"path": path})
        assert preview.status_code == 400 and SECRET not in preview.content
    assert client.get(f"{base}list", {"path": "linked-dir"}).status_code == 400
    names = [entry["name"] for entry in client.get(f"{base}list").json()["entries"]]
    assert names == ["fine.txt"]  # the links are not even shown
    archive = zipfile.ZipFile(BytesIO(_body(client.get(f"{base}zip"))))
    assert archive.namelist() == ["victim-artifacts/fine.txt"]
    assert client.get(f"{base}zip", {"path": "linked-dir"}).status_code == 400
    # Writing through the link is refused by the proxy too, and deleting through the API.
    experiment_path = f"{folder.parent.parent.name}/{run_id}/artifacts"
    put = client.put(f"{PROXY}artifacts/{experiment_path}/linked-dir/new.txt", b"x", "application/octet-stream")
    _envelope(put)
    studio_api = "/api/2.0/studio/runs/delete-artifact"
    deleted = client.post(studio_api, {"run_id": run_id, "path": "linked-dir/secret.txt"}, "application/json")
    assert deleted.status_code in (400, 404), deleted.content
    _untouched(outside)


def test_a_symlink_into_a_neighbouring_run_is_not_followed(client: Client, runs: tuple[str, Path, str]) -> None:
    """Permissions are judged on the run's experiment: a link into another run's folder would step around them."""
    run_id, folder, other = runs
    (folder / "neighbour").symlink_to(folder.parent.parent / other / "artifacts", target_is_directory=True)
    (folder / "neighbour-file.txt").symlink_to(folder.parent.parent / other / "artifacts" / "secret.txt")
    for url in ("raw/neighbour/secret.txt", "raw/neighbour-file.txt"):
        assert NEIGHBOUR not in _body(client.get(f"/runs/{run_id}/artifacts/{url}")), url
    archive = zipfile.ZipFile(BytesIO(_body(client.get(f"/runs/{run_id}/artifacts/zip"))))
    assert not [name for name in archive.namelist() if "neighbour" in name]
    listed = client.get(f"/api/2.0/mlflow/artifacts/list?run_id={run_id}")
    assert "neighbour" not in listed.content.decode()
