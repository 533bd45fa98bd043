"""The experiments page, through Django's client and in Chromium."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest

from tests.conftest import ApiClient
from tracking.models import Experiment, LifecycleStage, Run, RunStatus
from tracking.store import experiments as store
from tracking.store.experiment_pages import PAGE_SIZE

# Count, page ids, page rows; plus the "anyone but Default?" check on the whole page. Sessions and messages live in
# cookies, so nothing else may touch the database.
TABLE_QUERIES = 3
PAGE_QUERIES = 4


def row_names(html: str) -> list[str]:
    """The experiment names of the table's rows, in order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<td class="wrap experiment-name"><a href="/experiments/\d+/" id="[\w-]+">([^<]*)</a>', body)


def make_experiments(count: int, *, prefix: str = "exp", start_ms: int = 1_700_000_000_000) -> list[Experiment]:
    """``count`` experiments through the ORM in one statement, created a second apart."""
    experiments = [
        Experiment(
            name=f"{prefix}-{i:05d}",
            artifact_location=f"mlflow-artifacts:/{prefix}-{i}",
            creation_time=start_ms + i * 1000,
            last_update_time=start_ms + i * 1000,
        )
        for i in range(count)
    ]
    return Experiment.objects.bulk_create(experiments, batch_size=2000)


def make_runs(experiment: Experiment, count: int, **fields: Any) -> None:
    """``count`` runs of an experiment through the ORM."""
    Run.objects.bulk_create(
        [Run(run_uuid=uuid.uuid4().hex, experiment=experiment, **fields) for _ in range(count)], batch_size=2000
    )


