"""Deleting an artifact from the run page's artifacts tab: the Delete button and its dialog in the preview (only for
runs), and in Chromium: cancel, confirm, folders, keyboard, errors shown in the dialog."""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from studio.models import AuditEntry
from tests.conftest import ApiClient
from tests.tracking.test_artifacts_s3 import keys, prefix, s3, s3_endpoint  # noqa: F401 - S3 fixtures
from tests.tracking.test_pages_artifacts import tree_open
from tests.tracking.test_purge import upload
from tracking.views.artifacts import ArtifactRoot

FILES = {
    "notes.txt": b"hello\n",
    "data/a.csv": b"x,y\n1,2\n",
    "data/sub/b.txt": b"bee\n",
    "data/sub/c.txt": b"sea\n",
    "keep.txt": b"keep\n",
}


@pytest.fixture
def folder(api: ApiClient, run_id: str) -> Path:
    """The run's artifact folder on disk, holding FILES, uploaded through the proxy."""
    return upload(api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"], FILES)


def preview(client: Client, run_id: str, path: str) -> str:
    response = client.get(f"/runs/{run_id}/artifacts/preview?{urllib.parse.urlencode({'path': path})}")
    assert response.status_code == 200
    return response.content.decode()


# --- the markup, through Django's client -----------------------------------------------------------------------------


def test_a_file_preview_offers_delete_with_its_dialog(client: Client, run_id: str, folder: Path) -> None:
    page = preview(client, run_id, "data/a.csv")
    assert ">Delete</button>" in page
    assert 'action="/ajax-api/2.0/studio/runs/delete-artifact"' in page
    assert f'<input type="hidden" name="run_id" value="{run_id}">' in page
    assert '<input type="hidden" name="path" value="data/a.csv">' in page
    assert 'data-files="1" data-bytes="8"' in page
    assert "Delete this file?" in page


def test_a_folder_preview_asks_the_server_for_its_size(client: Client, run_id: str, folder: Path) -> None:
    page = preview(client, run_id, "data")
    assert "Delete this folder?" in page
    assert 'data-files="" data-bytes=""' in page


def test_the_root_has_no_delete_button(client: Client, run_id: str, folder: Path) -> None:
    page = preview(client, run_id, "")
    assert "data-delete-open" not in page
    assert "data-delete-dialog" not in page


def test_a_model_versions_files_stay_read_only(client: Client, api: ApiClient, run_id: str, folder: Path) -> None:
    api.post("registered-models/create", {"name": "m"})
    api.post("model-versions/create", {"name": "m", "source": f"runs:/{run_id}/data", "run_id": run_id})
    response = client.get("/models/m/versions/1/files/preview?path=a.csv")
    assert response.status_code == 200
    assert "data-delete-open" not in response.content.decode()
    assert ArtifactRoot(store_path="x").delete_url == ""


# --- in Chromium -----------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_delete_artifacts_from_the_run_tab_in_chromium(
    page: Any, screenshot: Any, api: ApiClient, run_id: str, folder: Path
) -> None:
    from playwright.sync_api import expect

    page.goto(f"/runs/{run_id}/?tab=artifacts")
    panel = page.locator("#panel-artifacts")
    tree, pane = panel.locator(".artifact-tree"), panel.locator(".artifact-preview")
    delete_button = pane.get_by_role("button", name="Delete", exact=True)
    file_dialog = page.get_by_role("dialog", name="Delete this file?")

    # Cancel, with the mouse and with Escape, leaves the file
    tree_open(page, "notes.txt")
    delete_button.click()
    expect(file_dialog).to_be_visible()
    expect(file_dialog).to_contain_text("notes.txt")
    expect(file_dialog).to_contain_text("1 file, 6 bytes will be deleted.")
    expect(file_dialog.get_by_role("button", name="Cancel")).to_be_focused()  # the safe choice first
    screenshot("artifact-delete-dialog")
    file_dialog.get_by_role("button", name="Cancel").click()
    expect(file_dialog).to_be_hidden()
    delete_button.focus()
    page.keyboard.press("Enter")
    expect(file_dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(file_dialog).to_be_hidden()
    assert (folder / "notes.txt").read_bytes() == b"hello\n"
    assert not AuditEntry.objects.exists()

    # Confirm: the file leaves the tree and the disk, the folder above is shown with a notice
    delete_button.click()
    file_dialog.get_by_role("button", name="Delete permanently").click()
    expect(file_dialog).to_be_hidden()
    expect(tree.locator('[data-path="notes.txt"]')).to_have_count(0)
    expect(pane.locator("[data-deleted-notice]")).to_have_text("Deleted notes.txt (1 file, 6 bytes).")
    expect(pane.locator(".artifact-title")).to_have_text("Artifacts")
    expect(tree.locator('[data-path=""]')).to_be_focused()
    assert not (folder / "notes.txt").exists()
    assert "path" not in urllib.parse.parse_qs(urllib.parse.urlparse(page.url).query)

    # A file in a folder, with an open folder beside it: that one stays open
    tree_open(page, "data/sub/b.txt")
    tree_open(page, "data/a.csv")
    delete_button.click()
    file_dialog.get_by_role("button", name="Delete permanently").click()
    expect(pane.locator("[data-deleted-notice]")).to_have_text("Deleted data/a.csv (1 file, 8 bytes).")
    expect(pane.locator(".artifact-title")).to_have_text("data")
    expect(tree.locator('[data-path="data/a.csv"]')).to_have_count(0)
    expect(tree.locator('[data-path="data/sub"]')).to_have_attribute("aria-expanded", "true")
    expect(tree.locator('[data-path="data/sub/c.txt"]')).to_be_visible()

    # A folder, by keyboard: the dialog counts what it holds through a dry run
    delete_button.focus()
    page.keyboard.press("Enter")
    folder_dialog = page.get_by_role("dialog", name="Delete this folder?")
    expect(folder_dialog).to_contain_text("2 files, 8 bytes will be deleted.")
    assert (folder / "data/sub/b.txt").exists()  # counting deleted nothing
    page.keyboard.press("Tab")
    expect(folder_dialog.get_by_role("button", name="Delete permanently")).to_be_focused()
    page.keyboard.press("Enter")
    expect(folder_dialog).to_be_hidden()
    expect(pane.locator("[data-deleted-notice]")).to_have_text("Deleted data (2 files, 8 bytes).")
    expect(tree.locator('[data-path="data"]')).to_have_count(0)
    assert not (folder / "data").exists()
    screenshot("artifact-deleted")

    # An error is shown in the dialog, which stays open
    tree_open(page, "keep.txt")
    (folder / "keep.txt").unlink()  # gone behind the page's back
    delete_button.click()
    file_dialog.get_by_role("button", name="Delete permanently").click()
    expect(file_dialog.get_by_role("alert")).to_have_text(
        f"Could not delete keep.txt: No such artifact of run {run_id}: 'keep.txt'"
    )
    expect(file_dialog).to_be_visible()
    screenshot("artifact-delete-error")
    file_dialog.get_by_role("button", name="Cancel").click()
    expect(file_dialog).to_be_hidden()

    entries = list(AuditEntry.objects.order_by("id").values_list("name", "files", "bytes"))
    assert entries == [("notes.txt", 1, 6), ("data/a.csv", 1, 8), ("data", 2, 8)]


@pytest.mark.live
def test_deleting_the_last_file_of_a_folder_on_s3_in_chromium(
    page: Any,
    api: ApiClient,
    run_id: str,
    prefix: str,  # noqa: F811
    s3: Any,  # noqa: F811
) -> None:
    from playwright.sync_api import expect

    artifact_uri = api.get("runs/get", {"run_id": run_id})["run"]["info"]["artifact_uri"]
    upload(artifact_uri, {"only/one.txt": b"1", "keep.txt": b"keep"})
    page.goto(f"/runs/{run_id}/?tab=artifacts")
    tree, pane = page.locator(".artifact-tree"), page.locator(".artifact-preview")
    tree_open(page, "only/one.txt")
    pane.get_by_role("button", name="Delete", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete permanently").click()
    # On S3 a folder is only the prefix of its files: it went with its last one, and the tree shows the root
    expect(pane.locator("[data-deleted-notice]")).to_have_text("Deleted only/one.txt (1 file, 1 byte).")
    expect(pane.locator(".artifact-title")).to_have_text("Artifacts")
    expect(tree.locator('[data-path="only"]')).to_have_count(0)
    expect(tree.locator('[data-path="keep.txt"]')).to_be_visible()
    expect(pane.get_by_role("alert")).to_have_count(0)
    root = artifact_uri.removeprefix("mlflow-artifacts:/")
    assert set(keys(s3, f"{prefix}/{root}")) == {"keep.txt"}
