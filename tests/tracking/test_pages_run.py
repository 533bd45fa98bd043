"""The run page, through Django's client and in Chromium with data logged by the real ``mlflow`` client."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.conftest import ApiClient
from tests.registry.conftest import logged_model, register  # noqa: F401 - fixtures
from tracking import run_sections
from tracking.store.run_page import CHILD_LIMIT, RunPageState


def run_url(run_id: str, **query: str) -> str:
    return f"/runs/{run_id}/" + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def html(client: Any, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (response.status_code, response.content[:300])
    return response.content.decode()


def panel(page: str, name: str) -> str:
    """The HTML of one tab's panel (up to the next panel)."""
    start = page.index(f'id="panel-{name}"')
    following = page.find('<section id="panel-', start)
    return page[start : following if following > 0 else len(page)]


def new_run(api: ApiClient, experiment_id: str, name: str = "r", tags: dict[str, str] | None = None) -> str:
    payload = {"experiment_id": experiment_id, "run_name": name, "start_time": 1_700_000_000_000}
    payload["tags"] = [{"key": k, "value": v} for k, v in (tags or {}).items()]
    return api.post("runs/create", payload)["run"]["info"]["run_id"]


SYSTEM_TAGS = {
    "mlflow.user": "ada",
    "mlflow.source.name": "train.py",
    "mlflow.source.type": "LOCAL",
    "mlflow.source.git.commit": "0123456789abcdef0123456789abcdef01234567",
    "mlflow.source.git.branch": "main",
    "mlflow.note.content": "Baseline with <b>dropout</b>\nsecond line",
}


def test_overview_shows_status_times_source_and_description(api: ApiClient, client: Any, experiment_id: str) -> None:
    run_id = new_run(api, experiment_id, "baseline", SYSTEM_TAGS)
    api.post("runs/update", {"run_id": run_id, "status": "FINISHED", "end_time": 1_700_000_065_000})
    page = html(client, run_url(run_id))
    overview = panel(page, "overview")
    assert "<h1>baseline</h1>" in page
    assert 'class="badge FINISHED"' in overview
    assert "2023-11-14 22:13:20 UTC" in overview  # start
    assert "2023-11-14 22:14:25 UTC" in overview  # end
    assert "1m 05s" in overview
    assert ">ada<" in overview
    assert "train.py" in overview and ">LOCAL<" in overview
    assert "0123456789ab" in overview and 'title="0123456789abcdef0123456789abcdef01234567"' in overview
    # The note is text, escaped, with its line breaks kept.
    assert "Baseline with &lt;b&gt;dropout&lt;/b&gt;<br>second line" in overview
    assert f'href="/experiments/{experiment_id}/"' in overview


def test_params_metrics_and_tags_with_system_tags_apart(api: ApiClient, client: Any, experiment_id: str) -> None:
    run_id = new_run(api, experiment_id, tags={**SYSTEM_TAGS, "team": "vision"})
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "params": [{"key": "lr", "value": "0.01"}],
            "metrics": [
                {"key": "loss", "value": 0.5, "timestamp": 1, "step": 0},
                {"key": "loss", "value": 0.25, "timestamp": 2, "step": 1},
                {"key": "nan_metric", "value": "NaN", "timestamp": 1, "step": 0},
            ],
        },
    )
    overview = panel(html(client, run_url(run_id)), "overview")
    params = overview[overview.index('id="run-params"') : overview.index('id="run-metrics"')]
    assert "lr" in params and "0.01" in params
    metrics = overview[overview.index('id="run-metrics"') : overview.index('id="run-tags"')]
    assert ">loss</a>" in metrics and ">0.25<" in metrics and ">NaN<" in metrics
    user_tags = overview[overview.index('id="run-tags"') : overview.index('id="run-system-tags"')]
    system_tags = overview[overview.index('id="run-system-tags"') : overview.index('id="run-datasets"')]
    assert "team" in user_tags and "mlflow.user" not in user_tags
    assert "mlflow.source.name" in system_tags and "mlflow.runName" in system_tags and "team" not in system_tags


