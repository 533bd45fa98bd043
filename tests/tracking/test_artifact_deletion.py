"""Deleting one artifact of a run: the domain function and the REST extension ``runs/delete-artifact``."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings
from django.test import Client

from studio.errors import StudioError
from studio.models import AuditEntry
from tests.conftest import ApiClient
from tests.tracking.test_artifacts_s3 import keys, prefix, s3, s3_endpoint  # noqa: F401 - S3 fixtures
from tests.tracking.test_purge import upload
from tracking.artifacts import get_artifact_store, proxy_path
from tracking.models import Run, StorageUsage
from tracking.store import artifact_deletion, runs, storage

FILES = {
    "a.txt": b"aaa",
    "dir/b.txt": b"bb",
    "dir/sub/c.bin": b"c" * 10,
    "keep.txt": b"k",
}


@pytest.fixture
def studio_api(db: None) -> ApiClient:
    return ApiClient("/api/2.0/studio/")


@pytest.fixture
def folder(api: ApiClient, run_id: str) -> Path:
    """The run's artifact folder on disk, holding FILES, uploaded through the proxy."""
    return upload(api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"], FILES)


def on_disk(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def delete(studio_api: ApiClient, run_id: str, path: str, **extra: Any) -> dict:
    return studio_api.post("runs/delete-artifact", {"run_id": run_id, "path": path, **extra})


def refused(studio_api: ApiClient, run_id: str, path: Any, status: int, error_code: str, **extra: Any) -> str:
    """Assert the deletion is refused with MLflow's envelope; returns the message."""
    payload = {"run_id": run_id, "path": path, **extra}
    return studio_api.error("POST", "runs/delete-artifact", payload, status, error_code)


def experiment_at(api: ApiClient, location: str) -> str:
    """A run in a new experiment whose artifact location is ``location``."""
    experiment = api.post("experiments/create", {"name": location, "artifact_location": location})["experiment_id"]
    return api.post("runs/create", {"experiment_id": experiment})["run"]["info"]["run_id"]


# --- what goes -------------------------------------------------------------------------------------------------------


def test_delete_a_file_removes_only_that_file(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    assert delete(studio_api, run_id, "a.txt") == {"files_deleted": 1, "bytes_deleted": 3}
    assert on_disk(folder) == {"dir/b.txt", "dir/sub/c.bin", "keep.txt"}


def test_delete_a_folder_removes_everything_under_it(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    assert delete(studio_api, run_id, "dir") == {"files_deleted": 2, "bytes_deleted": 12}
    assert on_disk(folder) == {"a.txt", "keep.txt"}
    assert not (folder / "dir").exists()


def test_delete_a_nested_file_with_a_normalized_path(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    assert delete(studio_api, run_id, "./dir//sub/c.bin") == {"files_deleted": 1, "bytes_deleted": 10}
    assert on_disk(folder) == {"a.txt", "dir/b.txt", "keep.txt"}
    assert AuditEntry.objects.get().name == "dir/sub/c.bin"


def test_delete_an_empty_folder(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    (folder / "empty").mkdir()
    assert delete(studio_api, run_id, "empty") == {"files_deleted": 0, "bytes_deleted": 0}
    assert not (folder / "empty").exists()


def test_the_page_prefix_answers_too(run_id: str, folder: Path) -> None:
    ajax = ApiClient("/ajax-api/2.0/studio/")
    assert delete(ajax, run_id, "keep.txt") == {"files_deleted": 1, "bytes_deleted": 1}
    assert "keep.txt" not in on_disk(folder)


def test_a_deleted_run_can_lose_an_artifact_before_it_is_purged(
    studio_api: ApiClient, run_id: str, folder: Path
) -> None:
    runs.delete_run(run_id=run_id)
    assert delete(studio_api, run_id, "dir/sub") == {"files_deleted": 1, "bytes_deleted": 10}
    assert on_disk(folder) == {"a.txt", "dir/b.txt", "keep.txt"}


def test_dry_run_counts_and_deletes_nothing(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    assert delete(studio_api, run_id, "dir", dry_run=True) == {"files_deleted": 2, "bytes_deleted": 12, "dry_run": True}
    assert delete(studio_api, run_id, "a.txt", dry_run=True)["bytes_deleted"] == 3
    assert on_disk(folder) == set(FILES)
    assert not AuditEntry.objects.exists()


def test_dry_run_refuses_what_the_deletion_refuses(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    refused(studio_api, run_id, "", 400, "INVALID_PARAMETER_VALUE", dry_run=True)
    refused(studio_api, run_id, "nope", 404, "RESOURCE_DOES_NOT_EXIST", dry_run=True)


# --- the audit log and storage usage ---------------------------------------------------------------------------------


def test_a_deletion_is_audited_with_who_and_how_much(run_id: str, folder: Path) -> None:
    credentials = base64.b64encode(b"alice:secret").decode()
    response = Client().post(
        "/api/2.0/studio/runs/delete-artifact",
        orjson.dumps({"run_id": run_id, "path": "dir"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Basic {credentials}",
    )
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get()
    experiment_id = str(Run.objects.get(pk=run_id).experiment_id)
    assert (entry.action, entry.user, entry.kind, entry.object_id, entry.name) == (
        AuditEntry.Action.DELETE_ARTIFACT,
        "alice",
        "artifact",
        run_id,
        "dir",
    )
    assert (entry.files, entry.bytes) == (2, 12)
    assert entry.detail == {"run_id": run_id, "path": "dir", "experiment_id": experiment_id}


def test_a_refused_deletion_writes_no_audit_entry(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    refused(studio_api, run_id, "nope", 404, "RESOURCE_DOES_NOT_EXIST")
    refused(studio_api, run_id, "../x", 400, "INVALID_PARAMETER_VALUE")
    assert not AuditEntry.objects.exists()


def test_the_runs_storage_usage_follows(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(bytes=16, files=4)
    row = StorageUsage.objects.get(path=proxy_path(Run.objects.get(pk=run_id).artifact_uri))
    assert not row.stale
    delete(studio_api, run_id, "dir")
    row.refresh_from_db()
    assert row.stale
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(bytes=4, files=2)


# --- what is refused -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["", ".", "./", "./."])
def test_the_root_is_refused(studio_api: ApiClient, run_id: str, folder: Path, root: str) -> None:
    message = refused(studio_api, run_id, root, 400, "INVALID_PARAMETER_VALUE")
    assert message == "Cannot delete all the artifacts of a run at once: delete the run instead"
    assert on_disk(folder) == set(FILES)


@pytest.mark.parametrize(
    "bad",
    [
        "../x",
        "%2e%2e/x",
        "%252e%252e/x",
        "dir/../../x",
        "dir/..",
        "/etc/passwd",
        "C:\\Windows",
        "a\\..\\x",
        ".studio-uploads",
        "a\x00b",
    ],
)
def test_traversal_is_refused(studio_api: ApiClient, run_id: str, folder: Path, bad: str) -> None:
    message = refused(studio_api, run_id, bad, 400, "INVALID_PARAMETER_VALUE")
    # A NUL never gets as far as the path check: the request reader refuses it in any field.
    nul = "Request parameters must not contain NUL (0x00) characters."
    assert message == (nul if "\x00" in bad else "Invalid path")
    assert on_disk(folder) == set(FILES)


def test_a_neighbouring_run_is_out_of_reach(
    api: ApiClient, studio_api: ApiClient, experiment_id: str, run_id: str, folder: Path
) -> None:
    other = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    other_folder = upload(api.get("runs/get", {"run_id": other})["run"]["info"]["artifact_uri"], {"secret.txt": b"s"})
    for bad in (f"../../{other}/artifacts/secret.txt", f"..%2F..%2F{other}%2Fartifacts%2Fsecret.txt"):
        refused(studio_api, run_id, bad, 400, "INVALID_PARAMETER_VALUE")
    assert on_disk(other_folder) == {"secret.txt"}


def test_a_symlink_out_of_the_root_is_refused(studio_api: ApiClient, run_id: str, folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_bytes(b"p")
    (folder / "link").symlink_to(outside)
    refused(studio_api, run_id, "link/precious.txt", 400, "INVALID_PARAMETER_VALUE")
    assert (outside / "precious.txt").exists()


def test_nothing_at_the_path_is_404(studio_api: ApiClient, run_id: str, folder: Path) -> None:
    message = refused(studio_api, run_id, "dir/nope.txt", 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"No such artifact of run {run_id}: 'dir/nope.txt'"


def test_an_unknown_run_is_404(studio_api: ApiClient, db: None) -> None:
    message = refused(studio_api, "f" * 32, "a.txt", 404, "RESOURCE_DOES_NOT_EXIST")
    assert message == f"Run with id={'f' * 32} not found"


def test_missing_fields_and_wrong_method(studio_api: ApiClient, run_id: str) -> None:
    studio_api.error("POST", "runs/delete-artifact", {"path": "a.txt"}, 400, "INVALID_PARAMETER_VALUE")
    message = studio_api.error("POST", "runs/delete-artifact", {"run_id": run_id}, 400, "INVALID_PARAMETER_VALUE")
    assert "'path'" in message
    refused(studio_api, run_id, 3, 400, "INVALID_PARAMETER_VALUE")
    studio_api.error("GET", "runs/delete-artifact", {"run_id": run_id, "path": "a.txt"}, 404, "ENDPOINT_NOT_FOUND")


def test_artifacts_outside_studios_store_are_refused(api: ApiClient, studio_api: ApiClient) -> None:
    run_id = experiment_at(api, "s3://elsewhere/prefix")
    message = refused(studio_api, run_id, "a.txt", 400, "INVALID_PARAMETER_VALUE")
    assert "not in Studio's store" in message


def test_a_run_root_in_the_registry_folder_is_read_only(api: ApiClient, studio_api: ApiClient) -> None:
    run_id = experiment_at(api, "mlflow-artifacts:/registry/odd")
    root = proxy_path(Run.objects.get(pk=run_id).artifact_uri)
    get_artifact_store().write(f"{root}/a.txt", io.BytesIO(b"registry's"))
    refused(studio_api, run_id, "a.txt", 403, "PERMISSION_DENIED")
    assert (Path(settings.STUDIO_ARTIFACT_ROOT) / root / "a.txt").read_bytes() == b"registry's"


def test_a_registered_version_keeps_its_files(api: ApiClient, studio_api: ApiClient, run_id: str) -> None:
    info = api.get("runs/get", {"run_id": run_id})["run"]["info"]
    upload(info["artifact_uri"], {"model/MLmodel": b"flavors: {}\n", "model/model.pkl": b"weights"})
    api.post("registered-models/create", {"name": "m"})
    api.post("model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id})
    assert delete(studio_api, run_id, "model") == {"files_deleted": 2, "bytes_deleted": 19}
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    copy = Path(settings.STUDIO_ARTIFACT_ROOT) / proxy_path(uri)
    assert on_disk(copy) == {"MLmodel", "model.pkl"}


# --- the domain function -----------------------------------------------------------------------------------------


def test_the_domain_function_returns_files_and_bytes(run_id: str, folder: Path) -> None:
    assert artifact_deletion.measure_run_artifact(run_id=run_id, path="dir") == (2, 12)
    assert artifact_deletion.delete_run_artifact(run_id=run_id, path="dir", user="bob") == (2, 12)
    assert AuditEntry.objects.get().user == "bob"
    with pytest.raises(StudioError) as raised:
        artifact_deletion.delete_run_artifact(run_id=run_id, path="dir")
    assert raised.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_a_failed_delete_still_marks_the_usage_stale(
    run_id: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed: list[str] = []
    monkeypatch.setattr(storage, "record_change", changed.append)

    def broken(self: Any, path: str) -> None:
        raise OSError("disk went away")

    monkeypatch.setattr(type(get_artifact_store()), "delete", broken)
    with pytest.raises(OSError, match="disk went away"):
        artifact_deletion.delete_run_artifact(run_id=run_id, path="dir")
    assert changed == [f"{proxy_path(Run.objects.get(pk=run_id).artifact_uri)}/dir"]
    assert not AuditEntry.objects.exists()


# --- S3 --------------------------------------------------------------------------------------------------------------


def test_delete_a_folder_on_s3(studio_api: ApiClient, run_id: str, prefix: str, s3: Any) -> None:  # noqa: F811
    info = Client().get("/api/2.0/mlflow/runs/get", {"run_id": run_id}).json()["run"]["info"]
    root = proxy_path(info["artifact_uri"])
    for name, data in FILES.items():
        get_artifact_store().write(f"{root}/{name}", io.BytesIO(data))
    assert delete(studio_api, run_id, "dir", dry_run=True)["files_deleted"] == 2
    assert delete(studio_api, run_id, "dir") == {"files_deleted": 2, "bytes_deleted": 12}
    assert set(keys(s3, f"{prefix}/{root}")) == {"a.txt", "keep.txt"}
    refused(studio_api, run_id, "dir", 404, "RESOURCE_DOES_NOT_EXIST")
