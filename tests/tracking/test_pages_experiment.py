"""The experiment page (the runs table), through Django's client and in Chromium."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.tracking.test_run_table import many_runs
from tracking.models import Experiment, LifecycleStage, Run
from tracking.store import run_table
from tracking.views.experiment import COLUMNS_SESSION_KEY

# The experiment, the session (read, and written when the choice of columns changes: a few more), the counts, the
# page, the default columns' keys or up to three kinds of picked columns, and the child counts or parents' names.
PAGE_QUERIES = 12


def row_ids(html: str) -> list[str]:
    """The run ids of the table's rows, in order."""
    return re.findall(r'<tr data-run-id="(\w+)"', html)


def headers(html: str) -> list[str]:
    """The column ids of the table's headers."""
    return re.findall(r'data-column="([^"]+)"', html)


def link(html: str, rel: str) -> str:
    """The query string of the pager link ``rel`` (next, prev)."""
    match = re.search(rf'<a class="button" href="\?([^"]*)" data-table-link rel="{rel}">', html)
    assert match, f"no {rel} link"
    return html_lib.unescape(match.group(1))


def create_run(api: ApiClient, experiment_id: str, name: str, **extra: Any) -> str:
    body = {"experiment_id": experiment_id, "run_name": name, **extra}
    return api.post("runs/create", body)["run"]["info"]["run_id"]


def log(api: ApiClient, run_id: str, metrics: dict | None = None, params: dict | None = None, tags: dict | None = None):
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in (metrics or {}).items()],
            "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        },
    )


@pytest.fixture
def three_runs(api: ApiClient, experiment_id: str) -> dict[str, str]:
    """Runs a, b and c with a loss, a learning rate and a team tag; b's loss is the lowest."""
    ids = {}
    for index, (name, loss, lr) in enumerate((("a", 0.5, "0.1"), ("b", 0.1, "0.01"), ("c", 0.9, "0.1"))):
        ids[name] = create_run(api, experiment_id, name, start_time=1_700_000_000_000 + index * 1000)
        log(api, ids[name], {"loss": loss}, {"lr": lr}, {"team": f"team-{name}"})
    return ids


def test_an_unknown_experiment_is_a_404(db: None, client: Any) -> None:
    assert client.get("/experiments/987654/").status_code == 404
    assert client.get(f"/experiments/{2**70}/").status_code == 404
    assert client.get("/experiments/987654/runs/").status_code == 404
    assert client.get("/experiments/987654/columns/").status_code == 404


def test_the_page_lists_runs_newest_first_with_status_duration_and_links(
    client: Any, experiment_id: str, three_runs: dict[str, str], api: ApiClient
) -> None:
    api.post("runs/update", {"run_id": three_runs["a"], "status": "FINISHED", "end_time": 1_700_000_090_000})
    response = client.get(f"/experiments/{experiment_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert row_ids(html) == [three_runs["c"], three_runs["b"], three_runs["a"]]
    assert f'<a href="/runs/{three_runs["a"]}/">a</a>' in html
    assert '<span class="badge FINISHED">finished</span>' in html
    assert '<td class="num">1m 30s</td>' in html
    # Before anyone picks columns, the page shows the metrics of its runs.
    assert headers(html)[5:] == ["metrics.loss"]
    assert 'data-cols="metrics.loss"' in html
    assert 'aria-sort="descending" data-column="attributes.start_time"' in html


def test_a_filter_with_or_and_parentheses_narrows_the_table(
    client: Any, experiment_id: str, three_runs: dict[str, str]
) -> None:
    query = {"filter": "(metrics.loss < 0.2 or metrics.loss > 0.8) and params.lr = '0.1'"}
    html = client.get(f"/experiments/{experiment_id}/", query).content.decode()
    assert row_ids(html) == [three_runs["c"]]
    assert "1 run matches the filter" in html
    assert 'value="(metrics.loss &lt; 0.2 or metrics.loss &gt; 0.8) and params.lr = &#x27;0.1&#x27;"' in html


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("metrics.loss >", "Invalid clause(s) in filter string: 'metrics.loss', '&gt;'"),
        ("foo.bar = 1", "Invalid entity type &#x27;foo&#x27;"),
        ("(metrics.loss < 1", "missing &#x27;)&#x27; for the &#x27;(&#x27; at position 0"),
    ],
)
def test_a_bad_filter_shows_mlflows_message_inline_not_an_error_page(
    client: Any, experiment_id: str, three_runs: dict[str, str], bad: str, message: str
) -> None:
    for url in (f"/experiments/{experiment_id}/", f"/experiments/{experiment_id}/runs/"):
        response = client.get(url, {"filter": bad})
        assert response.status_code == 400
        html = response.content.decode()
        error = re.search(r'<p class="field-error" id="run-filter-error" role="alert">([^<]*)</p>', html)
        assert error, html[:2000]
        assert html_lib.unescape(message) in html_lib.unescape(error.group(1))
        assert row_ids(html) == []
    page = client.get(f"/experiments/{experiment_id}/", {"filter": bad}).content.decode()
    assert 'aria-describedby="run-filter-help run-filter-error" aria-invalid="true"' in page
    assert "<h1>exp</h1>" in page  # the page itself, with its box to fix the filter in