def test_parent_and_child_runs_link_to_each_other(api: ApiClient, client: Any, experiment_id: str) -> None:
    parent = new_run(api, experiment_id, "parent")
    children = [new_run(api, experiment_id, f"child-{i}", {"mlflow.parentRunId": parent}) for i in range(3)]
    api.post("runs/delete", {"run_id": children[2]})
    parent_page = panel(html(client, run_url(parent)), "overview")
    for child in children[:2]:
        assert f'href="/runs/{child}/"' in parent_page
    assert f'href="/runs/{children[2]}/"' not in parent_page  # deleted children are left out
    child_page = html(client, run_url(children[0]))
    assert f'<a href="/runs/{parent}/">parent</a>' in panel(child_page, "overview")
    breadcrumbs = child_page[child_page.index('aria-label="Breadcrumbs"') : child_page.index("<h1>")]
    assert f'<a href="/runs/{parent}/">parent</a>' in breadcrumbs


def test_a_purged_parent_is_named_not_linked(api: ApiClient, client: Any, experiment_id: str) -> None:
    run_id = new_run(api, experiment_id, tags={"mlflow.parentRunId": "f" * 32})
    overview = panel(html(client, run_url(run_id)), "overview")
    assert "f" * 32 + '</span> <span class="muted">(no longer exists)' in overview


def test_many_children_are_capped_with_a_pointer_to_the_experiment(
    api: ApiClient, client: Any, experiment_id: str
) -> None:
    parent = new_run(api, experiment_id, "sweep")
    for i in range(CHILD_LIMIT + 1):
        new_run(api, experiment_id, f"trial-{i}", {"mlflow.parentRunId": parent})
    overview = panel(html(client, run_url(parent)), "overview")
    assert overview.count('href="/runs/') == CHILD_LIMIT
    assert f"Only the first {CHILD_LIMIT} child runs are listed" in overview


def test_datasets_show_name_digest_source_context_and_schema(api: ApiClient, client: Any, run_id: str) -> None:
    schema = '{"mlflow_colspec": [{"type": "double", "name": "sepal_length", "required": true}]}'
    dataset = {
        "name": "iris",
        "digest": "d1g35t",
        "source_type": "local",
        "source": '{"uri": "/data/iris.csv"}',
        "schema": schema,
        "profile": '{"num_rows": 150, "num_elements": 600}',
    }
    tags = [{"key": "mlflow.data.context", "value": "training"}]
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": [{"tags": tags, "dataset": dataset}]})
    overview = panel(html(client, run_url(run_id)), "overview")
    datasets = overview[overview.index('id="run-datasets"') : overview.index('id="run-models"')]
    for text in ("iris", "d1g35t", "local", "/data/iris.csv", "training", "sepal_length", "double", "150 rows"):
        assert text in datasets, text


def test_logged_models_show_their_params_and_metrics(
    api: ApiClient, client: Any, experiment_id: str, run_id: str
) -> None:
    info = api.post(
        "logged-models",
        {
            "experiment_id": experiment_id,
            "name": "clf",
            "source_run_id": run_id,
            "params": [{"key": "C", "value": "2"}],
        },
    )["model"]["info"]
    used = api.post("logged-models", {"experiment_id": experiment_id, "name": "encoder"})["model"]["info"]
    api.post("runs/log-inputs", {"run_id": run_id, "models": [{"model_id": used["model_id"]}]})
    metric = {"key": "accuracy", "value": 0.93, "timestamp": 1, "step": 4, "model_id": info["model_id"]}
    api.post("runs/log-batch", {"run_id": run_id, "metrics": [metric]})
    overview = panel(html(client, run_url(run_id)), "overview")
    models = overview[overview.index('id="run-models"') :]
    clf = models[models.index(">clf <") : models.index(">encoder <")]
    assert info["model_id"] in clf and "logged by this run" in clf
    assert ">C<" in clf and ">2<" in clf
    assert ">accuracy<" in clf and ">0.93<" in clf and ">4<" in clf
    assert "used by this run" in models[models.index(">encoder <") :]


def test_registered_versions_come_from_the_registry_linked_to_their_pages(
    client: Any,
    run_id: str,
    register: Any,  # noqa: F811 - the fixture
) -> None:
    register("fraud")
    register("fraud")
    overview = panel(html(client, run_url(run_id)), "overview")
    section = overview[overview.index("Registered model versions") :]
    assert '<a href="/models/fraud/versions/2/">fraud version 2</a>' in section
    assert '<a href="/models/fraud/versions/1/">fraud version 1</a>' in section
    assert "models:/fraud/1" in section
    assert 'href="models:/' not in section


def test_a_run_without_versions_says_so(client: Any, run_id: str) -> None:
    assert "No model version was registered from this run." in html(client, run_url(run_id))


