"""The trash and purge jobs: plan, purge, resume, keep what is needed; by the service, the API and ``studio gc``."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from registry.models import ModelVersion, RegisteredModel
from registry.store import models as registry_models
from registry.store import versions as registry_versions
from studio import cli
from studio.celery import app as celery_app
from studio.cleanup import gc, jobs
from studio.models import AuditEntry, PurgeItem, PurgeItemState, PurgeJob, PurgeJobStatus
from tests.conftest import ApiClient
from tracking.models import Experiment, LoggedModel, Param, Run, StorageUsage
from tracking.store import experiments, logged_models, runs

PROXY = "/api/2.0/mlflow-artifacts/artifacts/"


def upload(artifact_uri: str, files: dict[str, bytes]) -> None:
    """PUT files under a proxied artifact root as the client does."""
    client = Client()
    root = artifact_uri.removeprefix("mlflow-artifacts:/")
    for name, data in files.items():
        response = client.put(f"{PROXY}{root}/{name}", data, content_type="application/octet-stream")
        assert response.status_code == 200, response.content


def on_disk(artifact_uri: str) -> Path:
    return Path(settings.STUDIO_ARTIFACT_ROOT) / artifact_uri.removeprefix("mlflow-artifacts:/")


def folder_bytes(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def make_run(api: ApiClient, experiment_id: str, files: dict[str, bytes], name: str = "r") -> dict:
    run = api.post("runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"]
    api.post("runs/log-batch", {"run_id": run["run_id"], "params": [{"key": "p", "value": "1"}]})
    upload(run["artifact_uri"], files)
    return run


@pytest.fixture
def doomed(api: ApiClient) -> dict:
    """A deleted experiment: two runs with artifacts, a logged model with files."""
    experiment_id = api.post("experiments/create", {"name": "doomed"})["experiment_id"]
    first = make_run(api, experiment_id, {"a.txt": b"a" * 100, "d/b.bin": b"b" * 1000}, "first")
    second = make_run(api, experiment_id, {"c.txt": b"c" * 10}, "second")
    model = api.post("logged-models", {"experiment_id": experiment_id, "name": "m"})["model"]["info"]
    upload(model["artifact_uri"], {"MLmodel": b"x" * 7})
    experiments.delete_experiment(experiment_id=experiment_id, user="alice")
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / experiment_id
    return {"experiment_id": experiment_id, "runs": [first, second], "model": model, "folder": folder}


def run_to_end(job: PurgeJob) -> PurgeJob:
    finished = jobs.run_job(job.pk)
    assert finished is not None
    return finished


def test_purge_a_deleted_experiment_removes_rows_and_files_and_reports_their_bytes(doomed):
    files, size = folder_bytes(doomed["folder"])
    assert (files, size) == (4, 1117)
    planned = jobs.plan(jobs.Selection(items=(("experiment", doomed["experiment_id"]),)))
    # The logged model, which MLflow's delete_experiment leaves active, goes with the experiment's own item.
    assert [item.kind for item in planned.items] == ["run", "run", "experiment"]
    assert (planned.files, planned.bytes) == (files, size)
    assert doomed["folder"].exists() and Run.objects.count() == 2, "a dry run changes nothing"

    job = run_to_end(jobs.create_job(items=[("experiment", doomed["experiment_id"])], user="admin", enqueue=False))
    assert job.status == PurgeJobStatus.FINISHED
    totals = jobs.summary(job.pk)
    assert (totals["done"], totals["failed"], totals["files"], totals["bytes"]) == (3, 0, files, size)
    assert not Experiment.objects.filter(pk=doomed["experiment_id"]).exists()
    assert not Run.objects.exists() and not Param.objects.exists() and not LoggedModel.objects.exists()
    assert not doomed["folder"].exists()
    assert not StorageUsage.objects.filter(experiment_id=doomed["experiment_id"]).exists()
    purged = AuditEntry.objects.filter(action=AuditEntry.Action.PURGE)
    assert sorted(purged.values_list("kind", flat=True)) == ["experiment", "run", "run"]
    assert sum(purged.values_list("bytes", flat=True)) == size
    assert AuditEntry.objects.get(action=AuditEntry.Action.PURGE_JOB).bytes == size
    # The name is free again, as after `mlflow gc`.
    experiments.create_experiment(name="doomed")


def test_trash_lists_who_deleted_what_and_its_size(doomed, api):
    listed = Client().get("/api/2.0/studio/trash/list", {"kind": "experiment"}).json()
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert (item["id"], item["name"], item["deleted_by"], item["bytes"]) == (
        doomed["experiment_id"],
        "doomed",
        "alice",
        1117,
    )
    counts = Client().get("/api/2.0/studio/trash/list").json()["counts"]
    assert counts["experiment"] == 1 and counts["run"] == 0, "runs of a deleted experiment go with it"


def test_purge_keeps_active_things_and_registered_versions(api, doomed):
    live_experiment = api.post("experiments/create", {"name": "live"})["experiment_id"]
    keep = make_run(api, live_experiment, {"keep.txt": b"k"})
    gone = make_run(api, live_experiment, {"gone.txt": b"g"})
    registry_models.create_registered_model(name="clf")
    version = registry_versions.create_model_version(
        name="clf", source=f"runs:/{gone['run_id']}", run_id=gone["run_id"]
    )
    runs.delete_run(run_id=gone["run_id"])

    run_to_end(jobs.create_job(selection=jobs.Selection(), enqueue=False))  # everything in the trash

    assert Run.objects.filter(pk=keep["run_id"]).exists()
    assert (on_disk(keep["artifact_uri"]) / "keep.txt").read_bytes() == b"k"
    assert not Run.objects.filter(pk=gone["run_id"]).exists()
    stored = Path(settings.STUDIO_ARTIFACT_ROOT) / ModelVersion.objects.get(pk=version.pk).storage_path
    assert [p.read_bytes() for p in stored.rglob("gone.txt")] == [b"g"]
    assert registry_versions.get_model_version(name="clf", version=1).run_id == gone["run_id"]


def test_a_purge_killed_halfway_and_run_again_finishes_with_the_same_totals(doomed, monkeypatch):
    job = jobs.create_job(items=[("experiment", doomed["experiment_id"])], enqueue=False)
    planned = (job.planned_files, job.planned_bytes)
    from studio.cleanup import kinds

    real = kinds.remove_folders
    calls = []

    def dies_on_the_second_item(folders):
        calls.append(folders)
        if len(calls) == 2:
            raise KeyboardInterrupt("the worker is killed after the rows went, before the files")  # not an Exception
        real(folders)

    monkeypatch.setattr("studio.cleanup.jobs.remove_folders", dies_on_the_second_item)
    with pytest.raises(KeyboardInterrupt):
        jobs.run_job(job.pk)
    job.refresh_from_db()
    assert job.status == PurgeJobStatus.RUNNING and job.claimed_by
    assert PurgeItem.objects.filter(job=job, state=PurgeItemState.DONE).count() == 1
    assert jobs.run_job(job.pk) is None, "the claim still holds: a second worker keeps off"

    monkeypatch.setattr("studio.cleanup.jobs.remove_folders", real)
    PurgeJob.objects.filter(pk=job.pk).update(claimed_at=job.claimed_at - jobs.lease() * 2)  # the lease runs out
    resumed = run_to_end(job)
    assert resumed.status == PurgeJobStatus.FINISHED and resumed.attempt == 2
    totals = jobs.summary(job.pk)
    assert (totals["done"], totals["failed"], totals["files"], totals["bytes"]) == (3, 0, *planned)
    assert "already gone" in resumed.log and "resumed" in resumed.log
    assert not doomed["folder"].exists(), "the folder of the item cut short is deleted by the re-run"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.PURGE).count() == 3, "one entry per item, no twice"


def test_one_failing_item_is_logged_and_the_rest_goes_on(api, monkeypatch):
    experiment_id = api.post("experiments/create", {"name": "e"})["experiment_id"]
    made = [make_run(api, experiment_id, {"f.txt": b"x" * n}, f"r{n}") for n in (1, 2, 3)]
    for run in made:
        runs.delete_run(run_id=run["run_id"])
    from tracking.store import purge

    real = purge.purge_run_rows

    def broken(run_id):
        if run_id == made[1]["run_id"]:
            raise OSError("disk on fire")
        return real(run_id)

    monkeypatch.setattr(purge, "purge_run_rows", broken)
    job = run_to_end(jobs.create_job(selection=jobs.Selection(kinds=("run",)), enqueue=False))
    totals = jobs.summary(job.pk)
    assert (totals["done"], totals["failed"], totals["bytes"]) == (2, 1, 4)
    assert "disk on fire" in job.log
    assert Run.objects.filter(pk=made[1]["run_id"]).exists()
    assert (on_disk(made[1]["artifact_uri"]) / "f.txt").exists()


def test_a_run_restored_after_the_plan_is_skipped(api, experiment_id):
    run = make_run(api, experiment_id, {"f.txt": b"x"})
    runs.delete_run(run_id=run["run_id"])
    job = jobs.create_job(items=[("run", run["run_id"])], enqueue=False)
    runs.restore_run(run_id=run["run_id"])
    job = run_to_end(job)
    assert jobs.summary(job.pk)["skipped"] == 1
    assert (on_disk(run["artifact_uri"]) / "f.txt").exists()


def test_nothing_active_can_be_selected(api, experiment_id, run_id):
    with pytest.raises(Exception, match="Nothing to purge"):
        jobs.create_job(items=[("run", run_id), ("experiment", experiment_id)], enqueue=False)
    planned = jobs.plan(jobs.Selection(items=(("run", run_id),)))
    assert planned.items == [] and planned.missing == [("run", run_id)]


def test_an_experiment_with_an_active_run_is_kept_but_its_deleted_runs_go(api, experiment_id):
    deleted = make_run(api, experiment_id, {"f.txt": b"x"})
    active = make_run(api, experiment_id, {"g.txt": b"y"})
    runs.delete_run(run_id=deleted["run_id"])
    experiments.delete_experiment(experiment_id=experiment_id)
    runs.restore_run(run_id=active["run_id"])  # the MLflow API allows it
    planned = jobs.plan(jobs.Selection(items=(("experiment", experiment_id),)))
    assert [item.kind for item in planned.items] == ["run"]
    assert "active" in planned.blocked[0].blocked
    run_to_end(jobs.create_job_from_plan(planned, description="test", enqueue=False))
    assert Experiment.objects.filter(pk=experiment_id).exists()
    assert (on_disk(active["artifact_uri"]) / "g.txt").exists()


def test_restore_through_the_api_with_an_audit_entry(api, doomed):
    client = Client()
    response = client.post(
        "/api/2.0/studio/trash/restore", {"kind": "experiment", "id": doomed["experiment_id"]}, "application/json"
    )
    assert response.status_code == 200, response.content
    assert experiments.get_experiment(doomed["experiment_id"]).lifecycle_stage == "active"
    assert Run.objects.filter(lifecycle_stage="active").count() == 2
    assert AuditEntry.objects.filter(action="restore", object_id=doomed["experiment_id"]).exists()
    again = client.post(
        "/api/2.0/studio/trash/restore", {"kind": "experiment", "id": doomed["experiment_id"]}, "application/json"
    )
    assert again.status_code == 400 and again.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    bad = client.post("/api/2.0/studio/trash/restore", {"kind": "nope", "id": "1"}, "application/json")
    assert bad.status_code == 400 and "expected one of" in bad.json()["message"]


@pytest.fixture
def eager() -> Iterator[None]:
    """Tasks run in the test's process, at once."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_plan_and_job_through_the_api(doomed, django_capture_on_commit_callbacks, eager):
    client = Client()
    body = {"items": [{"kind": "experiment", "id": doomed["experiment_id"]}]}
    plan = client.post("/api/2.0/studio/trash/plan", body, "application/json").json()
    assert (plan["item_count"], plan["bytes"], plan["counts"]) == (3, 1117, {"run": 2, "experiment": 1})
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/api/2.0/studio/purge-jobs/create", body, "application/json")
    assert created.status_code == 200, created.content
    job_id = created.json()["job"]["job_id"]
    job = client.get("/api/2.0/studio/purge-jobs/get", {"job_id": job_id}).json()["job"]
    assert job["status"] == "finished" and job["progress"]["bytes"] == 1117
    assert "finished: 3 purged" in job["log"]
    listed = client.get("/api/2.0/studio/purge-jobs/list").json()["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    missing = client.get("/api/2.0/studio/purge-jobs/get", {"job_id": "999"})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    negative = client.post("/api/2.0/studio/trash/plan", {"older_than_days": -1}, "application/json")
    assert negative.status_code == 400
    assert client.get("/api/2.0/studio/trash/list", {"older_than_days": "-2"}).status_code == 400
    assert client.get("/api/2.0/studio/trash/list", {"kind": "run", "max_results": "0"}).status_code == 400


def test_retention_purges_what_is_past_its_experiments_rule(api):
    kept_id = api.post("experiments/create", {"name": "no-rule"})["experiment_id"]
    ruled_id = api.post("experiments/create", {"name": "ruled"})["experiment_id"]
    Experiment.objects.filter(pk=ruled_id).update(trash_retention_days=7)
    old_ruled = make_run(api, ruled_id, {"f": b"1"})
    new_ruled = make_run(api, ruled_id, {"f": b"2"})
    old_kept = make_run(api, kept_id, {"f": b"3"})
    for run in (old_ruled, new_ruled, old_kept):
        runs.delete_run(run_id=run["run_id"])
    now = Run.objects.get(pk=new_ruled["run_id"]).deleted_time
    Run.objects.filter(pk__in=[old_ruled["run_id"], old_kept["run_id"]]).update(deleted_time=now - 8 * 86_400_000)

    job = jobs.purge_expired(now_ms=now + 1000, enqueue=False)
    assert [i.object_id for i in PurgeItem.objects.filter(job=job)] == [old_ruled["run_id"]]
    assert jobs.purge_expired(now_ms=now + 1000, enqueue=False) is None, "one retention job at a time"
    run_to_end(job)
    assert set(Run.objects.values_list("pk", flat=True)) == {new_ruled["run_id"], old_kept["run_id"]}


def test_retention_default_applies_to_experiments_without_a_rule(api, settings):
    settings.STUDIO_TRASH_RETENTION_DAYS = 30
    experiment_id = api.post("experiments/create", {"name": "e"})["experiment_id"]
    run = make_run(api, experiment_id, {"f": b"1"})
    runs.delete_run(run_id=run["run_id"])
    deleted = Run.objects.get(pk=run["run_id"]).deleted_time
    assert jobs.purge_expired(now_ms=deleted + 29 * 86_400_000, enqueue=False) is None
    job = jobs.purge_expired(now_ms=deleted + 31 * 86_400_000, enqueue=False)
    assert [i.object_id for i in PurgeItem.objects.filter(job=job)] == [run["run_id"]]


def test_studio_gc_dry_run_removes_nothing(doomed, capsys):
    before = folder_bytes(doomed["folder"])
    assert cli.main(["gc", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing was removed." in out and "Total: 3 items, 4 files, 1.1 KB." in out
    assert folder_bytes(doomed["folder"]) == before
    assert Experiment.objects.filter(pk=doomed["experiment_id"]).exists()
    assert not PurgeJob.objects.exists()


def test_studio_gc_with_mlflow_options(api, doomed):
    experiment_id = api.post("experiments/create", {"name": "other"})["experiment_id"]
    young = make_run(api, experiment_id, {"f": b"1"})
    runs.delete_run(run_id=young["run_id"])
    out = io.StringIO()
    # Deleted just now: not older than a day, so nothing goes.
    assert gc.run(older_than="1d", out=out) == 0 and "Nothing to purge." in out.getvalue()
    out = io.StringIO()
    assert gc.run(run_ids=young["run_id"], out=out) == 0
    assert "1 purged, 0 failed" in out.getvalue()
    assert not Run.objects.filter(pk=young["run_id"]).exists()
    assert Experiment.objects.filter(pk=doomed["experiment_id"]).exists()
    assert gc.run(experiment_ids=doomed["experiment_id"], out=io.StringIO()) == 0
    assert not Experiment.objects.filter(pk=doomed["experiment_id"]).exists()
    out = io.StringIO()
    assert gc.run(older_than="yesterday", out=out) == 2 and "1d2h3m4s" in out.getvalue()


@pytest.mark.parametrize(
    ("text", "days"),
    [("1d", 1.0), ("12h", 0.5), ("1d12h", 1.5), ("1.5d", 1.5), ("30m", 30 / 1440), ("90s", 90 / 86400)],
)
def test_parse_age_takes_mlflows_format(text, days):
    assert gc.parse_age(text) == pytest.approx(days)


def test_logged_model_restore_and_its_metrics_outlive_the_run(api, experiment_id):
    run = make_run(api, experiment_id, {"f": b"1"})
    model_id = api.post("logged-models", {"experiment_id": experiment_id, "name": "m"})["model"]["info"]["model_id"]
    api.post(
        "runs/log-batch",
        {
            "run_id": run["run_id"],
            "metrics": [{"key": "acc", "value": 0.9, "timestamp": 1, "step": 0, "model_id": model_id}],
        },
    )
    runs.delete_run(run_id=run["run_id"])
    run_to_end(jobs.create_job(items=[("run", run["run_id"])], enqueue=False))
    model = logged_models.get_logged_model(model_id)
    assert [(m.key, m.value, m.run_id) for m in model.metrics.all()] == [("acc", 0.9, None)]
    logged_models.delete_logged_model(model_id=model_id, user="bob")
    assert LoggedModel.objects.get(pk=model_id).deleted_by == "bob"
    jobs.restore(kind="logged_model", object_id=model_id, user="bob")
    assert LoggedModel.objects.get(pk=model_id).lifecycle_stage == "active"


def test_a_deployed_version_is_never_purged(api, experiment_id, run_id):
    from deployments.models import Deployment, Endpoint

    upload(api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"], {"MLmodel": b"m"})
    registry_models.create_registered_model(name="served")
    version = registry_versions.create_model_version(name="served", source=f"runs:/{run_id}", run_id=run_id)
    endpoint = Endpoint.objects.create(name="ep", primary_key_hash="x", secondary_key_hash="y")
    Deployment.objects.create(
        endpoint=endpoint,
        name="blue",
        model_version_id=version.pk,
        model_name="served",
        model_version_number=1,
        runtime="local",
        status="healthy",
    )
    registry_models.delete_registered_model(name="served")
    planned = jobs.plan(jobs.Selection())
    (kept,) = [item for item in planned.blocked if item.kind == "registered_model"]
    assert "deployment 'blue' of endpoint 'ep'" in kept.blocked
    with pytest.raises(Exception, match="Nothing to purge"):
        jobs.create_job(items=[("registered_model", kept.object_id)], enqueue=False)
    stored = Path(settings.STUDIO_ARTIFACT_ROOT) / ModelVersion.objects.get(pk=version.pk).storage_path
    assert any(stored.rglob("MLmodel"))
    assert RegisteredModel.all_objects.filter(pk=kept.object_id).exists()


def test_retention_rule_through_the_api_and_the_experiment_page(api, experiment_id):
    client = Client()
    url = "/api/2.0/studio/experiments/set-trash-retention"
    answer = client.post(url, {"experiment_id": experiment_id, "days": 14}, "application/json")
    assert answer.json() == {"experiment_id": experiment_id, "trash_retention_days": 14}
    assert Experiment.objects.get(pk=experiment_id).trash_retention_days == 14
    for days in (0, -3, 100_000):
        bad = client.post(url, {"experiment_id": experiment_id, "days": days}, "application/json")
        assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.post(url, {"experiment_id": "424242", "days": 1}, "application/json").status_code == 404
    client.post(url, {"experiment_id": experiment_id}, "application/json")
    assert Experiment.objects.get(pk=experiment_id).trash_retention_days is None

    page = client.post(f"/experiments/{experiment_id}/retention/", {"days": "30"}, follow=True)
    assert "are now kept 30 days after their deletion" in page.content.decode()
    assert "purged 30 days after their deletion" in page.content.decode()
    page = client.post(f"/experiments/{experiment_id}/retention/", {"days": "soon"}, follow=True)
    assert "is not a whole number of days" in page.content.decode()
    assert Experiment.objects.get(pk=experiment_id).trash_retention_days == 30
    client.post(f"/experiments/{experiment_id}/retention/", {"days": ""})
    assert Experiment.objects.get(pk=experiment_id).trash_retention_days is None


def test_studio_gc_names_what_is_not_in_the_trash(api, experiment_id, run_id):
    out = io.StringIO()
    assert gc.run(experiment_ids=experiment_id, run_ids=run_id, out=out) == 0
    assert f"not in the trash: run {run_id}" in out.getvalue()
    assert f"not in the trash: experiment {experiment_id}" in out.getvalue()
    assert "Nothing to purge." in out.getvalue()
    assert Run.objects.filter(pk=run_id).exists()


def test_a_big_jobs_log_names_the_first_items_then_every_hundredth(api, experiment_id):
    for _ in range(205):
        run_id = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
        runs.delete_run(run_id=run_id)
    job = run_to_end(jobs.create_job(selection=jobs.Selection(kinds=("run",)), enqueue=False))
    purged = [line for line in job.log.splitlines() if " purged run " in line]
    assert len(purged) == jobs.LOGGED_ITEMS + 1
    assert purged[-1].endswith("(200 of 205)")
    assert jobs.summary(job.pk)["done"] == 205
    assert AuditEntry.objects.filter(action="purge").count() == 205