def test_sort_by_any_kind_of_column_with_aria_sort(client: Any, experiment_id: str, three_runs: dict[str, str]) -> None:
    url = f"/experiments/{experiment_id}/runs/"
    cols = "metrics.loss,params.lr,tags.team"
    a, b, c = three_runs["a"], three_runs["b"], three_runs["c"]
    for sort, order, expected in (
        ("metrics.loss", "asc", [b, a, c]),
        ("metrics.loss", "desc", [c, a, b]),
        ("params.lr", "asc", [b, a, c]),  # text: "0.01" < "0.1"; ties by run id
        ("tags.team", "desc", [c, b, a]),
        ("attributes.run_name", "asc", [a, b, c]),
    ):
        html = client.get(url, {"cols": cols, "sort": sort, "order": order}).content.decode()
        ids = row_ids(html)
        if sort == "params.lr":
            assert ids[0] == b and set(ids[1:]) == {a, c}
        else:
            assert ids == expected, sort
        aria = "ascending" if order == "asc" else "descending"
        assert f'aria-sort="{aria}" data-column="{sort}"' in html
        # The sorted header's link flips the order.
        flipped = "desc" if order == "asc" else "asc"
        assert f"sort={sort}&amp;order={flipped}" in html


def test_a_bad_sort_or_cursor_falls_back_to_the_first_page_newest_first(
    client: Any, experiment_id: str, three_runs: dict[str, str]
) -> None:
    url = f"/experiments/{experiment_id}/runs/"
    for params in (
        {"sort": "attributes.nope"},
        {"sort": "metrics.a`b", "order": "asc"},
        {"after": "%%%"},
        {"before": "x"},
    ):
        response = client.get(url, params)
        assert response.status_code == 200
        assert row_ids(response.content.decode()) == [three_runs["c"], three_runs["b"], three_runs["a"]]


def test_picked_columns_are_in_the_url_and_remembered_per_experiment(
    client: Any, api: ApiClient, experiment_id: str, three_runs: dict[str, str]
) -> None:
    page = f"/experiments/{experiment_id}/"
    html = client.get(page, {"cols": "params.lr,tags.team"}).content.decode()
    assert headers(html)[5:] == ["params.lr", "tags.team"]
    assert '<td class="value">team-a</td>' in html
    assert client.session[COLUMNS_SESSION_KEY] == {experiment_id: "params.lr,tags.team"}
    # Opened again without cols, the page shows the last choice and says so for the script to put in the URL.
    html = client.get(page).content.decode()
    assert headers(html)[5:] == ["params.lr", "tags.team"]
    assert 'data-cols="params.lr,tags.team"' in html
    # Another experiment keeps its own (here: the default).
    other = api.post("experiments/create", {"name": "other"})["experiment_id"]
    log(api, create_run(api, other, "o"), {"acc": 1.0})
    assert headers(client.get(f"/experiments/{other}/").content.decode())[5:] == ["metrics.acc"]
    # No picked columns at all is a choice too.
    client.get(page, {"cols": ""})
    assert headers(client.get(page).content.decode())[5:] == []
    assert client.session[COLUMNS_SESSION_KEY][experiment_id] == ""