def test_other_apps_can_add_sections(client: Any, run_id: str) -> None:
    def provider(run: Any, user: Any) -> run_sections.RunSection:
        cell = run_sections.Cell("<linked>", url=f"/elsewhere/{run.run_uuid}/")
        return run_sections.RunSection("Deployments", ("Where",), [(cell,)])

    run_sections.register("test.deployments", provider)
    run_sections.register("test.nothing", lambda run, user: None)
    try:
        overview = panel(html(client, run_url(run_id)), "overview")
    finally:
        run_sections.unregister("test.deployments")
        run_sections.unregister("test.nothing")
    assert ">Deployments" in overview
    assert f'<a href="/elsewhere/{run_id}/">&lt;linked&gt;</a>' in overview


def test_deleted_run_is_shown_marked(api: ApiClient, client: Any, run_id: str) -> None:
    api.post("runs/delete", {"run_id": run_id})
    page = html(client, run_url(run_id))
    assert 'class="badge error">Deleted<' in page and "This run is deleted" in page


def test_unknown_run_and_wrong_method(client: Any, db: None) -> None:
    html(client, run_url("f" * 32), status=404)
    assert client.post(run_url("f" * 32)).status_code == 405


def test_tab_and_chart_settings_come_from_the_url(api: ApiClient, client: Any, run_id: str) -> None:
    api.post("runs/log-metric", {"run_id": run_id, "key": "loss/train", "value": 1.0, "timestamp": 1, "step": 0})
    page = html(client, run_url(run_id, tab="metrics", x="wall", smoothing="0.6", log="1"))
    assert re.search(r'id="panel-overview"[^>]* hidden', page)
    assert not re.search(r'id="panel-metrics"[^>]* hidden', page)
    assert re.search(r'id="tab-metrics"[^>]*aria-selected="true"', page, re.S)
    metrics = panel(page, "metrics")
    assert '<option value="wall" selected>' in metrics
    assert 'value="0.6" data-setting="smoothing"' in metrics
    assert re.search(r'name="log" value="1" checked', metrics)
    assert 'data-metric-key="loss/train"' in metrics
    # Tab links keep the settings.
    assert 'href="?x=wall&amp;smoothing=0.6&amp;log=1"' in page  # the overview's
    assert 'href="?x=wall&amp;smoothing=0.6&amp;log=1&amp;tab=artifacts"' in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, RunPageState()),
        ({"tab": "bogus", "x": "bogus", "smoothing": "abc", "log": "maybe"}, RunPageState()),
        ({"smoothing": "5"}, RunPageState(smoothing=0.99)),
        ({"smoothing": "-1"}, RunPageState(smoothing=0.0)),
        ({"smoothing": "nan"}, RunPageState(smoothing=0.0)),
        (
            {"tab": "artifacts", "x": "relative", "log": "true", "q": " lr "},
            RunPageState("artifacts", "relative", 0, True, "lr"),
        ),
    ],
)
def test_page_state_falls_back_to_defaults_on_bad_values(query: dict, expected: RunPageState) -> None:
    assert RunPageState.from_params(query) == expected


def test_bad_query_values_render_the_default_view(client: Any, run_id: str) -> None:
    page = html(client, run_url(run_id, tab="nope", x="sideways", smoothing="lots"))
    assert not re.search(r'id="panel-overview"[^>]* hidden', page)


def test_artifacts_tab_holds_the_artifacts_component(client: Any, run_id: str) -> None:
    artifacts = panel(html(client, run_url(run_id, tab="artifacts")), "artifacts")
    assert "data-artifact-browser" in artifacts
    assert f'data-list-url="/runs/{run_id}/artifacts/list"' in artifacts
    assert f'href="/runs/{run_id}/artifacts/zip"' in artifacts


