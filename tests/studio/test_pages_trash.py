"""The trash page in Chromium: see what is deleted, dry-run a purge, purge it, restore."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from studio.celery import app as celery_app
from studio.models import AuditEntry, PurgeJob
from tests.conftest import ApiClient
from tests.studio.test_trash import make_run
from tests.tracking.test_pages_journey import check_page
from tracking.models import Experiment, Run
from tracking.store import experiments, runs


@pytest.fixture
def eager(transactional_db: None) -> Iterator[None]:
    """Purge jobs run in the live server's thread as soon as they are queued."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


def test_trash_page_dry_run_purge_and_restore_in_chromium(eager, page, screenshot):
    api = ApiClient()
    doomed = api.post("experiments/create", {"name": "doomed"})["experiment_id"]
    for n, files in enumerate(({"a.txt": b"a" * 100, "d/b.bin": b"b" * 1000}, {"c.txt": b"c" * 10})):
        make_run(api, doomed, files, f"run-{n}")
    experiments.delete_experiment(experiment_id=doomed, user="alice")
    live = api.post("experiments/create", {"name": "live"})["experiment_id"]
    lost = make_run(api, live, {"x.txt": b"x"}, "lost-run")
    runs.delete_run(run_id=lost["run_id"], user="bob")
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / doomed

    page.goto("/trash/")
    tabs = page.get_by_role("navigation", name="Kinds of deleted things")
    expect(tabs.get_by_role("link", name=re.compile("^Experiments"))).to_have_attribute("aria-current", "page")
    row = page.locator("tr", has_text="doomed")
    expect(row).to_contain_text("alice")
    expect(row).to_contain_text("1.1\xa0KB")
    check_page(page, screenshot, "trash")

    row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Purge selected…").click()
    dialog = page.get_by_role("dialog", name="Purge for good?")
    expect(dialog).to_contain_text("Removes 2 runs, 1 experiment: 3 files, 1.1 KB come back.")
    expect(dialog.get_by_role("list", name="What the purge removes")).to_contain_text("run run-0 in doomed")
    screenshot("dry-run")
    assert folder.exists() and Run.objects.filter(experiment_id=doomed).count() == 2, "the dry run changed nothing"

    dialog.get_by_role("button", name="Purge 3 items").click()
    expect(page.get_by_role("status").first).to_contain_text("finished: 3 purged, 1.1 KB freed", timeout=20_000)
    expect(page.locator("tbody tr", has_text="doomed")).to_have_count(0)
    expect(page.locator("[data-jobs] tr").first).to_contain_text("finished")
    screenshot("purged")
    assert not Experiment.objects.filter(pk=doomed).exists()
    assert not folder.exists()
    job = PurgeJob.objects.get()
    assert (job.status, job.planned_bytes) == ("finished", 1110)

    page.get_by_role("button", name="Show the log of job " + str(job.pk)).click()
    expect(page.get_by_role("dialog", name="Purge job log")).to_contain_text("purged experiment doomed")
    page.get_by_role("dialog", name="Purge job log").get_by_role("button", name="Close").click()

    tabs.get_by_role("link", name=re.compile("^Runs")).click()
    lost_row = page.locator("tr", has_text="lost-run")
    expect(lost_row).to_contain_text("bob")
    lost_row.get_by_role("checkbox").check()
    page.get_by_role("button", name="Restore selected").click()
    expect(page.get_by_role("status").first).to_contain_text("1 restored.")
    expect(page.locator("tr", has_text="lost-run")).to_have_count(0)
    assert Run.objects.get(pk=lost["run_id"]).lifecycle_stage == "active"
    assert AuditEntry.objects.filter(action="restore", object_id=lost["run_id"]).exists()


def test_trash_page_filter_by_age_and_bad_input(db):
    client = Client()
    response = client.get("/trash/", {"older_than_days": "soon"})
    assert response.status_code == 400
    assert "is not a number of days" in response.content.decode()
    assert client.get("/trash/", {"older_than_days": "3", "kind": "run"}).status_code == 200
    assert client.get("/trash/", {"kind": "unknown"}).status_code == 200  # falls back to a kind that exists


def test_the_admin_menu_is_for_staff_or_a_local_studio(db, settings, django_user_model):
    menu = ('href="/storage/"', 'href="/trash/"', 'href="/admin/"')
    assert all(link in Client().get("/experiments/").content.decode() for link in menu), "auth off: the one user"
    settings.STUDIO_AUTH = True
    assert not any(link in Client().get("/experiments/").content.decode() for link in menu)
    staff = Client()
    staff.force_login(django_user_model.objects.create_user("ada", is_staff=True))
    assert all(link in staff.get("/experiments/").content.decode() for link in menu)
    member = Client()
    member.force_login(django_user_model.objects.create_user("bob"))
    assert not any(link in member.get("/experiments/").content.decode() for link in menu)