def test_pages_follow_keyset_cursors_both_ways(client: Any, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_table.query, "PAGE_SIZE", 4)
    experiment = Experiment.objects.create(name="paged", artifact_location="x", creation_time=1, last_update_time=1)
    runs = many_runs(experiment, 20)
    url = f"/experiments/{experiment.pk}/runs/"
    query = {"cols": "metrics.m", "sort": "metrics.m", "order": "desc"}
    first = client.get(url, query).content.decode()
    assert 'rel="prev"' not in first
    second = client.get(url + "?" + link(first, "next")).content.decode()
    third = client.get(url + "?" + link(second, "next")).content.decode()
    seen = row_ids(first) + row_ids(second) + row_ids(third)
    assert len(seen) == len(set(seen)) == 12
    assert row_ids(client.get(url + "?" + link(third, "prev")).content.decode()) == row_ids(second)
    assert 'aria-label="First page"' in second
    top_level = [r for i, r in enumerate(runs) if i < 10 or i % 10 != 0]
    assert f"20 runs, {len(top_level)} at the top level" in first


def test_children_come_as_rows_for_their_parent(client: Any, api: ApiClient, experiment_id: str) -> None:
    parent = create_run(api, experiment_id, "sweep", start_time=1)
    kids = [
        create_run(
            api, experiment_id, f"trial-{i}", start_time=10 + i, tags=[{"key": "mlflow.parentRunId", "value": parent}]
        )
        for i in range(3)
    ]
    html = client.get(f"/experiments/{experiment_id}/", {"cols": ""}).content.decode()
    assert row_ids(html) == [parent]
    assert 'aria-label="3 child runs of sweep"' in html
    assert f'data-children-url="/experiments/{experiment_id}/runs/{parent}/children/"' in html
    rows = client.get(
        f"/experiments/{experiment_id}/runs/{parent}/children/", {"cols": "", "depth": "1"}
    ).content.decode()
    assert row_ids(rows) == kids[::-1]
    assert f'class="child-run" data-parent-id="{parent}" data-depth="1"' in rows
    # A filter lists them flat, each naming its parent.
    flat = client.get(
        f"/experiments/{experiment_id}/", {"filter": "attributes.run_name LIKE 'trial-%'"}
    ).content.decode()
    assert row_ids(flat) == kids[::-1]
    assert flat.count(f'child of <a href="/runs/{parent}/">sweep</a>') == 3


def test_more_children_than_a_page_continue_with_a_cursor(
    client: Any, api: ApiClient, experiment_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_table.query, "PAGE_SIZE", 2)
    parent = create_run(api, experiment_id, "sweep", start_time=1)
    tag = [{"key": "mlflow.parentRunId", "value": parent}]
    kids = {create_run(api, experiment_id, f"t{i}", start_time=10 + i, tags=tag) for i in range(3)}
    url = f"/experiments/{experiment_id}/runs/{parent}/children/"
    first = client.get(url, {"cols": ""}).content.decode()
    after = re.search(r'data-after="([^"]+)"', first).group(1)
    rest = client.get(url, {"cols": "", "after": after}).content.decode()
    assert set(row_ids(first) + row_ids(rest)) == kids
    assert "data-more-url" not in rest


