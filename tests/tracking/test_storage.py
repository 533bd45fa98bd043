"""Storage usage: the stores' walk, rows kept current by writes through the proxy, rescans, reconcile, forget."""

from __future__ import annotations

import os
import threading
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.tracking.test_artifacts_s3 import BUCKET, prefix, s3, s3_endpoint  # noqa: F401 - fixtures
from tests.tracking.test_purge import upload
from tracking import artifacts
from tracking.artifacts import LocalArtifactStore, get_artifact_store
from tracking.models import Run, StorageKind, StorageUsage, StoredFile
from tracking.store import runs, storage
from tracking.tasks import reconcile_storage_usage, refresh_storage_usage

PROXY = "/api/2.0/mlflow-artifacts/"


def root_of(run_id: str) -> str:
    return artifacts.proxy_path(Run.objects.get(pk=run_id).artifact_uri)


def row_of(run_id: str) -> StorageUsage:
    return StorageUsage.objects.get(kind=StorageKind.RUN, owner_id=run_id)


def put(path: str, data: bytes) -> None:
    response = Client().put(PROXY + "artifacts/" + urllib.parse.quote(path), data, "application/octet-stream")
    assert response.status_code == 200, response.content


def new_run(api: Any, experiment_id: str, name: str = "r") -> str:
    return api.post("runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"]["run_id"]


# --- walk ------------------------------------------------------------------------------------------------------------


def test_local_walk_lists_every_file_below_a_folder_with_sizes(tmp_path):
    root = tmp_path / "root"
    (root / "a/b").mkdir(parents=True)
    (root / "a/top.txt").write_bytes(b"123")
    (root / "a/b/deep.bin").write_bytes(b"x" * 10)
    (root / "a/.studio-tmp-1").write_bytes(b"partial")  # a write in progress
    (root / ".studio-uploads/u").mkdir(parents=True)
    (root / ".studio-uploads/u/00001-x").write_bytes(b"part")
    store = LocalArtifactStore(root)
    assert sorted(store.walk("a")) == [("b/deep.bin", 10), ("top.txt", 3)]
    assert sorted(store.walk("")) == [("a/b/deep.bin", 10), ("a/top.txt", 3)]
    assert list(store.walk("a/top.txt")) == []
    assert list(store.walk("missing")) == []


def test_local_walk_never_follows_symlinks_out_of_the_root_or_round_a_cycle(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "a/b").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret").write_bytes(b"s" * 100)
    (root / "a/f.txt").write_bytes(b"12")
    os.symlink(outside / "secret", root / "a/out-file")
    os.symlink(outside, root / "a/out-dir")
    os.symlink(root / "a", root / "a/b/loop")
    os.symlink(root / "a/f.txt", root / "a/link")
    os.symlink(tmp_path / "nowhere", root / "a/dangling")
    store = LocalArtifactStore(root)
    assert sorted(store.walk("a")) == [("f.txt", 2), ("link", 2)]
    with pytest.raises(Exception, match="Invalid path"):
        list(store.walk("../outside"))


@pytest.mark.django_db
def test_s3_walk_lists_every_key_below_a_prefix_in_pages(s3, prefix):  # noqa: F811
    store = get_artifact_store()
    store.PAGE_SIZE = 2  # several pages
    for key, size in {"a/f.txt": 3, "a/b/g": 1, "a/b/h": 2, "a/.studio-x/p": 4, "x": 5}.items():
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{key}", Body=b"z" * size)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/a/folder/", Body=b"")  # a folder marker
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}-other/a/f.txt", Body=b"elsewhere")
    assert list(store.walk("a")) == [("b/g", 1), ("b/h", 2), ("f.txt", 3)]
    assert list(store.walk("")) == [("a/b/g", 1), ("a/b/h", 2), ("a/f.txt", 3), ("x", 5)]
    assert list(store.walk("x")) == []
    assert list(store.walk("missing")) == []


