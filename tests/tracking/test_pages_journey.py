"""One data scientist's way through the tracking pages in Chromium, following the pages' own links: find the
experiment by typing, open it, open a run, read its chart, open an artifact, go back, select runs and compare them.
On every page, every control and image must have an accessible name and the page must fit a 768 px window."""

from __future__ import annotations

import re
from typing import Any

import mlflow
import pytest
from mlflow.entities import Metric
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

# Controls without an accessible name: what a screen reader would announce as just "button" or "edit text".
# Plotly's own mode bar (links without href, hidden from the tab order) is left to Plotly.
UNLABELLED = """() => {
  const named = (el) => {
    if ((el.getAttribute("aria-label") || "").trim()) return true;
    const by = el.getAttribute("aria-labelledby");
    if (by && by.split(/\\s+/).some((id) => (document.getElementById(id)?.textContent || "").trim())) return true;
    if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
    if ((el.getAttribute("title") || "").trim()) return true;
    if (el.tagName === "IMG") return el.hasAttribute("alt");
    if (el.tagName === "INPUT" && ["submit", "button", "reset"].includes(el.type)) return !!el.value.trim();
    if (["BUTTON", "A", "SUMMARY"].includes(el.tagName)) return !!el.textContent.trim();
    return false;
  };
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
  const controls = document.querySelectorAll(
    "button, a[href], input:not([type=hidden]), select, textarea, summary, img, iframe, [role=button], [tabindex='0']"
  );
  return [...controls]
    .filter((el) => visible(el) && !el.closest(".modebar") && !named(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""

WIDEST = """() => [...document.querySelectorAll("main *")]
  .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .filter((el) => !el.closest(".table-wrap"))
  .slice(0, 5).map((el) => el.tagName + "." + el.className + " " + Math.round(el.getBoundingClientRect().right))"""


def check_page(page: Any, screenshot: Any, label: str) -> None:
    """Every control named, and at 768 px nothing wider than the window but the tables that scroll inside it."""
    page.wait_for_load_state("load")  # a page's own script adds controls once plotly.js has loaded
    assert page.evaluate(UNLABELLED) == [], f"unlabelled controls on {page.url}"
    screenshot(f"{label}-1280")
    page.set_viewport_size({"width": 768, "height": 1000})
    # Plotly redraws responsive charts a moment after the window's resize event.
    fits = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    try:
        page.wait_for_function(fits, timeout=5_000)
    except PlaywrightTimeout:
        wide = page.evaluate(WIDEST)
        raise AssertionError(f"{page.url} is wider than a 768 px window: {wide}") from None
    screenshot(f"{label}-768")
    page.set_viewport_size({"width": 1280, "height": 900})


def log_runs(tracking_uri: str, tmp_path: Any) -> dict[str, str]:
    """Three runs of one experiment among others, with params, a 300-step metric and a few artifacts."""
    for name in ("churn-baseline", "ranking-v2", "ads-ctr"):
        mlflow.create_experiment(name)
    mlflow.set_experiment("fraud-detection-journey")
    runs = {}
    for name, lr in (("alpha", 0.1), ("beta", 0.01), ("gamma", 0.001)):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params({"lr": lr, "optimizer": "adam" if lr > 0.005 else "sgd"})
            history = [
                Metric("loss", 1 / (1 + step * lr * 10), 1_700_000_000_000 + step * 1000, step) for step in range(300)
            ]
            mlflow.MlflowClient().log_batch(run.info.run_id, metrics=history)
            mlflow.log_text("epoch,loss\n1,0.9\n2,0.5\n", "reports/history.csv")
            mlflow.log_dict({"lr": lr, "layers": [64, 32]}, "config.json")
            runs[name] = run.info.run_id
    return runs


@pytest.mark.live
def test_from_experiment_search_to_run_chart_artifact_and_comparison(
    page: Any, screenshot: Any, tracking_uri: str, tmp_path: Any
) -> None:
    runs = log_runs(tracking_uri, tmp_path)

    # Experiments: type part of the name, the list narrows, the row opens the experiment.
    page.goto("/")
    search = page.get_by_label("Search experiments by name")
    search.fill("FRAUD-det")
    rows = page.locator("table.data tbody tr")
    expect(rows).to_have_count(1)
    check_page(page, screenshot, "experiments")
    page.get_by_role("link", name="fraud-detection-journey").click()

    # Experiment: the three runs, a metric column, then one run.
    expect(page.get_by_role("heading", level=1)).to_have_text("fraud-detection-journey")
    expect(page.locator("tr[data-run-id]")).to_have_count(3)
    check_page(page, screenshot, "experiment")
    page.get_by_role("link", name="beta", exact=True).click()

    # Run: overview, then the metric chart drawn, then its x axis switched to relative time.
    expect(page).to_have_url(re.compile(rf"/runs/{runs['beta']}/"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("beta")
    check_page(page, screenshot, "run-overview")
    page.get_by_role("tab", name=re.compile("Metrics")).click()
    expect(page.locator(".js-plotly-plot .scatterlayer path.js-line").first).to_be_visible()
    page.get_by_label("X axis").select_option("relative")
    expect(page.locator(".xtitle").first).to_contain_text("Relative time")
    assert "x=relative" in page.url
    check_page(page, screenshot, "run-metrics")

    # Artifacts: open the folder, preview the CSV as a table, then the JSON.
    page.get_by_role("tab", name="Artifacts").click()
    page.locator("button[aria-expanded][data-path='reports']").click()  # the tree's folder
    page.get_by_role("link", name=re.compile("history.csv")).click()
    expect(page.locator("[data-artifact-browser] table").first).to_contain_text("epoch")
    assert "path=reports" in page.url
    check_page(page, screenshot, "run-artifacts")

    # Back to the experiment through the breadcrumbs; select all three and compare.
    page.get_by_role("navigation", name=re.compile("Breadcrumb", re.I)).get_by_role(
        "link", name="fraud-detection-journey"
    ).click()
    for name in ("alpha", "beta", "gamma"):
        page.locator(f"tr[data-run-id='{runs[name]}'] input[type=checkbox]").check()
    page.get_by_role("button", name=re.compile("Compare")).click()
    expect(page).to_have_url(re.compile(r"/compare/\?runs="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Compare 3 runs")
    expect(page.locator("[data-compare-table] tr.changed").first).to_be_visible()
    check_page(page, screenshot, "compare")