def test_the_column_picker_lists_the_experiments_keys(
    client: Any, experiment_id: str, three_runs: dict[str, str]
) -> None:
    html = client.get(f"/experiments/{experiment_id}/columns/", {"cols": "metrics.loss"}).content.decode()
    assert '<input type="checkbox" name="col" value="metrics.loss" checked>' in html
    assert '<input type="checkbox" name="col" value="params.lr">' in html
    assert '<input type="checkbox" name="col" value="tags.team">' in html
    assert html.index('value="tags.team"') < html.index('value="tags.mlflow.runName"')


def test_selection_is_in_the_url_and_compare_needs_two(
    client: Any, experiment_id: str, three_runs: dict[str, str]
) -> None:
    page = f"/experiments/{experiment_id}/"
    one = client.get(page, {"sel": three_runs["a"]}).content.decode()
    assert re.search(r'id="compare-button" disabled', one)
    assert f'value="{three_runs["a"]}" aria-label="Select run a" checked' in one
    two = client.get(page, {"sel": f"{three_runs['a']},{three_runs['b']}"}).content.decode()
    assert 'id="compare-button" aria-describedby' in two
    assert f'<input type="hidden" name="runs" value="{three_runs["a"]},{three_runs["b"]}">' in two
    assert 'action="/compare/"' in two


def test_the_deleted_toggle_shows_the_deleted_runs(
    client: Any, api: ApiClient, experiment_id: str, three_runs: dict[str, str]
) -> None:
    api.post("runs/delete", {"run_id": three_runs["b"]})
    page = f"/experiments/{experiment_id}/"
    assert three_runs["b"] not in row_ids(client.get(page).content.decode())
    deleted = client.get(page, {"deleted": "1"}).content.decode()
    assert row_ids(deleted) == [three_runs["b"]]
    assert '<span class="badge error">deleted</span>' in deleted
    assert 'id="show-deleted" checked' in deleted


def test_pages_take_only_get(client: Any, experiment_id: str) -> None:
    assert client.post(f"/experiments/{experiment_id}/").status_code == 405
    assert client.post(f"/experiments/{experiment_id}/runs/").status_code == 405


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"cols": "metrics.m,params.p,tags.t", "sort": "metrics.m", "order": "asc"},
        {"cols": "params.p,tags.t,metrics.m", "filter": "metrics.m > 2 or params.p = 'p1'", "sort": "tags.t"},
        {"cols": "metrics.m", "deleted": "1"},
    ],
)
def test_the_page_costs_a_fixed_number_of_queries_over_600_runs(
    client: Any, db: None, django_assert_max_num_queries: Any, params: dict
) -> None:
    experiment = Experiment.objects.create(name="big", artifact_location="x", creation_time=1, last_update_time=1)
    runs = many_runs(experiment, 600)
    Run.objects.filter(pk__in=[r.pk for r in runs[-120:]]).update(lifecycle_stage=LifecycleStage.DELETED)
    client.get(f"/experiments/{experiment.pk}/")  # a session exists, as for anyone who has been here before
    with django_assert_max_num_queries(PAGE_QUERIES):
        html = client.get(f"/experiments/{experiment.pk}/", params).content.decode()
    assert len(row_ids(html)) == run_table.PAGE_SIZE
    with django_assert_max_num_queries(PAGE_QUERIES):
        later = client.get(f"/experiments/{experiment.pk}/runs/?" + link(html, "next")).content.decode()
    assert len(row_ids(later)) == run_table.PAGE_SIZE
    assert not set(row_ids(html)) & set(row_ids(later))
    with django_assert_max_num_queries(PAGE_QUERIES):
        children = client.get(f"/experiments/{experiment.pk}/runs/{runs[0].run_uuid}/children/", params)
    assert children.status_code == 200
    with django_assert_max_num_queries(5):
        assert client.get(f"/experiments/{experiment.pk}/columns/").status_code == 200


# --- in Chromium ---------------------------------------------------------------------------------------------------