def test_usage_and_reconcile_on_s3(api, run_id, s3, prefix):  # noqa: F811
    root = root_of(run_id)
    put(f"{root}/model/weights.bin", b"w" * 300)
    put(f"{root}/notes.txt", b"n" * 5)
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(305, 2)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{root}/bypassed", Body=b"b" * 20)  # around Studio
    assert storage.reconcile().bytes == 325
    assert (row_of(run_id).bytes, row_of(run_id).files, row_of(run_id).stale) == (325, 3, False)


# --- record_change and usage_of ---------------------------------------------------------------------------------------


def test_uploads_make_the_row_stale_and_usage_of_measures_exact_bytes(api, run_id):
    root = root_of(run_id)
    put(f"{root}/a.txt", b"a" * 10)
    put(f"{root}/d/b.bin", b"b" * 1000)
    row = row_of(run_id)
    assert (row.path, row.stale, row.label, row.experiment_id) == (root, True, "r", Run.objects.get().experiment_id)
    assert storage.usage_of("run", [run_id]) == {run_id: storage.Usage(bytes=1010, files=2)}
    row.refresh_from_db()
    assert (row.bytes, row.files, row.stale) == (1010, 2, False)
    assert list(row.largest_files.order_by("-size").values_list("path", "size")) == [("d/b.bin", 1000), ("a.txt", 10)]


def test_overwrite_and_delete_through_the_proxy_update_usage(api, run_id):
    root = root_of(run_id)
    put(f"{root}/a.txt", b"a" * 10)
    put(f"{root}/d/b.bin", b"b" * 1000)
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(1010, 2)
    put(f"{root}/a.txt", b"a" * 3)
    assert row_of(run_id).stale
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(1003, 2)
    assert Client().delete(PROXY + f"artifacts/{root}/d").status_code == 200
    assert row_of(run_id).stale
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(3, 1)
    assert list(row_of(run_id).largest_files.values_list("path", flat=True)) == ["a.txt"]


def test_multipart_completion_marks_the_root_stale(api, run_id, settings):
    settings.STUDIO_MULTIPART_UPLOADS = True
    root = root_of(run_id)
    storage.usage_of("run", [run_id])
    assert not row_of(run_id).stale
    client = Client()
    created = client.post(PROXY + f"mpu/create/{root}", {"path": "/tmp/w.bin", "num_parts": 1}, "application/json")
    credential = created.json()["credentials"][0]
    part = client.put(urllib.parse.urlparse(credential["url"]).path, b"w" * 77, "application/octet-stream")
    assert not row_of(run_id).stale  # a staged part is not a file yet
    parts = [{"part_number": 1, "etag": part["ETag"]}]
    complete = {"path": "/tmp/w.bin", "upload_id": created.json()["upload_id"], "parts": parts}
    assert client.post(PROXY + f"mpu/complete/{root}", complete, "application/json").status_code == 200
    assert row_of(run_id).stale
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(77, 1)


def test_logged_model_roots_are_placed_by_their_id(api, experiment_id):
    info = api.post("logged-models", {"experiment_id": experiment_id, "name": "clf"})["model"]["info"]
    upload(info["artifact_uri"], {"MLmodel": b"flavors: {}\n", "model.pkl": b"p" * 500})
    row = StorageUsage.objects.get(kind=StorageKind.LOGGED_MODEL, owner_id=info["model_id"])
    assert (row.path, row.label, row.stale) == (artifacts.proxy_path(info["artifact_uri"]), "clf", True)
    assert storage.usage_of("logged_model", [info["model_id"]])[info["model_id"]] == storage.Usage(512, 2)


def test_record_change_on_paths_it_cannot_place_does_nothing(api, run_id, experiment_id):
    root = root_of(run_id)
    for path in (
        "",
        "loose/file.txt",
        f"{experiment_id}/{'0' * 32}/artifacts/x",  # a run id no run has
        f"{experiment_id}/{run_id}/elsewhere/x",  # the run's folder, outside its artifacts root
        f"{experiment_id}/models/m-{'1' * 32}/artifacts/x",
        "registry/1/abc/MLmodel",
        "../escape",
        "a/.studio-x",
        "%2e%2e/x",
    ):
        storage.record_change(path)
    assert not StorageUsage.objects.exists()
    # A folder above a root: the roots inside it changed.
    storage.usage_of("run", [run_id])
    assert not row_of(run_id).stale
    storage.record_change(experiment_id)
    assert row_of(run_id).stale
    assert root.startswith(experiment_id + "/")