def test_query_count_is_fixed_whatever_the_run_holds(
    api: ApiClient,
    client: Any,
    experiment_id: str,
    run_id: str,
    django_assert_max_num_queries: Any,
    register: Any,  # noqa: F811 - the fixture (a version of the run's logged model)
) -> None:
    parent = new_run(api, experiment_id, "parent")
    api.post("runs/set-tag", {"run_id": run_id, "key": "mlflow.parentRunId", "value": parent})
    for start in range(0, 400, 100):  # 400 params, tags and metrics, in batches under MLflow's limits
        api.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": f"p{i}", "value": str(i)} for i in range(start, start + 100)],
                "tags": [{"key": f"t{i}", "value": str(i)} for i in range(start, start + 100)],
                "metrics": [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(start, start + 100)],
            },
        )
    datasets = [
        {"dataset": {"name": f"d{i}", "digest": f"{i}", "source_type": "local", "source": "{}"}} for i in range(30)
    ]
    api.post("runs/log-inputs", {"run_id": run_id, "datasets": datasets})
    for i in range(20):
        model = api.post(
            "logged-models",
            {
                "experiment_id": experiment_id,
                "name": f"lm{i}",
                "source_run_id": run_id,
                "params": [{"key": "a", "value": "1"}],
            },
        )["model"]["info"]
        metric = {"key": "acc", "value": 0.5, "timestamp": 1, "step": 0, "model_id": model["model_id"]}
        api.post("runs/log-batch", {"run_id": run_id, "metrics": [metric]})
    for i in range(30):
        new_run(api, experiment_id, f"child-{i}", {"mlflow.parentRunId": run_id})
    for _ in range(5):
        register("m")
    # The run, its params, tags, metrics (twice: latest values, then extents), datasets, model links, parent,
    # children, logged models with their params and metrics, and the registry's versions with tags and aliases.
    with django_assert_max_num_queries(15):
        page = html(client, run_url(run_id))
    assert page.count('data-metric-chart data-metric-key="m') == 400
    assert page.count('data-filter-key="p') == 400
    assert page.count(">lm") == 20
    assert page.count("m version ") == 5
    assert page.count('href="/runs/') >= 31


def test_run_page_is_quick_with_many_params_tags_and_metrics(api: ApiClient, client: Any, run_id: str) -> None:
    for start in range(0, 600, 100):
        api.post(
            "runs/log-batch",
            {
                "run_id": run_id,
                "params": [{"key": f"p{i}", "value": "v" * 50} for i in range(start, start + 100)],
                "tags": [{"key": f"t{i}", "value": "v" * 50} for i in range(start, start + 100)],
                "metrics": [{"key": f"m{i}", "value": i, "timestamp": 1, "step": 0} for i in range(start, start + 100)],
            },
        )
    html(client, run_url(run_id))  # warm the template cache
    started = time.perf_counter()
    html(client, run_url(run_id))
    assert time.perf_counter() - started < 1.0


# --- in Chromium --------------------------------------------------------------------------------------------------


def log_parent_and_child(tracking_uri: str) -> tuple[str, str]:
    """A run logged through the real client: params, tags, a dataset, a 5,000-step metric, a second metric, an
    artifact, and a nested child run."""
    import mlflow
    import pandas as pd
    from mlflow.entities import Metric

    mlflow.set_experiment("run-page")
    client = mlflow.MlflowClient(tracking_uri)
    with mlflow.start_run(run_name="parent-run", description="Baseline for the sweep") as parent:
        mlflow.log_params({"lr": 0.01, "layers": 3})
        mlflow.set_tags({"team": "vision"})
        frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0.0, 1.0, 0.0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train-set"), context="training")
        start = int(time.time() * 1000) - 5_000_000
        for first in range(0, 5000, 1000):  # one second between steps: 83 minutes of wall time
            points = [
                Metric("loss", 1.0 / (1 + s) + (s % 7) * 0.001, start + s * 1000, s) for s in range(first, first + 1000)
            ]
            client.log_batch(parent.info.run_id, metrics=points)
        for step in range(20):
            mlflow.log_metric("accuracy", 0.5 + step * 0.02, step=step)
        mlflow.log_text("hello", "notes/readme.txt")
        with mlflow.start_run(run_name="child-run", nested=True) as child:
            mlflow.log_metric("child_loss", 1.0)
    return parent.info.run_id, child.info.run_id


def chart_state(page: Any, key: str) -> dict:
    """What the drawn Plotly chart of a metric holds: its traces and axes."""
    return page.evaluate(
        """(key) => {
            const plot = document.querySelector(`[data-metric-key="${key}"] .metric-chart-plot`);
            return {traces: plot.data.length, fills: plot.data.filter((t) => t.fill).length,
                    points: plot.data[plot.data.length - 1].x.length, xtype: plot.layout.xaxis.type,
                    ytype: plot.layout.yaxis.type, xtitle: plot.layout.xaxis.title.text,
                    xrange: plot.layout.xaxis.range};
        }""",
        key,
    )