def seed_with_mlflow(mlflow_client: Any) -> tuple[str, dict[str, str]]:
    """An experiment logged by the real client: a sweep parent with three nested trials, and three plain runs."""
    import mlflow

    experiment_id = mlflow_client.create_experiment(f"browser-runs-{uuid.uuid4().hex[:6]}")
    ids: dict[str, str] = {}
    mlflow.set_experiment(experiment_id=experiment_id)
    for index, (name, loss, lr) in enumerate(
        (("baseline", 0.61, "0.1"), ("wide", 0.42, "0.01"), ("deep", 0.35, "0.001"))
    ):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params({"lr": lr, "layers": str(2 + index)})
            mlflow.log_metrics({"loss": loss, "accuracy": 1 - loss})
            mlflow.set_tag("team", "vision")
            ids[name] = run.info.run_id
    with mlflow.start_run(run_name="sweep") as parent:
        mlflow.log_param("search", "grid")
        ids["sweep"] = parent.info.run_id
        for trial in range(3):
            with mlflow.start_run(run_name=f"trial-{trial}", nested=True) as child:
                mlflow.log_param("lr", f"0.0{trial + 1}")
                mlflow.log_metrics({"loss": 0.5 - trial * 0.1, "accuracy": 0.5 + trial * 0.1})
                ids[f"trial-{trial}"] = child.info.run_id
    return experiment_id, ids