def test_runs_outside_studios_store_have_no_usage(api):
    located = api.post("experiments/create", {"name": "s3", "artifact_location": "s3://bucket/x"})["experiment_id"]
    run_id = new_run(api, located)
    assert storage.usage_of("run", [run_id, "f" * 32]) == {run_id: storage.Usage(), "f" * 32: storage.Usage()}
    assert not StorageUsage.objects.exists()


def test_record_change_costs_one_query_once_the_row_exists(api, run_id, django_assert_max_num_queries):
    root = root_of(run_id)
    with django_assert_max_num_queries(3):  # the UPDATE finds no row: the run, then the upsert
        storage.record_change(f"{root}/a/b.txt")
    with django_assert_max_num_queries(1):
        storage.record_change(f"{root}/a/c.txt")
    assert row_of(run_id).stale


def test_usage_of_reads_fresh_rows_without_walking(api, run_id, django_assert_num_queries, monkeypatch):
    upload(Run.objects.get().artifact_uri, {"a": b"12"})
    storage.usage_of("run", [run_id])
    monkeypatch.setattr(storage, "measure", lambda path: pytest.fail("walked a fresh root"))
    with django_assert_num_queries(1):
        assert storage.usage_of("run", [run_id]) == {run_id: storage.Usage(2, 1)}


def test_track_root_and_model_version_usage(api):
    (Path(settings.STUDIO_ARTIFACT_ROOT) / "registry/7/abc/sub").mkdir(parents=True)
    (Path(settings.STUDIO_ARTIFACT_ROOT) / "registry/7/abc/sub/model.pkl").write_bytes(b"m" * 40)
    storage.track_root(path="registry/7/abc", kind="model_version", owner_id="12", label="clf v1")
    row = StorageUsage.objects.get(kind=StorageKind.MODEL_VERSION)
    assert (row.path, row.owner_id, row.label, row.stale) == ("registry/7/abc", "12", "clf v1", True)
    assert storage.usage_of("model_version", ["12", "13"]) == {"12": storage.Usage(40, 1), "13": storage.Usage()}
    assert not StorageUsage.objects.get().stale


def test_forget_drops_the_rows_of_these_roots_and_of_roots_inside_them(api, experiment_id):
    kept, gone = new_run(api, experiment_id, "kept"), new_run(api, experiment_id, "gone")
    for run_id in (kept, gone):
        upload(Run.objects.get(pk=run_id).artifact_uri, {"f": b"1"})
    storage.track_root(path="registry/3/aaa", kind="model_version", owner_id="1")
    storage.track_root(path="registry/3/bbb", kind="model_version", owner_id="2")
    storage.track_root(path="registry/30/ccc", kind="model_version", owner_id="3")
    storage.usage_of("run", [kept, gone])
    assert StoredFile.objects.count() == 2
    storage.forget([root_of(gone), "registry/3", "", "../x"])
    assert sorted(StorageUsage.objects.values_list("owner_id", flat=True)) == sorted(["3", kept])
    assert StoredFile.objects.count() == 1


def test_purge_then_forget_leaves_no_row(api, run_id):
    upload(Run.objects.get().artifact_uri, {"f": b"1"})
    storage.usage_of("run", [run_id])
    root = root_of(run_id)
    runs.delete_run(run_id=run_id)
    storage.forget([root])
    assert not StorageUsage.objects.exists()


# --- concurrency -----------------------------------------------------------------------------------------------------


def test_a_write_during_a_rescan_keeps_the_row_stale(api, run_id, monkeypatch):
    root = root_of(run_id)
    upload(Run.objects.get().artifact_uri, {"a": b"1"})
    real_measure = storage.measure

    def measure_then_write(path: str) -> storage.Measure:
        found = real_measure(path)  # the walk has passed...
        put(f"{root}/b", b"22")  # ...when another request writes a file
        return found

    monkeypatch.setattr(storage, "measure", measure_then_write)
    assert storage.rescan(row_of(run_id)) == storage.Usage(1, 1)
    row = row_of(run_id)
    assert (row.stale, row.bytes) == (True, 1)  # the numbers of the walk, but not fresh
    monkeypatch.setattr(storage, "measure", real_measure)
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(3, 2)
    assert not row_of(run_id).stale