@pytest.mark.live
def test_run_page_in_chromium(page: Any, screenshot: Any, tracking_uri: str) -> None:
    from playwright.sync_api import expect

    parent_id, child_id = log_parent_and_child(tracking_uri)
    page.goto(f"/runs/{parent_id}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("parent-run")
    overview = page.locator("#panel-overview")
    expect(overview.get_by_role("row", name=re.compile(r"^Status Finished"))).to_be_visible()
    expect(overview.get_by_role("region", name="Description")).to_contain_text("Baseline for the sweep")
    expect(overview.get_by_role("cell", name="train-set")).to_be_visible()
    expect(overview.get_by_role("cell", name="lr", exact=True)).to_be_visible()
    expect(overview.get_by_role("cell", name="team", exact=True)).to_be_visible()
    expect(overview.get_by_role("link", name="run-page")).to_have_attribute("href", re.compile(r"^/experiments/\d+/$"))
    child_link = overview.get_by_role("link", name="child-run")
    expect(child_link).to_have_attribute("href", f"/runs/{child_id}/")
    screenshot("overview-1280-light")

    child_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("child-run")
    page.locator("#panel-overview").get_by_role("link", name="parent-run").click()
    expect(page).to_have_url(re.compile(f"/runs/{parent_id}/$"))

    # Metrics: a chart per key, the 5,000-step one sampled with its min-max band.
    page.get_by_role("tab", name=re.compile("Metrics")).click()
    expect(page).to_have_url(re.compile(r"\?tab=metrics$"))
    loss_line = page.locator('[data-metric-key="loss"] path.js-line')
    expect(loss_line.first).to_be_visible()
    expect(page.locator('[data-metric-key="accuracy"] path.js-line').first).to_be_visible()
    state = chart_state(page, "loss")
    assert state["fills"] == 1 and 250 <= state["points"] <= 500 and state["xtitle"] == "Step"  # at most 500 groups

    # Zooming fetches the range at full resolution (every point); a reset goes back to the sample.
    plot = '[data-metric-key="loss"] .metric-chart-plot'
    page.evaluate(f"Plotly.relayout(document.querySelector('{plot}'), {{'xaxis.range': [1000, 1100]}})")
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 1")
    assert chart_state(page, "loss")["points"] == 101
    page.evaluate(f"Plotly.relayout(document.querySelector('{plot}'), {{'xaxis.autorange': true}})")
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 3")
    # The same with the mouse: a drag across 3% of the plot, then a double-click.
    box = page.locator(f"{plot} .nsewdrag").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.30, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.31, y, steps=2)
    page.mouse.move(box["x"] + box["width"] * 0.33, y, steps=2)
    page.mouse.up()
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 1")
    page.mouse.dblclick(box["x"] + box["width"] * 0.5, y)
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 3")

    x_title = page.locator('[data-metric-key="loss"] .xtitle')
    page.get_by_label("X axis").select_option("wall")
    expect(x_title).to_have_text("Wall time")
    assert chart_state(page, "loss")["xtype"] == "date"
    # A zoom on wall time maps back to steps (Plotly names the range with more digits than it was given).
    page.evaluate(
        f"""() => {{ const p = document.querySelector('{plot}'); const x = p.data[p.data.length - 1].x;
                    Plotly.relayout(p, {{'xaxis.range': [x[100] + '4', x[110] + '4']}}); }}"""
    )
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 1")
    assert 150 < chart_state(page, "loss")["points"] < 200  # ten groups of 16 steps, and the neighbours
    page.evaluate(f"Plotly.relayout(document.querySelector('{plot}'), {{'xaxis.autorange': true}})")
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 3")
    page.get_by_label("X axis").select_option("relative")
    expect(x_title).to_have_text("Relative time (min)")
    low, high = chart_state(page, "loss")["xrange"]  # 4,999 seconds from the first point: 83.3 minutes
    assert -5 < low < 1 and 80 < high < 90

    page.get_by_label("Log scale").check()
    page.evaluate(
        """() => { const s = document.getElementById('chart-smoothing'); s.value = '0.6';
                   s.dispatchEvent(new Event('input', {bubbles: true})); }"""
    )
    expect(page.locator("#chart-smoothing-value")).to_have_text("0.60")
    page.wait_for_function(f"document.querySelector('{plot}').layout.yaxis.type === 'log'")
    assert chart_state(page, "loss")["traces"] == 4  # band (2), the raw line faded, the smoothed line
    expect(page).to_have_url(re.compile(r"tab=metrics&x=relative&log=1&smoothing=0.60$"))
    screenshot("metrics-1280-light")

    page.reload()
    expect(page.get_by_label("X axis")).to_have_value("relative")
    expect(page.get_by_label("Log scale")).to_be_checked()
    expect(page.locator("#chart-smoothing")).to_have_value("0.6")
    expect(x_title).to_have_text("Relative time (min)")
    page.wait_for_function(f"document.querySelector('{plot}').data.length === 4")
    state = chart_state(page, "loss")
    assert state["ytype"] == "log" and state["xtype"] == "linear"

    page.get_by_role("button", name="Switch to dark theme").click()
    screenshot("metrics-1280-dark")
    page.set_viewport_size({"width": 768, "height": 1000})
    screenshot("metrics-768-dark")
    page.get_by_role("button", name="Switch to light theme").click()
    screenshot("metrics-768-light")

    # Artifacts: the component, on its tab; the arrow keys move between tabs.
    page.get_by_role("tab", name="Artifacts").click()
    expect(page.locator("#panel-artifacts [data-path='notes']")).to_be_visible()
    page.get_by_role("tab", name="Artifacts").press("ArrowLeft")
    expect(page.get_by_role("tab", name=re.compile("Metrics"))).to_have_attribute("aria-selected", "true")
    page.get_by_role("tab", name=re.compile("Metrics")).press("ArrowLeft")
    expect(page.locator("#panel-overview")).to_be_visible()
    expect(page).not_to_have_url(re.compile("tab="))
    screenshot("overview-768-light")
    page.get_by_role("button", name="Switch to dark theme").click()
    screenshot("overview-768-dark")
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot("overview-1280-dark")


