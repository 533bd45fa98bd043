"""The storage page: experiments, runs and artifacts largest first with the right numbers, the experiment filter,
"Refresh now", a bounded number of queries; and the page in Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.tracking.test_purge import upload
from tracking.models import Run, StorageUsage
from tracking.store import runs, storage

URL = reverse("tracking:storage")


def new_run(api: Any, experiment_id: str, name: str) -> str:
    return api.post("runs/create", {"experiment_id": experiment_id, "run_name": name})["run"]["info"]["run_id"]


def upload_to(run_id: str, files: dict[str, bytes]) -> None:
    upload(Run.objects.get(pk=run_id).artifact_uri, files)


def section(html: str, heading_id: str) -> str:
    """The HTML of the page's section under the heading with this id."""
    start = html.index(f'id="{heading_id}"')
    end = html.find("</section>", start)
    return html[start:end]


def order_of(html: str, *names: str) -> list[str]:
    """The names in the order they appear in ``html``."""
    return sorted(names, key=html.index)


@pytest.fixture
def store(api: Any) -> dict[str, str]:
    """Two experiments: "big" with a 5,000-byte run and a 300-byte run, "small" with a 40-byte run (all measured),
    a deleted run, a registry copy, and an empty run."""
    big = api.post("experiments/create", {"name": "big"})["experiment_id"]
    small = api.post("experiments/create", {"name": "small"})["experiment_id"]
    ids = {"big": big, "small": small}
    for name, experiment, files in (
        ("heavy", big, {"weights.bin": b"w" * 5000}),
        ("light", big, {"a.txt": b"a" * 100, "plots/b.png": b"b" * 200}),
        ("tiny", small, {"c.txt": b"c" * 40}),
    ):
        ids[name] = new_run(api, experiment, name)
        upload_to(ids[name], files)
    ids["empty"] = new_run(api, small, "empty")
    runs.delete_run(run_id=ids["tiny"])
    storage.refresh_stale()
    return ids


def test_page_lists_experiments_runs_and_artifacts_largest_first(client, store):
    html = client.get(URL).content.decode()
    assert 'title="5340 bytes"' in html  # the total
    experiments = section(html, "storage-experiments")
    assert order_of(experiments, ">big<", ">small<") == [">big<", ">small<"]
    assert 'title="5300 bytes"' in experiments and 'title="40 bytes"' in experiments
    assert re.search(r">big</a></td>\s*<td>Active</td>\s*<td class=\"num\">2</td>", experiments)
    largest = section(html, "storage-runs")
    assert order_of(largest, ">heavy<", ">light<", ">tiny<") == [">heavy<", ">light<", ">tiny<"]
    assert reverse("tracking:run-detail", args=[store["heavy"]]) in largest
    assert re.search(r">tiny</a></td>.*?<span class=\"badge error\">Deleted</span>", largest, re.S)
    assert ">empty<" not in largest  # no artifacts, nothing to show
    files = section(html, "storage-files")
    assert order_of(files, "weights.bin", "plots/b.png", "a.txt", "c.txt") == [
        "weights.bin",
        "plots/b.png",
        "a.txt",
        "c.txt",
    ]
    link = reverse("tracking:run-detail", args=[store["light"]]) + "?tab=artifacts&amp;path=plots/b.png"
    assert link in files
    assert "4.9\xa0KB" in html or "4.9 KB" in html  # human sizes


def test_experiment_filter_narrows_everything(client, store):
    html = client.get(URL, {"experiment": store["small"]}).content.decode()
    assert 'title="40 bytes"' in html
    assert ">heavy<" not in html and "weights.bin" not in html
    assert ">tiny<" in section(html, "storage-runs") and "c.txt" in section(html, "storage-files")
    assert client.get(URL, {"experiment": "999999"}).status_code == 404
    assert client.get(URL, {"experiment": "nope"}).status_code == 404


def test_registry_copies_are_counted_in_the_total(client, store, settings):
    folder = Path(settings.STUDIO_ARTIFACT_ROOT) / "registry/1/abc"
    folder.mkdir(parents=True)
    (folder / "model.pkl").write_bytes(b"m" * 660)
    storage.track_root(path="registry/1/abc", kind="model_version", owner_id="1", label="clf v1")
    storage.refresh_stale()
    html = client.get(URL).content.decode()
    assert 'title="6000 bytes"' in html
    registry = html[html.index('id="registry-copies"') :]
    assert registry.startswith('id="registry-copies"><span title="660 bytes">') and "1 registered version" in registry


def test_stale_roots_are_announced_and_refresh_now_measures_them(client, store):
    upload_to(store["light"], {"new.bin": b"n" * 1000})
    html = client.get(URL).content.decode()
    assert 'id="storage-stale"' in html and "1 root changed" in html
    assert 'title="5340 bytes"' in html  # the page never walks the store itself
    response = client.post(reverse("tracking:storage-refresh"), {"experiment": store["big"]})
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?experiment={store['big']}"
    html = client.get(response["Location"]).content.decode()
    assert "Measured 1 root again." in html
    assert 'id="storage-stale"' not in html
    assert 'title="6300 bytes"' in html


def test_refresh_now_needs_a_post_with_the_csrf_token(store):
    client = Client(enforce_csrf_checks=True)
    assert client.get(reverse("tracking:storage-refresh")).status_code == 405
    assert client.post(reverse("tracking:storage-refresh")).status_code == 403


def test_page_queries_are_bounded(client, api, store, django_assert_max_num_queries):
    for i in range(30):
        upload_to(new_run(api, store["big"], f"more{i}"), {"f.bin": b"x" * i})
    storage.refresh_stale()
    with django_assert_max_num_queries(8):
        assert client.get(URL).status_code == 200
    with django_assert_max_num_queries(9):
        assert client.get(URL, {"experiment": store["big"]}).status_code == 200


def test_empty_store(client, db):
    html = client.get(URL).content.decode()
    assert "No run has artifacts." in html and 'title="0 bytes"' in html
    assert not StorageUsage.objects.exists()


def test_storage_page_in_chromium(page, screenshot, api, store):
    page.goto(URL)
    assert page.get_by_role("heading", name="Storage", exact=True).is_visible()
    runs_table = page.get_by_role("table", name="Runs, largest first")
    assert runs_table.get_by_role("row").nth(1).get_by_role("link").first.inner_text() == "heavy"
    assert page.get_by_text("5.2 KB").first.get_attribute("title") == "5340 bytes"
    screenshot("storage")
    page.get_by_role("link", name="Storage of small").click()
    page.wait_for_url(f"**{URL}?experiment={store['small']}")
    assert page.get_by_role("heading", name="Storage of “small”").is_visible()
    page.get_by_role("button", name="Refresh now").click()
    assert page.get_by_text("Measured 0 roots again.").is_visible()
    page.get_by_role("table", name="Artifact files, largest first").get_by_role("link", name="c.txt").click()
    page.wait_for_url(f"**/runs/{store['tiny']}/?tab=artifacts&path=c.txt")
