"""Script through data, in Chromium: run names, tags, params, descriptions, experiment names, a model's Markdown
description and HTML/SVG artifacts carrying payloads are shown as text on every page, and nothing runs."""

from __future__ import annotations

import time
from typing import Any

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

IMG = '<img src=x onerror="window.__xss=1">'
SCRIPT = "<script>window.__xss=1</script>"
FRAME_SCRIPT = "<script>window.parent.__xss=1; window.top.__xss=1; fetch('/api/2.0/mlflow/experiments/search')</script>"
SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.parent.__xss=1"><script>window.top.__xss=1</script></svg>'
MARKDOWN = (
    f"# Churn model\n\n{SCRIPT}\n\n{IMG}\n\n[docs](javascript:window.__xss=1) and "
    '<a href="#" onclick="window.__xss=1">click</a>\n\n<iframe src="javascript:window.parent.__xss=1"></iframe>'
)

# Every way a payload could have become live markup, checked on each page after it has settled.
_INJECTED = """() => ({
  xss: window.__xss,
  frames: [...document.querySelectorAll("iframe")].map((f) => { try { return f.contentWindow.__xss; } catch (e) {
    return undefined; } }).filter((v) => v !== undefined),
  images: document.querySelectorAll('img[src="x"]').length,
  // Data blocks (json_script's type="application/json") hold the payloads escaped and never run.
  scripts: [...document.scripts].filter((s) => s.type !== "application/json" && s.textContent.includes("__xss")).length,
  handlers: document.querySelectorAll("[onclick], [onload], [onerror]").length,
  jsLinks: [...document.querySelectorAll("a[href]")].filter((a) => a.protocol === "javascript:").length,
})"""


def _assert_inert(page: Any, where: str, *, images: int = 0) -> None:
    """Nothing ran and no payload became markup; ``images``: the ``<img src=x>`` a Markdown description may keep
    (Markdown allows images; the sanitizer drops their handlers)."""
    page.wait_for_load_state("networkidle")
    found = page.evaluate(_INJECTED)
    expected = {"xss": None, "frames": [], "images": images, "scripts": 0, "handlers": 0, "jsLinks": 0}
    assert found == expected, (where, found)


def _log_payloads(client: MlflowClient) -> dict[str, str]:
    """An experiment, two runs and a model whose user-given text all carry payloads."""
    experiment_id = client.create_experiment(f"exp {IMG}", tags={"owner": SCRIPT})
    run_ids = []
    for name, value in ((IMG, 0.5), (f"second {SCRIPT}", 0.7)):
        run = client.create_run(
            experiment_id, run_name=name, tags={"team": SCRIPT, "mlflow.note.content": IMG + SCRIPT}
        )
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric("loss", value / (1 + step), now, step) for step in range(5)],
            params=[],
        )
        client.log_param(run_id, "optimizer", SCRIPT)
        client.log_param(run_id, "lr", str(value))
        client.set_terminated(run_id)
        run_ids.append(run_id)
    client.log_text(run_ids[0], f"<h1>Report</h1>{FRAME_SCRIPT}", "report.html")
    client.log_text(run_ids[0], SVG, "chart.svg")
    client.log_text(run_ids[0], f"{SCRIPT}\n{IMG}\n", "notes.txt")
    client.create_registered_model("xss-model", tags={"stage": SCRIPT}, description=MARKDOWN)
    return {"experiment": experiment_id, "run": run_ids[0], "other": run_ids[1]}


@pytest.mark.live
@pytest.mark.csp  # the raw view's sandbox is a policy too; the text checks show the escaping on its own
def test_payloads_render_as_text_and_never_run(page: Any, screenshot: Any, mlflow_client: MlflowClient) -> None:
    from playwright.sync_api import expect

    ids = _log_payloads(mlflow_client)
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))

    page.goto("/experiments/")
    expect(page.get_by_role("link", name=f"exp {IMG}")).to_be_visible()
    _assert_inert(page, "experiment list")
    screenshot("experiment-list")

    page.goto(f"/experiments/{ids['experiment']}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"exp {IMG}")
    expect(page.get_by_role("link", name=IMG, exact=True)).to_be_visible()
    _assert_inert(page, "experiment detail")
    # The table is swapped in as a server-rendered fragment when the filter changes.
    page.locator("#run-filter-form input[name=filter]").fill("params.optimizer LIKE '%script%'")
    page.locator("#run-filter-form input[name=filter]").press("Enter")
    expect(page.get_by_role("link", name=IMG, exact=True)).to_be_visible()
    _assert_inert(page, "experiment detail, filtered")
    screenshot("experiment-detail")

    page.goto(f"/runs/{ids['run']}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(IMG)
    overview = page.locator("#panel-overview")
    expect(overview.get_by_role("cell", name=SCRIPT, exact=True).first).to_be_visible()
    expect(overview.get_by_role("region", name="Description")).to_contain_text(IMG + SCRIPT)
    _assert_inert(page, "run overview")
    screenshot("run-overview")
    page.goto(f"/runs/{ids['run']}/?tab=metrics")
    expect(page.locator('[data-metric-key="loss"] path.js-line').first).to_be_visible()
    _assert_inert(page, "run metrics")

    page.goto(f"/compare/?runs={ids['run']},{ids['other']}")
    expect(page.locator("[data-curves] .legendtext").first).to_be_visible()
    expect(page.get_by_role("link", name=IMG, exact=True).first).to_be_visible()
    _assert_inert(page, "compare")
    screenshot("compare")

    page.goto("/models/xss-model/")
    description = page.locator("#model-description-text")
    expect(description.get_by_role("heading", name="Churn model")).to_be_visible()
    expect(description).to_contain_text("docs and click")  # the links kept as text, their javascript: and onclick not
    expect(description.locator("iframe, script")).to_have_count(0)
    expect(page.get_by_text(SCRIPT, exact=True).first).to_be_visible()  # the tag's value
    _assert_inert(page, "model page", images=1)
    screenshot("model")

    # An HTML report and an SVG in the preview: sandboxed frames and images, no script, no request made by them.
    before = len(requests)
    page.goto(f"/runs/{ids['run']}/artifacts/?path=report.html")
    frame = page.locator("iframe.artifact-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator("iframe.artifact-frame").get_by_role("heading", name="Report")).to_be_visible()
    _assert_inert(page, "html preview")
    screenshot("artifact-html-preview")
    page.goto(f"/runs/{ids['run']}/artifacts/?path=chart.svg")
    expect(page.locator("[data-preview] img").first).to_be_attached()
    _assert_inert(page, "svg preview")
    # Opened on their own (the "Open raw" link), the files still run nothing: the raw view's policy sandboxes them.
    for name in ("report.html", "chart.svg"):
        page.goto(f"/runs/{ids['run']}/artifacts/raw/{name}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, name
    page.goto(f"/runs/{ids['run']}/artifacts/?path=notes.txt")
    expect(page.locator("[data-preview]")).to_contain_text(SCRIPT)
    _assert_inert(page, "text preview")
    assert not [url for url in requests[before:] if "experiments/search" in url], requests[before:]
