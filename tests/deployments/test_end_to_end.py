"""Deploy from the browser, for real: ``studio run`` (gunicorn serving the gateway in front of Django, and its Celery
worker), a scikit-learn model logged and registered through the ``mlflow`` client, the Deploy button clicked in
Chromium, the local runtime's uv environment and MLflow's scoring server, and the gateway answering with
``model.predict``'s output; then a second version split 50/50 with the first, and everything stopped and deleted."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deployments.models import Deployment, Endpoint
from tests.conftest import SCREENSHOTS
from tests.deployments.live import Studio, log_model, score, start_studio
from tests.tracking.test_pages_journey import check_page

pytestmark = pytest.mark.live


@pytest.fixture
def studio(tmp_path: Path, transactional_db: None) -> Iterator[Studio]:
    studio = start_studio(tmp_path / "data", worker=True, STUDIO_PROBE_INTERVAL="3600")
    yield studio
    studio.stop_all()


@pytest.fixture
def tab(browser: Any, studio: Studio) -> Iterator[Any]:
    context = browser.new_context(base_url=studio.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"script errors: {errors}"


def deploy_from_the_version_page(tab: Any, model: str, version: int, **form: str) -> None:
    tab.goto(f"/models/{model}/versions/{version}/")
    tab.get_by_role("button", name="Deploy", exact=True).click()
    dialog = tab.locator("[data-deploy-dialog]")
    if "existing" in form:
        dialog.get_by_label("An existing endpoint").check()
        dialog.get_by_label("Endpoint", exact=True).select_option(form["existing"])
        dialog.get_by_label("Traffic share (%)").fill(form["traffic"])
    else:
        dialog.get_by_label("Endpoint name").fill(form["endpoint"])
    dialog.get_by_label("Deployment name").fill(form["name"])
    dialog.get_by_label("Runtime").select_option("local")
    dialog.locator("[data-deploy-submit]").click()


@pytest.fixture
def screenshot(tab: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """Screenshots of this test's own tab (the shared fixture's are of a tab on Django's live server)."""

    def save(label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{request.node.name}-{label}.png"
        tab.screenshot(path=str(path), full_page=True)
        return path

    return save


def test_deploy_in_the_browser_score_split_stop_and_delete(studio: Studio, tab: Any, screenshot: Any) -> None:
    model, frame = log_model(studio.url, "churn", seed=1)
    deploy_from_the_version_page(tab, "churn", 1, endpoint="churn", name="blue")
    keys = tab.locator("[data-deploy-keys]")
    keys.wait_for(state="visible", timeout=60_000)
    primary = keys.locator('[data-key="primary"]').inner_text().strip()
    assert primary.startswith("sk-")
    tab.locator("[data-keys-continue]").click()
    tab.wait_for_url("**/deployments/churn/")
    state = tab.locator("[data-endpoint-state]")
    state.filter(has_text="healthy").wait_for(timeout=300_000)
    check_page(tab, screenshot, "healthy")

    # The Test console sends the model's input example and shows model.predict's output.
    tab.locator("[data-console-send]").click()
    result = tab.locator("[data-console-result]")
    result.wait_for(state="visible")
    assert tab.locator("[data-result-status]").inner_text().startswith("200")
    shown = json.loads(tab.locator("[data-result-body]").inner_text())
    assert shown == {"predictions": model.predict(frame.head(3)).tolist()}

    body = json.dumps({"dataframe_split": frame.to_dict(orient="split")}).encode()
    status, headers, answer = score(studio.url, "churn", primary, body)
    assert status == 200, answer
    assert answer == {"predictions": model.predict(frame).tolist()}
    assert headers["X-Studio-Deployment"] == "blue"
    csv = frame.head(5).to_csv(index=False).encode()
    assert score(studio.url, "churn", primary, csv, "text/csv")[2] == {
        "predictions": model.predict(frame.head(5)).tolist()
    }

    status, headers, answer = score(studio.url, "churn", primary[:-1] + "x", body)
    assert (status, answer["error_code"]) == (401, "UNAUTHENTICATED")
    status, _, answer = score(studio.url, "churn", primary, b'{"dataframe_split": {"columns": ["a"], "data": 7}}')
    assert status == 400
    assert set(answer) >= {"error_code", "message"}
    assert answer["error_code"] == "BAD_REQUEST"

    # A second version beside the first, half the traffic each.
    model2, _ = log_model(studio.url, "churn", seed=2)
    deploy_from_the_version_page(tab, "churn", 2, existing="churn", name="green", traffic="50")
    tab.wait_for_url("**/deployments/churn/")
    studio.wait_deployment("churn", "green", lambda d: d["status"] in ("healthy", "failed"), 300)
    weights = {d["name"]: d["traffic_weight"] for d in studio.get("deployments/list", endpoint="churn")["deployments"]}
    assert weights == {"blue": 50, "green": 50}
    expected = {"blue": model.predict(frame).tolist(), "green": model2.predict(frame).tolist()}
    assert expected["blue"] != expected["green"]
    answered: Counter[str] = Counter()
    deadline = time.monotonic() + 10
    while (time.monotonic() < deadline and len(answered) < 2) or sum(answered.values()) < 40:
        status, headers, answer = score(studio.url, "churn", primary, body)
        assert status == 200, answer
        name = headers["X-Studio-Deployment"]
        assert answer["predictions"] == expected[name]
        answered[name] += 1
    assert set(answered) == {"blue", "green"}, answered
    tab.reload()
    state.filter(has_text="healthy").wait_for()
    screenshot("split")

    # Stop one: all traffic goes to the other; then delete the endpoint with everything in it.
    assert studio.post("deployments/stop", {"endpoint": "churn", "name": "blue"})["deployment"]["status"] == "stopping"
    studio.wait_deployment("churn", "blue", lambda d: d["status"] == "stopped", 120)
    time.sleep(1.5)  # the web processes' routing tables (STUDIO_GATEWAY_CACHE_SECONDS)
    names = {score(studio.url, "churn", primary, body)[1]["X-Studio-Deployment"] for _ in range(10)}
    assert names == {"green"}
    studio.post("endpoints/delete", {"name": "churn"})
    assert studio.call("GET", "endpoints/get", name="churn")[0] == 404  # gone for clients at once
    time.sleep(1.5)
    assert score(studio.url, "churn", primary, body)[0] == 404
    # The worker removes the servers and their folders, then the rows.
    folders = studio.data_dir / "runtimes" / "deployments"
    deadline = time.monotonic() + 120
    while list(folders.glob("*")) or Endpoint.objects.exists() or Deployment.objects.exists():
        assert time.monotonic() < deadline, (list(folders.glob("*")), studio.tails())
        time.sleep(0.3)