@pytest.mark.live
def test_metric_chart_component_overlays_runs_and_charts_draw_lazily(page: Any, live_server: Any) -> None:
    from playwright.sync_api import expect

    from tracking.store import experiments, runs
    from tracking.store.metrics import MetricIn

    experiment_id = str(experiments.create_experiment(name="overlay"))
    run_ids = []
    for i in range(100):  # enough run ids to make the sample request a POST
        run, _ = runs.create_run(experiment_id=experiment_id, run_name=f"r{i}", start_time=1000)
        runs.log_batch(run_id=run.run_uuid, metrics=[MetricIn("m", float(i + s), 1000 + 1000 * s, s) for s in range(5)])
        run_ids.append(run.run_uuid)
    many = [MetricIn(f"k{j:02d}", float(s), 1000 + s, s) for j in range(60) for s in range(2)]
    runs.log_batch(run_id=run_ids[0], metrics=many)

    # 61 keys: only the charts near the viewport are drawn; the others as they scroll into view.
    page.goto(f"/runs/{run_ids[0]}/?tab=metrics")
    expect(page.locator('[data-metric-key="k00"] path.js-line')).to_be_visible()
    assert page.locator(".metric-chart-plot").count() < 20
    last = page.locator('[data-metric-key="m"]')
    last.scroll_into_view_if_needed()
    expect(last.locator("path.js-line")).to_be_visible()
    page.get_by_label("Filter charts by metric key").fill("k5")
    expect(page.locator(".metric-panel:visible")).to_have_count(10)
    expect(page).to_have_url(re.compile(r"metrics=k5"))

    # The component as the compare page uses it: many runs overlaid, updated, zoomed, destroyed.
    with page.expect_request(lambda r: "/studio/metrics/sample" in r.url and r.method == "POST"):
        page.evaluate(
            """(ids) => {
                const host = document.createElement("div");
                host.id = "overlay";
                document.querySelector("main").append(host);
                window.changes = [];
                window.overlay = StudioMetricChart.mount(host, {
                    runs: ids.map((id, i) => ({id, name: "r" + i})), key: "m", onChange: (s) => changes.push(s)});
            }""",
            run_ids,
        )
    expect(page.locator("#overlay .scatterlayer path.js-line")).to_have_count(100)
    expect(page.locator("#overlay .legend")).to_have_count(0)  # 100 names would crowd out the lines
    page.evaluate("overlay.update({x: 'relative'})")
    expect(page.locator("#overlay .xtitle")).to_have_text("Relative time (s)")
    page.evaluate("overlay.update({x: 'step', smoothing: 0.5, logY: true})")
    expect(page.locator("#overlay .xtitle")).to_have_text("Step")
    page.evaluate("Plotly.relayout(document.querySelector('#overlay .metric-chart-plot'), {'xaxis.range': [0.6, 2.4]})")
    page.wait_for_function("changes.length === 1")
    assert page.evaluate("changes[0]") == {
        "key": "m",
        "x": "step",
        "smoothing": 0.5,
        "logY": True,
        "range": {"start": 0, "end": 3},
    }
    page.evaluate("overlay.destroy()")
    expect(page.locator("#overlay > *")).to_have_count(0)