def test_an_older_scan_never_overwrites_a_newer_one(api, run_id):
    upload(Run.objects.get().artifact_uri, {"a": b"1"})
    row = row_of(run_id)
    old = storage.Measure()
    old.add("gone", 999)
    storage.usage_of("run", [run_id])  # a newer scan finished first
    scanned_at = row_of(run_id).scanned_at
    assert not storage._save_measure(row, old, started=scanned_at - 1)
    assert (row_of(run_id).bytes, row_of(run_id).files) == (1, 1)


def test_a_rescan_in_the_millisecond_of_the_change_waits_for_the_next(api, run_id, monkeypatch):
    upload(Run.objects.get().artifact_uri, {"a": b"1"})
    clock = iter([1_000, 1_000, 1_000, 1_001, 1_001])
    monkeypatch.setattr(storage, "now_ms", lambda: next(clock))
    storage.record_change(f"{root_of(run_id)}/a")  # stamped 1000
    storage.rescan(row_of(run_id))  # 1000 is the change's millisecond: it starts at 1001
    assert (row_of(run_id).stale, row_of(run_id).scanned_at) == (False, 1_001)


def test_concurrent_uploads_and_rescans_end_exact(api, run_id, transactional_db):
    root = root_of(run_id)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(5):
                put(f"{root}/w{n}/{i}", b"x" * (n + 1))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        storage.refresh_stale()
    for thread in threads:
        thread.join()
    assert not errors
    assert storage.usage_of("run", [run_id])[run_id] == storage.Usage(bytes=5 * (1 + 2 + 3), files=15)


# --- refresh and reconcile -------------------------------------------------------------------------------------------


def test_refresh_task_rescans_stale_rows_in_bounded_batches(api, experiment_id):
    run_ids = [new_run(api, experiment_id, f"r{i}") for i in range(3)]
    for run_id in run_ids:
        upload(Run.objects.get(pk=run_id).artifact_uri, {"f": b"abc"})
    assert storage.stale_count() == 3
    assert storage.refresh_stale(limit=2) == 2
    assert storage.stale_count() == 1
    assert refresh_storage_usage() == 1
    assert storage.stale_count() == 0
    assert set(StorageUsage.objects.values_list("bytes", flat=True)) == {3}


def test_reconcile_finds_files_written_around_studio_and_drops_vanished_owners(api, experiment_id):
    seen, fresh, vanished = (new_run(api, experiment_id, name) for name in ("seen", "fresh", "vanished"))
    upload(Run.objects.get(pk=seen).artifact_uri, {"a": b"1"})
    upload(Run.objects.get(pk=vanished).artifact_uri, {"a": b"1"})
    storage.usage_of("run", [seen, vanished])
    storage.track_root(path="registry/1/abc", kind="model_version", owner_id="5")
    disk = Path(settings.STUDIO_ARTIFACT_ROOT)
    (disk / root_of(seen) / "bypassed.bin").write_bytes(b"b" * 100)  # straight to disk, no record_change
    (disk / root_of(fresh)).mkdir(parents=True)
    (disk / root_of(fresh) / "f").write_bytes(b"f" * 7)
    (disk / "registry/1/abc").mkdir(parents=True)
    (disk / "registry/1/abc/MLmodel").write_bytes(b"m" * 9)
    (disk / "orphan").write_bytes(b"o" * 1000)
    Run.objects.filter(pk=vanished).delete()  # gone without a purge through Studio
    result = reconcile_storage_usage()
    assert result == {"roots": 3, "bytes": 117, "files": 4, "created": 1, "dropped": 1, "unattributed_bytes": 1001}
    usage = dict(StorageUsage.objects.values_list("owner_id", "bytes"))
    assert usage == {seen: 101, fresh: 7, "5": 9}
    assert not StorageUsage.objects.filter(stale=True).exists()
    assert StoredFile.objects.get(usage__owner_id=seen, size=100).path == "bypassed.bin"