@pytest.mark.live
def test_filter_sort_pick_expand_and_compare_in_chromium(page: Any, screenshot: Any, mlflow_client: Any) -> None:
    from playwright.sync_api import expect

    experiment_id, ids = seed_with_mlflow(mlflow_client)
    page.goto(f"/experiments/{experiment_id}/")
    table = page.locator("#runs-table")
    names = table.locator("tbody td.run-name > a")
    expect(names).to_have_text(["sweep", "deep", "wide", "baseline"])
    # The default columns went into the URL, so that the link shows the same view.
    expect(page).to_have_url(re.compile(r"cols=metrics\.accuracy,metrics\.loss$"))
    page.evaluate("window.__samePage = true")
    screenshot("1280-runs")

    # A valid filter: matching runs flat, children naming their parent.
    box = page.get_by_label("Filter runs")
    box.fill("metrics.loss < 0.45 and (params.lr = '0.01' or params.lr = '0.02' or params.lr = '0.001')")
    box.press("Enter")
    expect(names).to_have_text(["trial-1", "deep", "wide"])
    expect(table.get_by_text("child of sweep")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"filter=metrics\.loss"))

    # An invalid one: MLflow's message next to the box, the box marked invalid, no error page.
    box.fill("metrics.loss <")
    box.press("Enter")
    alert = page.locator("#run-filter-error")
    expect(alert).to_have_text("Invalid clause(s) in filter string: 'metrics.loss', '<'")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("heading", name=re.compile("browser-runs"))).to_be_visible()
    screenshot("1280-invalid-filter")
    box.fill("")
    box.press("Enter")
    expect(alert).to_have_count(0)
    expect(names).to_have_count(4)

    # Sort by a metric column from its header: lowest loss first, then flipped.
    loss_header = table.locator('th[data-column="metrics.loss"] a')
    loss_header.click()
    expect(table.locator('th[data-column="metrics.loss"]')).to_have_attribute("aria-sort", "descending")
    expect(loss_header).to_be_focused()  # the new table's header, so that the keyboard stays where it was
    expect(names).to_have_text(["baseline", "wide", "deep", "sweep"])  # the sweep parent has no loss: last
    loss_header.click()
    expect(table.locator('th[data-column="metrics.loss"]')).to_have_attribute("aria-sort", "ascending")
    expect(names).to_have_text(["deep", "wide", "baseline", "sweep"])
    expect(page).to_have_url(re.compile(r"sort=metrics\.loss&order=asc"))

    # Pick columns: add the lr param and the team tag, drop accuracy.
    page.get_by_role("button", name=re.compile("^Columns")).click()
    dialog = page.get_by_role("dialog", name="Columns")
    expect(dialog.get_by_label("lr")).to_be_visible()
    dialog.get_by_label("Find a key").fill("acc")
    expect(dialog.get_by_label("lr")).to_be_hidden()
    dialog.get_by_label("accuracy").uncheck()
    dialog.get_by_label("Find a key").fill("")
    dialog.get_by_label("lr").check()
    dialog.get_by_label("team").check()
    screenshot("1280-column-picker")
    dialog.get_by_role("button", name="Apply").click()
    expect(table.locator("thead th[data-column]")).to_have_count(8)
    expect(table.locator('th[data-column="params.lr"]')).to_be_visible()
    expect(table.locator('th[data-column="tags.team"]')).to_be_visible()
    expect(table.locator('th[data-column="metrics.accuracy"]')).to_have_count(0)
    expect(page).to_have_url(re.compile(r"cols=metrics\.loss,params\.lr,tags\.team"))
    expect(table.locator("tbody tr").first.locator("td.value")).to_have_text(["0.35", "0.001", "vision"])

    # Expand the sweep: its trials appear under it, and the parent is open in the URL.
    expander = page.get_by_role("button", name="3 child runs of sweep")
    expander.click()
    expect(expander).to_have_attribute("aria-expanded", "true")
    children = table.locator(f'tr.child-run[data-parent-id="{ids["sweep"]}"] td.run-name > a')
    expect(children).to_have_text(["trial-2", "trial-1", "trial-0"])  # sorted by loss, ascending
    expect(page).to_have_url(re.compile(rf"open={ids['sweep']}"))
    screenshot("1280-expanded")

    # Select three runs (one of them nested) and compare them.
    compare = page.get_by_role("button", name="Compare")
    expect(compare).to_be_disabled()
    for name in ("deep", "wide", "trial-1"):
        page.get_by_label(f"Select run {name}", exact=True).check()
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    expect(compare).to_be_enabled()
    assert page.evaluate("window.__samePage") is True
    page.set_viewport_size({"width": 768, "height": 1000})
    screenshot("768-selected")
    selected = ",".join(ids[n] for n in ("deep", "wide", "trial-1"))
    expect(page).to_have_url(re.compile(rf"sel={selected}"))
    # A reload shows the same view: the URL holds it all (and the session the columns).
    page.reload()
    expect(table.locator('th[data-column="tags.team"]')).to_be_visible()
    expect(page.get_by_label("Select run trial-1", exact=True)).to_be_checked()
    expect(page.locator("#selection-count")).to_have_text("3 selected")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_url(re.compile(rf"/compare/\?runs={selected}$"))


@pytest.mark.live
def test_remembered_columns_come_back_into_the_url_in_chromium(page: Any, screenshot: Any, mlflow_client: Any) -> None:
    from playwright.sync_api import expect

    experiment_id, _ = seed_with_mlflow(mlflow_client)
    page.goto(f"/experiments/{experiment_id}/?cols=params.layers,metrics.accuracy")
    expect(page.locator('#runs-table th[data-column="params.layers"]')).to_be_visible()
    page.goto(f"/experiments/{experiment_id}/")
    expect(page.locator('#runs-table th[data-column="params.layers"]')).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?cols=params\.layers,metrics\.accuracy$"))
    # The deleted toggle: no deleted runs yet.
    page.get_by_label("Deleted runs").check()
    expect(page.locator("#runs-table tbody")).to_contain_text("No deleted runs.")
    expect(page).to_have_url(re.compile(r"deleted=1"))
    page.set_viewport_size({"width": 768, "height": 1000})
    page.get_by_label("Deleted runs").uncheck()
    expect(page.locator("#runs-table tbody td.run-name > a")).to_have_count(4)
    screenshot("768-runs")
