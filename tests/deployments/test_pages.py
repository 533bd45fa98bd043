"""The deployments pages: the Deploy dialog of a version's page, the endpoints list and an endpoint's page, in
Chromium against a live Studio with the ``echo`` runtime (real HTTP scoring servers; tasks run eagerly, so a deploy
is healthy when its POST returns), and their views through Django's client."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import expect

from deployments import services
from deployments.models import Deployment, DeploymentEvent, Endpoint
from deployments.services.pages import curl_example, scoring_example
from registry.models import ModelVersion
from tests.conftest import ApiClient
from tests.deployments.test_gateway import echo, score  # noqa: F401 - fixtures
from tests.registry.conftest import logged_model, register, upload  # noqa: F401 - fixtures
from tests.tracking.test_pages_journey import check_page

# Every test has the echo runtime (and the transactional database that the live server and eager tasks need).
pytestmark = pytest.mark.usefixtures("echo")

MODEL = "fraud-model"
ROWS = {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}
MLMODEL = (
    "flavors:\n  python_function: {loader_module: mlflow.pyfunc.model}\n"
    "saved_input_example_info: {artifact_path: input_example.json, type: dataframe, pandas_orient: split,"
    " serving_input_path: serving_input_example.json}\n"
)
FILES = {
    "MLmodel": MLMODEL.encode(),
    "input_example.json": json.dumps(ROWS).encode(),
    "serving_input_example.json": json.dumps({"dataframe_split": ROWS}, indent=2).encode(),
    "python_model.pkl": b"\x80\x04weights",
}


@pytest.fixture
def register_files(api: ApiClient, experiment_id: str, run_id: str) -> Callable[..., dict]:
    """Register a version of ``name`` from a fresh logged model holding ``files`` (an MLflow model with its input
    example, in the scoring format too, by default)."""

    def register_version(name: str = MODEL, files: dict[str, bytes] | None = None) -> dict:
        info = api.post("logged-models", {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id})
        info = info["model"]["info"]
        upload(info["artifact_uri"], FILES if files is None else files)
        api.call("PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
        api.call("POST", "registered-models/create", {"name": name}, status=None)
        payload = {"name": name, "source": f"models:/{info['model_id']}", "model_id": info["model_id"]}
        return api.post("model-versions/create", payload)["model_version"]

    return register_version


def accept_next_confirm(page: Any) -> list[str]:
    """Accept the next window.confirm and keep its question."""
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    return questions


def deploy_from_version_page(page: Any, version: int, **fields: Any) -> None:
    """Open the version's page, open Deploy and fill the form (``existing`` endpoint name, ``name``, ``instances``,
    ``traffic``); the caller submits."""
    page.goto(f"/models/{MODEL}/versions/{version}/")
    page.get_by_role("button", name="Deploy", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Runtime")).to_contain_text("echo")
    if "existing" in fields:
        dialog.get_by_label("An existing endpoint").check()
        dialog.get_by_label("Endpoint", exact=True).select_option(fields["existing"])
    if "name" in fields:
        dialog.get_by_label("Deployment name").fill(fields["name"])
    dialog.get_by_label("Runtime").select_option("echo")
    dialog.get_by_label("Instances").fill(str(fields.get("instances", 1)))
    if "traffic" in fields:
        dialog.get_by_label("Traffic share (%)").fill(str(fields["traffic"]))


def deployment_row(page: Any, name: str) -> Any:
    return page.locator(f"table.deployments tbody tr[data-deployment='{name}']")


# --- in Chromium -----------------------------------------------------------------------------------------------------


@pytest.mark.live
def test_deploy_score_split_update_and_delete_in_chromium(
    page: Any,
    screenshot: Any,
    register_files: Callable[..., dict],
) -> None:
    register_files()
    register_files()

    # No endpoint yet: the list explains how to deploy.
    page.goto("/deployments/")
    expect(page.get_by_role("heading", name="No endpoints yet")).to_be_visible()
    expect(page.get_by_role("link", name="Deployments")).to_have_attribute("aria-current", "page")
    check_page(page, screenshot, "list-empty")

    # Deploy version 1 into a new endpoint named after the model.
    deploy_from_version_page(page, 1, instances=2)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Endpoint name")).to_have_value(MODEL)
    expect(dialog.get_by_label("Deployment name")).to_have_value("blue")
    expect(dialog.get_by_label("Traffic share (%)")).to_be_disabled()
    expect(dialog.get_by_label("Traffic share (%)")).to_have_value("100")
    check_page(page, screenshot, "deploy-dialog")
    dialog.get_by_role("button", name="Deploy", exact=True).click()

    # The two keys, once, with copy buttons.
    expect(dialog.get_by_role("heading", name="Store these keys now")).to_be_visible()
    expect(dialog.get_by_text("only this once")).to_be_visible()
    expect(dialog.get_by_role("link", name=re.compile("go to the endpoint"))).to_be_visible()  # once deployed
    expect(dialog.get_by_role("button", name="Deploy", exact=True)).to_be_hidden()
    primary = dialog.locator("[data-key=primary]").text_content()
    secondary = dialog.locator("[data-key=secondary]").text_content()
    assert primary.startswith("sk-") and secondary.startswith("sk-") and primary != secondary
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    dialog.get_by_role("button", name="Copy the primary key").click()
    expect(dialog.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == primary
    check_page(page, screenshot, "deploy-keys")
    dialog.get_by_role("link", name=re.compile("go to the endpoint")).click()

    # The endpoint's page: healthy, the key prefixes, a curl example, the deployment.
    expect(page).to_have_url(re.compile(f"/deployments/{MODEL}/$"))
    expect(page.locator("[data-endpoint-state]")).to_have_text("healthy")
    expect(page.locator("[data-key-prefix=primary]")).to_have_text(primary[:10] + "…")
    expect(page.locator("#curl-example")).to_contain_text("Authorization: Bearer <key>")
    expect(page.locator("#curl-example")).to_contain_text(f"/endpoints/{MODEL}/invocations")
    blue = deployment_row(page, "blue")
    expect(blue.locator(".badge")).to_have_text("healthy")
    expect(blue).to_contain_text(f"{MODEL} v1")
    expect(blue.get_by_role("link", name=f"{MODEL} v1")).to_have_attribute("href", f"/models/{MODEL}/versions/1/")
    expect(page.locator("[data-events=blue] tr[data-kind=healthy]")).to_have_count(1)
    expect(page.locator("[data-logs=blue]")).to_have_text("log of fraud-model--blue")

    # The Test console starts from the model's serving example and shows the answer.
    body = page.get_by_label(re.compile("Request body"))
    assert json.loads(body.input_value()) == {"dataframe_split": ROWS}
    page.get_by_role("button", name="Send", exact=True).click()
    result = page.locator("[data-console-result]")
    expect(result.locator("[data-result-status]")).to_have_text("200 OK")
    expect(result.locator("[data-result-deployment]")).to_have_text("blue")
    expect(result.locator("[data-result-latency]")).to_have_text(re.compile(r"^\d+ ms$"))
    assert json.loads(result.locator("[data-result-body]").text_content())["predictions"] == [3, 7]
    check_page(page, screenshot, "endpoint")

    # A body the server cannot read is shown as the server's error.
    body.fill('{"dataframe_split": {"data": "x"}}')
    body.fill("{not json")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#console-body-error")).to_contain_text("not valid JSON")
    body.fill(json.dumps({"dataframe_split": ROWS}))

    # The description is edited in place.
    page.get_by_text("Edit the description").click()
    page.get_by_label("Description", exact=True).fill("Scores card payments")
    page.get_by_role("button", name="Save description").click()
    expect(page.locator("[data-description]")).to_have_text("Scores card payments")
    assert Endpoint.objects.get().description == "Scores card payments"

    # The client's key works; regenerating it shows the new one once and the old one is refused.
    assert score(primary, name=MODEL).status_code == 200
    questions = accept_next_confirm(page)
    page.locator("[data-regenerate=primary]").click()
    expect(page.locator("[data-new-key]")).to_be_visible()
    new = page.locator("[data-new-key-value]").text_content()
    assert new.startswith("sk-") and new != primary
    assert "Regenerate the primary key" in questions[0]
    expect(page.locator("[data-key-prefix=primary]")).to_have_text(new[:10] + "…")
    assert score(primary, name=MODEL).status_code == 401
    assert score(new, name=MODEL).status_code == 200
    assert score(secondary, name=MODEL).status_code == 200
    check_page(page, screenshot, "endpoint-new-key")

    # A second deployment (version 2) into the existing endpoint: a free colour, no traffic yet.
    deploy_from_version_page(page, 2, existing=MODEL)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Deployment name")).to_have_value("green")
    expect(dialog.get_by_label("Traffic share (%)")).to_have_value("0")
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    expect(page).to_have_url(re.compile(f"/deployments/{MODEL}/$"))
    green = deployment_row(page, "green")
    expect(green.locator(".badge")).to_have_text("healthy")
    expect(green).to_contain_text("0 %")

    # The sliders must sum to 100 before Save; then 50/50 is stored.
    save = page.get_by_role("button", name="Save traffic")
    expect(save).to_be_disabled()
    page.get_by_role("slider", name="blue").fill("40")
    expect(page.locator("[data-traffic-sum]")).to_contain_text("Total: 40 %")
    page.get_by_role("slider", name="green").fill("50")
    expect(page.locator("[data-traffic-sum]")).to_contain_text("must be whole numbers that sum to 100")
    expect(save).to_be_disabled()
    page.get_by_label("Traffic of blue in percent").fill("50")
    expect(page.locator("[data-traffic-sum]")).to_have_text("Total: 100 %")
    expect(save).to_be_enabled()
    check_page(page, screenshot, "traffic")
    save.click()
    expect(page.get_by_role("status").filter(has_text="Saved the traffic split.")).to_be_visible()
    expect(green.locator("[data-traffic]")).to_have_text("50 %")
    weights = dict(Deployment.objects.values_list("name", "traffic_weight"))
    assert weights == {"blue": 50, "green": 50}

    # Green as the mirror: it leaves the split (weight 0), blue must take all, then no mirror again.
    page.get_by_label("Mirror to").select_option("green")
    expect(page.get_by_role("slider", name="green")).to_have_count(0)
    expect(save).to_be_disabled()
    page.get_by_role("slider", name="blue").fill("100")
    save.click()
    expect(green.locator("[data-traffic]")).to_have_text("mirror")
    assert list(Deployment.objects.filter(mirror=True).values_list("name", "traffic_weight")) == [("green", 0)]
    page.get_by_label("Mirror to").select_option("")
    expect(page.get_by_role("slider", name="green")).to_have_value("0")
    save.click()
    expect(green.locator("[data-traffic]")).to_have_text("0 %")
    assert not Deployment.objects.filter(mirror=True).exists()

    # The console can send to one deployment.
    page.get_by_label("Send to").select_option("green")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(result.locator("[data-result-deployment]")).to_have_text("green")

    # Stop and start green: its traffic goes to blue and it comes back healthy.
    green.get_by_role("button", name="Stop green").click()
    expect(green.locator(".badge")).to_have_text("stopped")
    expect(deployment_row(page, "blue").locator("[data-traffic]")).to_have_text("100 %")
    expect(page.locator("[data-events=green] tr[data-kind=stopped]")).to_have_count(1)
    green.get_by_role("button", name="Start green").click()
    expect(green.locator(".badge")).to_have_text("healthy")
    assert Deployment.objects.get(name="green").status == "healthy"

    # Update blue to version 2, chosen from the registry's versions of the model.
    deployment_row(page, "blue").get_by_role("button", name="Update blue").click()
    update = page.get_by_role("dialog")
    expect(update.get_by_label(f"Version of {MODEL}")).to_have_value("2")
    expect(update.get_by_label(f"Version of {MODEL}").locator("option")).to_have_text(
        ["Version 2", "Version 1 (deployed now)"]
    )
    check_page(page, screenshot, "update-dialog")
    update.get_by_role("button", name="Update", exact=True).click()
    expect(deployment_row(page, "blue")).to_contain_text(f"{MODEL} v2")
    expect(page.locator("[data-events=blue] tr[data-kind=updating]")).to_have_count(1)
    assert Deployment.objects.get(name="blue").model_version_number == 2

    # Delete green (after a confirmation), then the endpoint: back to an empty list.
    questions = accept_next_confirm(page)
    green.get_by_role("button", name="Delete green").click()
    expect(green).to_have_count(0)
    expect(page.locator("[data-activity=green]")).to_have_count(0)
    assert "Delete deployment green" in questions[0]
    assert list(Deployment.objects.values_list("name", flat=True)) == ["blue"]
    check_page(page, screenshot, "endpoint-after-delete")
    questions = accept_next_confirm(page)
    page.get_by_role("button", name="Delete endpoint").click()
    expect(page).to_have_url(re.compile("/deployments/$"))
    expect(page.get_by_role("heading", name="No endpoints yet")).to_be_visible()
    assert "Delete endpoint fraud-model" in questions[0]
    assert not Endpoint.objects.exists()


@pytest.mark.live
def test_deploy_form_shows_the_apis_refusals_beside_their_fields(
    page: Any,
    screenshot: Any,
    register_files: Callable[..., dict],
) -> None:
    register_files()
    services.create_endpoint(name=MODEL)

    deploy_from_version_page(page, 1)
    dialog = page.get_by_role("dialog")
    name = dialog.get_by_label("Endpoint name")
    name.fill("Bad--Name")
    expect(dialog.locator("#deploy-endpoint-name-error")).to_contain_text("lower-case letters")
    expect(name).to_have_attribute("aria-invalid", "true")
    name.fill(MODEL)  # valid, but taken: the API says so
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    expect(dialog.locator("#deploy-endpoint-name-error")).to_have_text(f"Endpoint '{MODEL}' already exists")
    expect(dialog.locator("[data-deploy-keys]")).to_be_hidden()
    check_page(page, screenshot, "taken-name")

    # Into the existing endpoint, a deployment name it already has is refused beside that field.
    services.create_deployment(endpoint=MODEL, name="blue", model_name=MODEL, version=1, runtime="echo")
    deploy_from_version_page(page, 1, existing=MODEL, name="blue")
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("button", name="Deploy", exact=True).click()
    expect(dialog.locator("#deploy-name-error")).to_have_text(f"Deployment 'blue' already exists in endpoint '{MODEL}'")
    assert Deployment.objects.count() == 1


@pytest.mark.live
def test_refusals_of_the_api_are_shown_next_to_the_control(
    page: Any,
    screenshot: Any,
    register_files: Callable[..., dict],
    api: ApiClient,
) -> None:
    register_files()
    register_files()
    services.create_endpoint(name="prod")
    for name in ("blue", "green"):
        services.create_deployment(endpoint="prod", name=name, model_name=MODEL, version=1, runtime="echo")
    page.goto("/deployments/prod/")
    expect(deployment_row(page, "green").locator(".badge")).to_have_text("healthy")

    # Meanwhile (nothing is working, so the page does not poll) green is stopped elsewhere: the split is refused,
    # and the page catches up with what the refusal is about.
    page.get_by_role("slider", name="blue").fill("50")
    page.get_by_role("slider", name="green").fill("50")
    services.stop_deployment(endpoint="prod", name="green")
    page.get_by_role("button", name="Save traffic").click()
    expect(page.locator("[data-traffic-error]")).to_have_text("Deployment 'green' is stopped: it can take no traffic")
    expect(deployment_row(page, "green").locator(".badge")).to_have_text("stopped")
    expect(page.get_by_role("slider", name="green")).to_have_count(0)

    # A Start of what was started elsewhere meanwhile: the API's conflict under that deployment's row.
    services.start_deployment(endpoint="prod", name="green")
    deployment_row(page, "green").get_by_role("button", name="Start green").click()
    error = page.locator("tr.row-error")
    expect(error).to_have_text("Cannot start deployment 'green' while it is healthy")
    expect(deployment_row(page, "green").locator(".badge")).to_have_text("healthy")  # and the page caught up
    check_page(page, screenshot, "row-error")

    # An update to a version deleted since the dialog listed it: the refusal beside the version.
    deployment_row(page, "blue").get_by_role("button", name="Update blue").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label(f"Version of {MODEL}")).to_have_value("2")
    api.call("DELETE", "model-versions/delete", {"name": MODEL, "version": "2"})
    dialog.get_by_role("button", name="Update", exact=True).click()
    expect(dialog.locator("#update-version-error")).to_contain_text("not found")
    check_page(page, screenshot, "update-error")
    dialog.get_by_role("button", name="Cancel").click()
    assert Deployment.objects.get(name="blue").model_version_number == 1


@pytest.mark.live
def test_an_external_version_says_why_it_cannot_be_deployed(
    page: Any,
    screenshot: Any,
    register: Callable[..., dict],  # noqa: F811
) -> None:
    register(MODEL, source="s3://bucket/models/fraud")
    page.goto(f"/models/{MODEL}/versions/1/")
    page.get_by_role("button", name="Deploy", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("This version cannot be deployed")).to_be_visible()
    expect(dialog).to_contain_text("s3://bucket/models/fraud")
    expect(dialog.get_by_role("button", name="Deploy", exact=True)).to_have_count(0)
    check_page(page, screenshot, "external")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()


@pytest.mark.live
def test_list_shows_each_endpoints_state_and_deployments(
    page: Any,
    screenshot: Any,
    register_files: Callable[..., dict],
) -> None:
    register_files()
    services.create_endpoint(name="empty-one", description="nothing here yet")
    for endpoint in ("serving", "resting"):
        services.create_endpoint(name=endpoint)
        services.create_deployment(endpoint=endpoint, name="blue", model_name=MODEL, version=1, runtime="echo",
                                   instances=2)  # fmt: skip
    services.stop_deployment(endpoint="resting", name="blue")

    page.goto("/deployments/")
    cards = page.locator("article.endpoint-card")
    expect(cards).to_have_count(3)
    states = {name: page.locator(f"article[data-endpoint='{name}'] h2 + .badge") for name in ("empty-one", "serving",
                                                                                              "resting")}  # fmt: skip
    expect(states["serving"]).to_have_text("healthy")
    expect(states["resting"]).to_have_text("stopped")
    expect(states["empty-one"]).to_have_text("empty")
    serving = page.locator("article[data-endpoint='serving']")
    expect(serving.locator("tbody tr")).to_have_text(
        [re.compile(r"blue\s*fraud-model v1\s*healthy\s*100 %\s*echo\s*2")]
    )
    expect(serving.get_by_role("link", name=f"{MODEL} v1")).to_have_attribute("href", f"/models/{MODEL}/versions/1/")
    expect(serving).to_contain_text("/endpoints/serving/invocations")
    expect(serving.locator("time")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"))
    expect(page.locator("article[data-endpoint='empty-one']")).to_contain_text("nothing here yet")
    expect(page.get_by_role("heading", name="No endpoints yet")).to_be_hidden()
    check_page(page, screenshot, "list")
    page.get_by_role("link", name="serving", exact=True).click()
    expect(page).to_have_url(re.compile("/deployments/serving/$"))


@pytest.mark.live
def test_pages_poll_only_while_a_deployment_works_and_not_on_hidden_tabs(
    page: Any,
    screenshot: Any,
    register_files: Callable[..., dict],
) -> None:
    register_files()
    services.create_endpoint(name="prod")
    services.create_deployment(endpoint="prod", name="blue", model_name=MODEL, version=1, runtime="echo")
    deployment = Deployment.objects.get(name="blue")
    # A worker building it (as a slow pip install leaves it), with a failure's output from an earlier try.
    Deployment.objects.filter(pk=deployment.pk).update(status="building", status_message="Building the environment")
    services.record_event(deployment=deployment, kind="failed", message="pip failed",
                          details="ERROR: No matching distribution found for scikit-learn==0.0.1")  # fmt: skip
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/ajax-api/2.0/studio/" in request.url else None)

    page.goto("/deployments/prod/")
    expect(page.locator("[data-endpoint-state]")).to_have_text("deploying")
    expect(page.get_by_role("status").filter(has_text="Refreshing while blue is building")).to_be_visible()
    failure = page.locator("[data-events=blue] tr[data-kind=failed]")
    expect(failure.locator("pre")).to_be_hidden()
    failure.get_by_text("Details").click()
    expect(failure.locator("pre")).to_have_text("ERROR: No matching distribution found for scikit-learn==0.0.1")
    check_page(page, screenshot, "building")
    time.sleep(2.5)
    assert sum("endpoints/get" in url for url in polls) >= 1  # polled while building

    # A hidden tab does not poll.
    page.evaluate("""() => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
      document.dispatchEvent(new Event("visibilitychange"));
    }""")
    time.sleep(0.3)
    polls.clear()
    time.sleep(3)
    assert polls == []

    # Shown again: it polls at once, sees the deployment healthy, and stops.
    Deployment.objects.filter(pk=deployment.pk).update(status="healthy", status_message="")
    services.record_event(deployment=deployment, kind="healthy", message="1 instance(s) answering")
    page.evaluate("""() => {
      Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
      Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "visible" });
      document.dispatchEvent(new Event("visibilitychange"));
    }""")
    expect(deployment_row(page, "blue").locator(".badge")).to_have_text("healthy")
    expect(page.locator("[data-events=blue] tr[data-kind=healthy]")).to_have_count(1)
    time.sleep(0.5)
    polls.clear()
    time.sleep(3)
    assert polls == []

    # The list polls while one works, too, and stops when none does.
    Deployment.objects.filter(pk=deployment.pk).update(status="starting")
    page.goto("/deployments/")
    expect(page.locator("article[data-endpoint='prod'] tbody .badge")).to_have_text("starting")
    Deployment.objects.filter(pk=deployment.pk).update(status="healthy")
    expect(page.locator("article[data-endpoint='prod'] tbody .badge")).to_have_text("healthy", timeout=5_000)
    time.sleep(0.5)
    polls.clear()
    time.sleep(3)
    assert polls == []


# --- through Django's client -----------------------------------------------------------------------------------------


def test_unknown_endpoint_is_a_404_page(client: Client, db: None) -> None:
    response = client.get("/deployments/nope/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    services.delete_endpoint(name=services.create_endpoint(name="gone").endpoint.name)
    assert client.get("/deployments/gone/").status_code == 404


def test_pages_are_get_only(client: Client, db: None) -> None:
    services.create_endpoint(name="prod")
    assert client.post("/deployments/").status_code == 405
    assert client.post("/deployments/prod/").status_code == 405


def test_list_page_holds_the_apis_json_and_the_empty_state(client: Client, db: None) -> None:
    body = client.get("/deployments/").content.decode()
    assert 'id="endpoints-data" type="application/json">[]</script>' in body
    assert "No endpoints yet" in body and 'aria-current="page">Deployments' in body
    services.create_endpoint(name="prod", description="<b>fraud</b>")
    body = client.get("/deployments/").content.decode()
    data = json.loads(re.search(r'id="endpoints-data" type="application/json">(.*?)</script>', body).group(1))
    assert [e["name"] for e in data] == ["prod"] and data[0]["state"] == "empty"
    assert data[0]["scoring_url"] == "http://testserver/endpoints/prod/invocations"
    assert "<b>fraud</b>" not in body  # escaped inside the JSON


def test_endpoint_page_prefills_the_console_with_the_serving_example(
    client: Client,
    register_files: Callable[..., dict],
) -> None:
    register_files()
    services.create_endpoint(name="prod")
    services.create_deployment(endpoint="prod", name="blue", model_name=MODEL, version=1, runtime="echo")
    response = client.get("/deployments/prod/")
    assert response.status_code == 200
    assert json.loads(response.context["page"].example) == {"dataframe_split": ROWS}
    assert "From the model version's input example." in response.content.decode()
    assert "curl -X POST http://testserver/endpoints/prod/invocations" in response.context["curl"]
    assert '--data \'{"dataframe_split":{"columns":["a","b"],"data":[[1,2],[3,4]]}}\'' in response.context["curl"]


def test_scoring_example_wraps_an_older_input_example_and_falls_back(
    db: None, register_files: Callable[..., dict]
) -> None:
    older = {k: v for k, v in FILES.items() if k != "serving_input_example.json"}
    older["MLmodel"] = MLMODEL.replace(", serving_input_path: serving_input_example.json", "").encode()
    register_files("older", older)
    assert json.loads(scoring_example(ModelVersion.objects.get(registered_model__name="older"))) == {
        "dataframe_split": ROWS
    }
    register_files("tensor", {"MLmodel": b"saved_input_example_info: {artifact_path: x.json, type: ndarray}\n",
                              "x.json": b"[[1, 2]]"})  # fmt: skip
    assert json.loads(scoring_example(ModelVersion.objects.get(registered_model__name="tensor"))) == {
        "inputs": [[1, 2]]
    }
    register_files("bare", {"MLmodel": b"flavors: {}\n"})
    assert scoring_example(ModelVersion.objects.get(registered_model__name="bare")) == ""
    assert scoring_example(None) == ""


def test_curl_example_quotes_the_body_and_sends_a_long_one_from_a_file() -> None:
    short = curl_example(url="http://h/endpoints/p/invocations", body='{"inputs": ["it\'s"]}')
    assert '--data \'{"inputs":["it\'"\'"\'s"]}\'' in short
    long = curl_example(url="http://h/endpoints/p/invocations", body=json.dumps({"inputs": list(range(500))}))
    assert long.endswith("--data @request.json")


def test_version_page_has_the_deploy_dialog(client: Client, register: Callable[..., dict]) -> None:  # noqa: F811
    register(MODEL)
    body = client.get(f"/models/{MODEL}/versions/1/").content.decode()
    assert "data-deploy-open" in body and 'id="deploy-dialog"' in body
    assert f'data-model="{MODEL}"' in body and 'data-version="1"' in body
    assert "This version cannot be deployed" not in body


def test_events_are_readable_after_the_last_one(register_files: Callable[..., dict]) -> None:
    """What the endpoint page polls: ``after`` returns only the newer events."""
    register_files()
    services.create_endpoint(name="prod")
    services.create_deployment(endpoint="prod", name="blue", model_name=MODEL, version=1, runtime="echo")
    events = Client().get("/ajax-api/2.0/studio/deployments/events", {"endpoint": "prod", "name": "blue"}).json()
    last = events["events"][-1]["id"]
    services.record_event(deployment=Deployment.objects.get(name="blue"), kind="log", message="later")
    newer = Client().get("/ajax-api/2.0/studio/deployments/events",
                         {"endpoint": "prod", "name": "blue", "after": last}).json()  # fmt: skip
    assert [e["message"] for e in newer["events"]] == ["later"]
    assert DeploymentEvent.objects.count() == len(events["events"]) + 1