def best_time(call: Any, repeat: int = 3) -> float:
    """The fastest of a few calls, in seconds: a shared machine's load only ever adds time."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def test_home_redirects_to_the_experiments_page(client: Any, db: None) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/experiments/"


def test_experiment_list_filters_by_name_substring(api: ApiClient, client: Any) -> None:
    for name in ("fraud-detection", "Churn model", "detection-v2"):
        api.post("experiments/create", {"name": name})
    page = client.get("/experiments/", {"q": "DETECT"}).content.decode()
    assert "fraud-detection" in page
    assert "detection-v2" in page
    assert "Churn model" not in page


def test_search_fragment_is_the_table_alone_and_keeps_wildcards_literal(api: ApiClient, client: Any) -> None:
    for name in ("100%_done", "1000 done", "plain"):
        api.post("experiments/create", {"name": name})
    response = client.get("/experiments/table/", {"q": "0%_"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert row_names(html) == ["100%_done"]
    assert "1\N{EN DASH}1 of 1 experiment matching “0%_”" in html


def test_search_among_10000_experiments_is_quick_with_a_fixed_number_of_queries(
    client: Any, db: None, django_assert_max_num_queries: Any
) -> None:
    experiments = make_experiments(10_000, prefix="project")
    target = experiments[7_345]
    Experiment.objects.filter(pk=target.pk).update(name="Needle-In-The-Haystack")
    make_runs(target, 3, status=RunStatus.FINISHED, start_time=1, end_time=2)

    with django_assert_max_num_queries(TABLE_QUERIES):
        response = client.get("/experiments/table/", {"q": "in-the-hay"})
    assert row_names(response.content.decode()) == ["Needle-In-The-Haystack"]
    assert "1\N{EN DASH}1 of 1 experiment" in response.content.decode()
    # Well under a second for the fragment the page fetches while the user types.
    assert best_time(lambda: client.get("/experiments/table/", {"q": "in-the-hay"})) < 0.5

    with django_assert_max_num_queries(PAGE_QUERIES):
        response = client.get("/experiments/", {"q": "project-"})
    assert f"1\N{EN DASH}{PAGE_SIZE} of 9,999 experiments matching “project-”" in response.content.decode()


@pytest.mark.parametrize("sort", ["runs", "activity", "name", "created"])
def test_every_sort_over_10000_experiments_is_one_bounded_page(
    sort: str, client: Any, db: None, django_assert_max_num_queries: Any
) -> None:
    experiments = make_experiments(10_000)
    busiest = experiments[4_321]
    make_runs(busiest, 40, start_time=1_800_000_000_000, end_time=1_800_000_001_000)
    Run.objects.bulk_create(
        [Run(run_uuid=uuid.uuid4().hex, experiment=e, start_time=1_700_000_000_000) for e in experiments[:1000]]
    )
    params = {"sort": sort, "order": "desc"}
    with django_assert_max_num_queries(TABLE_QUERIES):
        html = client.get("/experiments/table/", params).content.decode()
    names = row_names(html)
    assert len(names) == PAGE_SIZE
    if sort in ("runs", "activity"):
        assert names[0] == busiest.name
    assert best_time(lambda: client.get("/experiments/table/", params)) < 0.5
    # A deep page costs the same queries as the first.
    with django_assert_max_num_queries(TABLE_QUERIES):
        html = client.get("/experiments/table/", {**params, "page": 150}).content.decode()
    assert len(row_names(html)) == PAGE_SIZE


def test_sorts_by_name_creation_last_activity_and_active_runs(api: ApiClient, client: Any) -> None:
    experiments = make_experiments(3, prefix="s")  # s-00000 is the oldest
    old, middle, new = experiments
    make_runs(old, 3, start_time=1_600_000_000_000, end_time=1_900_000_000_000)  # ended last of everything
    make_runs(middle, 1, start_time=1_600_000_000_000)
    make_runs(middle, 5, lifecycle_stage=LifecycleStage.DELETED)  # deleted runs are not counted
    make_runs(new, 2, status=RunStatus.RUNNING, start_time=1_600_000_000_000)

    def order(**params: str) -> list[str]:
        names = row_names(client.get("/experiments/", {"q": "s-", **params}).content.decode())
        return [n for n in names if n.startswith("s-")]

    assert order(sort="name") == ["s-00000", "s-00001", "s-00002"]
    assert order(sort="name", order="desc") == ["s-00002", "s-00001", "s-00000"]
    assert order(sort="created") == ["s-00002", "s-00001", "s-00000"]
    assert order(sort="created", order="asc") == ["s-00000", "s-00001", "s-00002"]
    assert order(sort="activity") == ["s-00000", "s-00002", "s-00001"]  # a run's end time counts as activity
    assert order() == order(sort="activity")  # the default
    assert order(sort="runs") == ["s-00000", "s-00002", "s-00001"]
    html = client.get("/experiments/", {"q": "s-00002"}).content.decode()
    assert '<td class="num">2 <span class="badge RUNNING">2 running</span></td>' in html


def test_names_sort_without_regard_to_case(db: None, client: Any) -> None:
    for name in ("beta", "Alpha", "gamma", "Delta"):
        store.create_experiment(name=name)
    names = row_names(client.get("/experiments/", {"sort": "name"}).content.decode())
    assert [n for n in names if n != "Default"] == ["Alpha", "beta", "Delta", "gamma"]


def test_sort_headers_flip_the_order_and_say_which_is_sorted(db: None, client: Any) -> None:
    html = client.get("/experiments/", {"sort": "name"}).content.decode()
    assert '<th scope="col" aria-sort="ascending"><a href="/experiments/?sort=name&amp;order=desc"' in html
    assert '<a href="/experiments/?sort=runs&amp;order=desc" data-listing-link="sort-runs">Runs</a>' in html
    html = client.get("/experiments/", {"q": "x", "sort": "runs", "order": "asc"}).content.decode()
    assert 'aria-sort="ascending"><a href="/experiments/?q=x&amp;sort=runs&amp;order=desc"' in html


def test_pages_of_experiments(db: None, client: Any) -> None:
    make_experiments(120, prefix="p")
    html = client.get("/experiments/", {"q": "p-", "sort": "name", "page": "2"}).content.decode()
    assert row_names(html) == [f"p-{i:05d}" for i in range(50, 100)]
    assert "51\N{EN DASH}100 of 120 experiments" in html
    assert 'href="/experiments/?q=p-&amp;sort=name&amp;order=asc&amp;page=3" data-listing-link="next"' in html
    assert 'href="/experiments/?q=p-&amp;sort=name&amp;order=asc" data-listing-link="previous"' in html
    # A page past the end shows the last one.
    html = client.get("/experiments/", {"q": "p-", "sort": "name", "page": "99"}).content.decode()
    assert row_names(html) == [f"p-{i:05d}" for i in range(100, 120)]
    assert "Page 3 of 3" in html


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-3"},
        {"page": "99999999999999999999999"},
        {"sort": "drop table"},
        {"order": "sideways"},
        {"view": "everything"},
        {"view": "deleted", "sort": "activity"},  # a sort of the other view
        {"q": "x" * 5000},
    ],
)
def test_bad_query_strings_fall_back_to_defaults(params: dict, db: None, client: Any) -> None:
    make_experiments(3, prefix="b")
    assert client.get("/experiments/", params).status_code == 200
    assert client.get("/experiments/table/", params).status_code == 200


def test_deleted_view_lists_deleted_experiments_with_restore(api: ApiClient, client: Any) -> None:
    gone = api.post("experiments/create", {"name": "gone"})["experiment_id"]
    api.post("experiments/create", {"name": "kept"})
    api.post("runs/create", {"experiment_id": gone})
    api.post("experiments/delete", {"experiment_id": gone})
    html = client.get("/experiments/", {"view": "deleted"}).content.decode()
    assert row_names(html) == ["gone"]
    assert f'action="/experiments/{gone}/restore/"' in html
    # the run that a restore brings back (still RUNNING: runs/create starts it)
    assert '<td class="num">1 <span class="badge RUNNING">1 running</span></td>' in html
    assert 'aria-current="page">Deleted</a>' in html
    assert "gone" not in row_names(client.get("/experiments/").content.decode())


def test_create_experiment_through_the_form(db: None, client: Any) -> None:
    response = client.post(
        "/experiments/create/", {"name": "  from-the-form ", "artifact_location": "", "next": "q=from&sort=name"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/experiments/?q=from&sort=name&order=asc"
    experiment = Experiment.objects.get(name="from-the-form")
    assert experiment.artifact_location == f"mlflow-artifacts:/{experiment.pk}"
    html = client.get(response["Location"]).content.decode()
    assert f'Created experiment <a href="/experiments/{experiment.pk}/">from-the-form</a>.' in html
    assert row_names(html) == ["from-the-form"]

    client.post("/experiments/create/", {"name": "elsewhere", "artifact_location": "s3://bucket/elsewhere"})
    assert Experiment.objects.get(name="elsewhere").artifact_location == "s3://bucket/elsewhere"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("taken", "Experiment(name=taken) already exists."),
        ("", "Invalid experiment name: &#x27;&#x27;"),
        ("   ", "Invalid experiment name: &#x27;&#x27;"),
        ("n" * 501, "exceeds the maximum length"),
    ],
)
def test_create_form_shows_mlflow_errors_inline(name: str, message: str, api: ApiClient, client: Any) -> None:
    api.post("experiments/create", {"name": "taken"})
    response = client.post("/experiments/create/", {"name": name, "artifact_location": "s3://b/p", "next": "q=tak"})
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    # The dialog is open again with what was typed, and the page behind it still shows the listing.
    assert '<dialog id="create-dialog" aria-labelledby="create-title" open>' in html
    assert 'value="s3://b/p"' in html
    assert 'aria-invalid="true" aria-describedby="create-error"' in html
    assert row_names(html) == ["taken"]
    assert list(Experiment.objects.exclude(pk=0).values_list("name", flat=True)) == ["taken"]


def test_rename_through_the_form_and_its_errors(api: ApiClient, client: Any) -> None:
    first = api.post("experiments/create", {"name": "first"})["experiment_id"]
    api.post("experiments/create", {"name": "second"})
    response = client.post(f"/experiments/{first}/rename/", {"new_name": "renamed", "next": "view=active&sort=name"})
    assert response.status_code == 302
    assert response["Location"] == "/experiments/?sort=name&order=asc"
    assert store.get_experiment(first).name == "renamed"
    assert f"Renamed experiment {first} to renamed." in client.get(response["Location"]).content.decode()

    response = client.post(f"/experiments/{first}/rename/", {"new_name": "second"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Experiment(name=second) already exists." in html
    assert '<dialog id="rename-dialog" aria-labelledby="rename-title" open>' in html
    assert f'action="/experiments/{first}/rename/"' in html
    response = client.post(f"/experiments/{first}/rename/", {"new_name": ""})
    assert response.status_code == 400
    assert "Invalid experiment name: &#x27;&#x27;" in response.content.decode()
    response = client.post("/experiments/987654/rename/", {"new_name": "x"})
    assert response.status_code == 404
    assert "No Experiment with id=987654 exists" in response.content.decode()
    assert store.get_experiment(first).name == "renamed"


def test_delete_and_restore_through_the_forms(api: ApiClient, client: Any) -> None:
    experiment_id = api.post("experiments/create", {"name": "doomed"})["experiment_id"]
    run_id = api.post("runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    response = client.post(f"/experiments/{experiment_id}/delete/", {"next": "q=doo"})
    assert response.status_code == 302
    assert response["Location"] == "/experiments/?q=doo"
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.DELETED
    assert Run.objects.get(pk=run_id).lifecycle_stage == LifecycleStage.DELETED
    html = client.get(response["Location"]).content.decode()
    assert 'Deleted experiment doomed. <a href="/experiments/?view=deleted">Deleted experiments</a>' in html
    assert row_names(html) == []

    response = client.post(f"/experiments/{experiment_id}/restore/", {"next": "view=deleted"})
    assert response.status_code == 302
    assert response["Location"] == "/experiments/?view=deleted"
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert Run.objects.get(pk=run_id).lifecycle_stage == LifecycleStage.ACTIVE
    assert "Restored experiment" in client.get(response["Location"]).content.decode()


def test_refused_delete_and_restore_show_mlflow_messages(api: ApiClient, client: Any) -> None:
    store.ensure_default_experiment()
    response = client.post("/experiments/0/delete/")
    assert response.status_code == 400
    assert "Cannot delete the default experiment &#x27;0&#x27;." in response.content.decode()
    assert '<p class="field-error" role="alert">' in response.content.decode()
    active = api.post("experiments/create", {"name": "alive"})["experiment_id"]
    response = client.post(f"/experiments/{active}/restore/", {"next": "view=deleted"})
    assert response.status_code == 400
    assert "Cannot restore an active experiment." in response.content.decode()
    assert client.post("/experiments/424242/delete/").status_code == 404


def test_the_default_experiment_has_no_delete_button(db: None, client: Any) -> None:
    store.ensure_default_experiment()
    html = client.get("/experiments/").content.decode()
    assert 'data-rename-url="/experiments/0/rename/"' in html
    assert 'action="/experiments/0/delete/"' not in html


def test_actions_take_only_post_and_a_csrf_token(api: ApiClient, client: Any) -> None:
    experiment_id = api.post("experiments/create", {"name": "guarded"})["experiment_id"]
    for action in ("rename", "delete", "restore"):
        assert client.get(f"/experiments/{experiment_id}/{action}/").status_code == 405
    assert client.get("/experiments/create/").status_code == 405
    assert client.post("/experiments/table/").status_code == 405
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    assert strict.post(f"/experiments/{experiment_id}/delete/").status_code == 403
    assert store.get_experiment(experiment_id).lifecycle_stage == LifecycleStage.ACTIVE


def test_connection_help_is_open_until_someone_makes_an_experiment(db: None, client: Any) -> None:
    store.ensure_default_experiment()
    html = client.get("/experiments/").content.decode()
    assert '<section class="panel experiment-connect"' in html
    assert 'mlflow.set_tracking_uri("http://testserver")' in html
    store.create_experiment(name="first one")
    html = client.get("/experiments/").content.decode()
    assert '<section class="panel experiment-connect"' not in html
    assert '<details class="experiment-connect small">' in html
    assert 'mlflow.set_tracking_uri("http://testserver")' in html


@pytest.mark.live
def test_experiments_page_in_chromium(page: Any, screenshot: Any, mlflow_client: Any) -> None:
    mlflow_client.create_experiment("browser-check")
    page.goto("/experiments/")
    assert page.get_by_role("cell", name="browser-check").is_visible()
    # the theme toggle switches, and says what it will switch to next
    toggle = page.get_by_role("button", name="Switch to dark theme")
    toggle.click()
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    assert page.get_by_role("button", name="Switch to light theme").is_visible()
    screenshot("dark")


@pytest.mark.live
def test_find_sort_create_rename_delete_and_restore_in_chromium(page: Any, screenshot: Any, mlflow_client: Any) -> None:
    from playwright.sync_api import expect

    for name, runs in (("fraud-detection", 1), ("churn-model", 3), ("fraud-rules-v2", 2)):
        experiment_id = mlflow_client.create_experiment(name)
        for _ in range(runs):
            mlflow_client.create_run(experiment_id)
    page.goto("/experiments/")
    table = page.locator("#experiment-results")

    def row(name: str) -> Any:
        return table.get_by_role("row").filter(has=page.get_by_role("link", name=name, exact=True))

    expect(table.get_by_role("link", name="churn-model")).to_be_visible()
    screenshot("1280-all")

    # Typing narrows the list without a page load, and the search is in the URL.
    page.evaluate("window.__samePage = true")
    page.get_by_label("Search experiments by name").press_sequentially("FRAUD")
    expect(table.get_by_role("link", name="churn-model")).to_have_count(0)
    expect(table.get_by_role("link", name="fraud-detection")).to_be_visible()
    expect(table.get_by_role("link", name="fraud-rules-v2")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?q=FRAUD$"))
    assert page.evaluate("window.__samePage") is True
    screenshot("1280-search")

    # Sorting by run count, then flipping it, still without a page load.
    # (the sorted header's name ends in its arrow)
    runs_header = table.locator("thead").get_by_role("link", name=re.compile(r"^Runs"))
    runs_header.click()
    expect(table.locator("th[aria-sort=descending]")).to_have_text("Runs")
    expect(table.locator("tbody tr").first).to_contain_text("fraud-rules-v2")
    expect(page).to_have_url(re.compile(r"sort=runs&order=desc"))
    runs_header.click()
    expect(table.locator("th[aria-sort=ascending]")).to_have_text("Runs")
    expect(runs_header).to_be_focused()  # the header keeps the focus when the table is replaced
    # Back goes to the previous order.
    page.go_back()
    expect(table.locator("th[aria-sort=descending]")).to_have_text("Runs")
    expect(page).to_have_url(re.compile(r"sort=runs&order=desc"))
    page.go_forward()
    expect(table.locator("th[aria-sort=ascending]")).to_have_text("Runs")
    expect(table.locator("tbody tr").first).to_contain_text("fraud-detection")
    assert page.evaluate("window.__samePage") is True
    page.get_by_label("Search experiments by name").fill("")
    expect(table.get_by_role("link", name="churn-model")).to_be_visible()

    # Create through the form; an existing name is refused inline with MLflow's message.
    page.get_by_role("button", name="New experiment").click()
    dialog = page.get_by_role("dialog", name="New experiment")
    dialog.get_by_label("Name").fill("churn-model")
    dialog.get_by_role("button", name="Create").click()
    dialog = page.get_by_role("dialog", name="New experiment")
    expect(dialog.get_by_role("alert")).to_have_text("Experiment(name=churn-model) already exists.")
    expect(page).to_have_url(re.compile(r"/experiments/\?sort=runs&order=asc$"))  # the listing, not the form
    screenshot("1280-create-error")
    dialog.get_by_label("Name").fill("made-in-browser")
    dialog.get_by_role("button", name="Create").click()
    expect(page.get_by_role("status").filter(has_text="Created experiment made-in-browser.")).to_be_visible()
    expect(table.get_by_role("link", name="made-in-browser")).to_be_visible()

    # Rename it.
    row("made-in-browser").get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog", name="Rename experiment")
    expect(dialog.get_by_label("New name")).to_have_value("made-in-browser")
    dialog.get_by_label("New name").fill("renamed-in-browser")
    screenshot("1280-rename")
    dialog.get_by_role("button", name="Rename").click()
    expect(table.get_by_role("link", name="renamed-in-browser")).to_be_visible()
    expect(table.get_by_role("link", name="made-in-browser")).to_have_count(0)

    # Delete it, accepting the confirmation.
    questions: list[str] = []

    def accept(dialog: Any) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row("renamed-in-browser").get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status").filter(has_text="Deleted experiment renamed-in-browser.")).to_be_visible()
    expect(table.get_by_role("link", name="renamed-in-browser")).to_have_count(0)
    assert questions and "renamed-in-browser" in questions[0]

    # The deleted view has it, with a restore button.
    page.get_by_role("link", name="Deleted", exact=True).click()
    expect(table.get_by_role("link", name="renamed-in-browser")).to_be_visible()
    screenshot("1280-deleted")
    row("renamed-in-browser").get_by_role("button", name="Restore").click()
    expect(page.get_by_role("status").filter(has_text="Restored experiment renamed-in-browser.")).to_be_visible()
    expect(table.get_by_role("link", name="renamed-in-browser")).to_have_count(0)
    page.get_by_role("link", name="Active", exact=True).click()
    expect(table.get_by_role("link", name="renamed-in-browser")).to_be_visible()
    assert mlflow_client.get_experiment_by_name("renamed-in-browser").lifecycle_stage == "active"

    page.set_viewport_size({"width": 768, "height": 1000})
    page.get_by_text("Log to this server from Python").click()
    screenshot("768")


@pytest.mark.live
def test_first_visit_shows_how_to_log_to_this_server(page: Any, screenshot: Any, tracking_uri: str) -> None:
    store.ensure_default_experiment()  # a live-server test before this one may have flushed it
    page.goto("/experiments/")
    help_panel = page.get_by_role("region", name="Log your first run")
    expect_text = f'mlflow.set_tracking_uri("{tracking_uri}")'
    assert expect_text in help_panel.inner_text()
    screenshot("1280")
    page.set_viewport_size({"width": 768, "height": 1000})
    screenshot("768")
