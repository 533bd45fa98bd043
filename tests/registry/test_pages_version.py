"""The version page: its tabs through Django's client (overview, files, MLmodel viewer), the edits and stage moves
with bad input, and in Chromium with versions the real mlflow client registered."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from django.test import Client
from mlflow.models import infer_signature
from playwright.sync_api import expect
from sklearn.linear_model import LogisticRegression

from registry.models import ModelVersion, ModelVersionTag, RegistryEvent, Stage
from tests.conftest import ApiClient
from tests.registry.conftest import upload
from tests.tracking.test_pages_journey import check_page

URL = "/models/{name}/versions/{version}/"
PIP = ["scikit-learn==1.9.1", "pandas>=2"]


def page_url(name: str = "m", version: int | str = 1, suffix: str = "") -> str:
    return URL.format(name=name, version=version) + suffix


def html(response: Any) -> str:
    return response.content.decode()


def iris() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"sepal_length": [5.1, 4.9, 6.2, 5.9], "petal_width": [0.2, 0.2, 1.8, 2.1]})
    return X, np.array([0, 0, 1, 1])


@pytest.fixture
def sklearn_files(tmp_path: Path) -> dict[str, bytes]:
    """The files of an sklearn model saved by mlflow, with a signature and an input example."""
    X, y = iris()
    model = LogisticRegression().fit(X, y)
    folder = tmp_path / "model"
    mlflow.sklearn.save_model(model, folder, signature=infer_signature(X, y), input_example=X[:3], pip_requirements=PIP)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def register_files(api: ApiClient, experiment_id: str, run_id: str) -> Callable[..., dict]:
    """Register a version of ``name`` from a fresh logged model holding ``files``."""

    def register(files: dict[str, bytes], name: str = "m") -> dict:
        info = api.post("logged-models", {"experiment_id": experiment_id, "name": "model", "source_run_id": run_id})
        info = info["model"]["info"]
        upload(info["artifact_uri"], files)
        api.call("PATCH", f"logged-models/{info['model_id']}", {"status": "LOGGED_MODEL_READY"})
        api.call("POST", "registered-models/create", {"name": name}, status=None)
        payload = {"name": name, "source": f"models:/{info['model_id']}", "model_id": info["model_id"]}
        return api.post("model-versions/create", payload)["model_version"]

    return register


# --- overview ------------------------------------------------------------------------------------------------------


def test_overview_shows_lineage_times_stage_aliases_and_snippets(
    api: ApiClient, client: Client, register: Callable[..., dict], run_id: str, experiment_id: str
) -> None:
    version = register(description="Trained on **March** data")
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    api.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "team", "value": "fraud"})
    response = client.get(page_url())
    body = html(response)
    assert response.status_code == 200
    assert f'href="/runs/{run_id}/"' in body
    assert f'href="/experiments/{experiment_id}/"' in body
    assert version["model_id"] in body
    assert "<strong>March</strong>" in body  # Markdown
    assert "@champion" in body and "team" in body and "fraud" in body
    assert "mlflow.pyfunc.load_model(&quot;models:/m/1&quot;)" in body
    assert "mlflow.pyfunc.load_model(&quot;models:/m@champion&quot;)" in body
    assert 'href="/models/m/"' in body  # the model page, by registry:model-detail
    assert 'aria-current="page">Overview' in body
    assert "data-deploy-open" in body  # the Deploy button (deployments/deploy.js shows it and opens its dialog)


def test_snippet_uses_the_flavor_loader_without_pyfunc(client: Client, register_files: Callable[..., dict]) -> None:
    register_files({"MLmodel": b"flavors:\n  sklearn: {sklearn_version: 1.9.1}\n"})
    assert "mlflow.sklearn.load_model(&quot;models:/m/1&quot;)" in html(client.get(page_url()))


def test_a_purged_run_is_named_not_linked(client: Client, register: Callable[..., dict], run_id: str) -> None:
    register()
    from tracking.models import Run

    Run.objects.filter(pk=run_id).delete()
    body = html(client.get(page_url()))
    assert f'href="/runs/{run_id}/"' not in body
    assert "(no longer exists)" in body


@pytest.mark.parametrize("version", ["0", "2", "abc", "-1", "99999999999999", "1.5"])
def test_bad_version_numbers_are_404(client: Client, register: Callable[..., dict], version: str) -> None:
    register()
    assert client.get(page_url(version=version)).status_code == 404
    assert client.get(page_url(version=version, suffix="files/list")).status_code == 404


def test_unknown_model_and_deleted_version_are_404(
    api: ApiClient, client: Client, register: Callable[..., dict]
) -> None:
    register()
    assert client.get(page_url(name="nope")).status_code == 404
    api.call("DELETE", "model-versions/delete", {"name": "m", "version": "1"})
    assert client.get(page_url()).status_code == 404
    assert client.get(page_url(suffix="?tab=mlmodel")).status_code == 404
    assert client.post(page_url(suffix="description/"), {"description": "x"}).status_code == 404


def test_unknown_tab_falls_back_to_overview(client: Client, register: Callable[..., dict]) -> None:
    register()
    response = client.get(page_url(suffix="?tab=<script>"))
    assert response.status_code == 200 and 'aria-current="page">Overview' in html(response)


def test_page_is_get_only(client: Client, register: Callable[..., dict]) -> None:
    register()
    assert client.post(page_url()).status_code == 405
    assert client.get(page_url(suffix="description/")).status_code == 405


# --- edits ---------------------------------------------------------------------------------------------------------


def test_description_edit_calls_the_update_function_and_redirects(
    api: ApiClient, client: Client, register: Callable[..., dict]
) -> None:
    register()
    response = client.post(page_url(suffix="description/"), {"description": "# New\n\nbody"}, follow=True)
    assert response.redirect_chain[-1][0] == page_url()
    assert "<h1>New</h1>" in html(response) and "Saved the description." in html(response)
    wire = api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]
    assert wire["description"] == "# New\n\nbody"
    # The REST API's function, so the audit trail has it too.
    event = RegistryEvent.objects.filter(action=RegistryEvent.Action.VERSION_UPDATED).get()
    assert (event.version, event.new_value) == (1, "# New\n\nbody")


def test_tags_set_replace_and_remove(api: ApiClient, client: Client, register: Callable[..., dict]) -> None:
    register()
    assert client.post(page_url(suffix="tags/"), {"key": "team", "value": "a"}).status_code == 302
    client.post(page_url(suffix="tags/"), {"key": "team", "value": "b"})
    tags = api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]["tags"]
    assert tags == [{"key": "team", "value": "b"}]
    client.post(page_url(suffix="tags/delete/"), {"key": "team"})
    assert "tags" not in api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"key": "", "value": "v"}, "key"),
        ({"key": "a" * 300, "value": "v"}, "key"),
        ({"key": "../x", "value": "v"}, "key"),
    ],
)
def test_bad_tag_is_refused_inline(client: Client, register: Callable[..., dict], data: dict, message: str) -> None:
    register()
    response = client.post(page_url(suffix="tags/"), data)
    assert response.status_code == 400
    body = html(response)
    assert 'id="tag-error" role="alert"' in body and message in body.lower()
    assert ModelVersionTag.objects.count() == 0


def test_stage_transition_archives_others_when_asked(
    api: ApiClient, client: Client, register: Callable[..., dict]
) -> None:
    register()
    register()
    client.post(page_url(version=1, suffix="stage/"), {"stage": "Production"})
    response = client.post(
        page_url(version=2, suffix="stage/"), {"stage": "production", "archive_existing_versions": "on"}, follow=True
    )
    assert "archived the other versions" in html(response)
    stages = dict(ModelVersion.objects.values_list("version", "current_stage"))
    assert stages == {1: Stage.ARCHIVED, 2: Stage.PRODUCTION}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"stage": "Prod"}, "Invalid Model Version stage"),
        ({"stage": "Archived", "archive_existing_versions": "on"}, ""),
    ],
)
def test_bad_stage_is_refused_inline(client: Client, register: Callable[..., dict], data: dict, message: str) -> None:
    register()
    response = client.post(page_url(suffix="stage/"), data)
    assert response.status_code == 400
    assert 'id="stage-error" role="alert"' in html(response) and message in html(response)
    assert ModelVersion.objects.get().current_stage == Stage.NONE


def test_delete_redirects_to_the_model_page_with_a_message(
    api: ApiClient, client: Client, register: Callable[..., dict]
) -> None:
    register()
    response = client.post(page_url(suffix="delete/"))
    assert response.status_code == 302 and response["Location"] == "/models/m/"
    assert ModelVersion.objects.get().current_stage == Stage.DELETED
    # the message waits for the next page (the model page, built by someone else)
    from django.contrib.messages import get_messages

    assert "Moved version 1 of m to the trash." in [str(m) for m in get_messages(response.wsgi_request)]
    assert client.post(page_url(suffix="delete/")).status_code == 404


def test_forms_need_the_csrf_token(register: Callable[..., dict]) -> None:
    register()
    strict = Client(enforce_csrf_checks=True)
    for suffix, data in (
        ("description/", {"description": "x"}),
        ("tags/", {"key": "k", "value": "v"}),
        ("stage/", {"stage": "Staging"}),
        ("delete/", {}),
    ):
        assert strict.post(page_url(suffix=suffix), data).status_code == 403
    page = strict.get(page_url())
    assert page.content.count(b"csrfmiddlewaretoken") >= 4
    assert ModelVersion.objects.get().current_stage == Stage.NONE


def test_query_count_is_fixed_with_many_tags(
    api: ApiClient, client: Client, register: Callable[..., dict], django_assert_max_num_queries: Any
) -> None:
    register()
    row = ModelVersion.objects.get()
    ModelVersionTag.objects.bulk_create(
        [ModelVersionTag(model_version=row, key=f"k{i}", value="v") for i in range(500)]
    )
    # The version with its model, its tags, its aliases, then its run, logged model and experiment.
    with django_assert_max_num_queries(7):
        started = time.perf_counter()
        body = html(client.get(page_url()))
        elapsed = time.perf_counter() - started
    assert body.count('aria-label="Remove tag k') == 500
    assert elapsed < 1.0, f"{elapsed:.3f} s for 500 tags"
    for tab in ("artifacts", "mlmodel"):
        with django_assert_max_num_queries(7):
            assert client.get(page_url(suffix=f"?tab={tab}")).status_code == 200


# --- files and MLmodel -----------------------------------------------------------------------------------------------


def test_artifacts_tab_mounts_the_component_on_the_version_files(client: Client, register: Callable[..., dict]) -> None:
    register()
    body = html(client.get(page_url(suffix="?tab=artifacts")))
    assert 'data-list-url="/models/m/versions/1/files/list"' in body
    listing = client.get(page_url(suffix="files/list")).json()
    assert {e["name"] for e in listing["entries"]} == {"MLmodel", "model.pkl", "sub"}
    raw = client.get(page_url(suffix="files/raw/sub/conda.yaml"))
    assert b"".join(raw.streaming_content) == b"name: m\n"
    page = client.get(page_url(suffix="files/"))
    assert page.status_code == 200 and 'href="/models/m/versions/1/"' in html(page)


def test_external_source_says_there_are_no_files(api: ApiClient, client: Client, db: None) -> None:
    api.post("registered-models/create", {"name": "ext"})
    api.post("model-versions/create", {"name": "ext", "source": "s3://bucket/models/ext"})
    for tab in ("artifacts", "mlmodel"):
        body = html(client.get(page_url(name="ext", suffix=f"?tab={tab}")))
        assert "source is external" in body and "s3://bucket/models/ext" in body
    assert client.get(page_url(name="ext", suffix="files/list")).status_code == 404


def test_mlmodel_tab_shows_flavors_signature_example_and_requirements(
    client: Client, register_files: Callable[..., dict], sklearn_files: dict[str, bytes]
) -> None:
    register_files(sklearn_files)
    body = html(client.get(page_url(suffix="?tab=mlmodel")))
    assert "scikit-learn" in body and "mlflow.sklearn" in body and "1.9.1" in body
    signature = body.split('data-signature="inputs"')[1].split("</table>")[0]
    assert re.findall(r"<th scope=\"col\">(\w+)</th>", signature) == ["Name", "Type", "Required"]
    assert "sepal_length" in signature and "double" in signature and "required" in signature
    example = body.split("data-input-example")[1].split("</table>")[0]
    assert "petal_width" in example and "5.1" in example
    assert "requirements.txt" in body and "pandas" in body and "&gt;=2" in body
    assert 'href="/models/m/versions/1/files/raw/MLmodel"' in body
    assert 'href="/models/m/versions/1/files/download/MLmodel"' in body


@pytest.mark.parametrize(
    ("files", "note"),
    [
        ({"model.pkl": b"x"}, "no MLmodel file"),
        ({"MLmodel": b"flavors: [oops\n"}, "not valid YAML"),
        ({"MLmodel": b"- a\n- b\n"}, "holds a list"),
        ({"MLmodel": b"flavors:\n  python_function: {loader_module: m}\n"}, "no signature"),
        ({"MLmodel": b"flavors: {}\nsignature: {inputs: '{bad'}\n"}, "signature cannot be read"),
        ({"MLmodel": b"flavors: {}\nsaved_input_example_info: {artifact_path: ../../x.json}\n"}, "is missing"),
        ({"MLmodel": b"flavors:\n  weird_thing: {weird_thing_version: 2}\n"}, "not a flavor this MLflow"),
    ],
)
def test_broken_mlmodel_is_a_note_not_an_error(
    client: Client, register_files: Callable[..., dict], files: dict[str, bytes], note: str
) -> None:
    register_files(files)
    response = client.get(page_url(suffix="?tab=mlmodel"))
    assert response.status_code == 200
    assert note in html(response)


def test_tensor_example_is_json_and_params_are_a_table(
    client: Client, register_files: Callable[..., dict], tmp_path: Path
) -> None:
    array = np.arange(8, dtype="float32").reshape(2, 4)
    signature = infer_signature(array, array, params={"alpha": 0.5})
    folder = tmp_path / "tensor"
    mlflow.pyfunc.save_model(
        folder, python_model=Echo(), signature=signature, input_example=array, pip_requirements=["numpy"]
    )
    register_files({p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()})
    body = html(client.get(page_url(suffix="?tab=mlmodel")))
    inputs = body.split('data-signature="inputs"')[1].split("</table>")[0]
    assert re.findall(r"<th scope=\"col\">(\w+)</th>", inputs) == ["Name", "Type", "Shape", "Required"]
    assert "float32" in inputs and "(-1, 4)" in inputs
    assert '<pre class="example-json" data-input-example>' in body
    params = body.split('data-signature="params"')[1].split("</table>")[0]
    assert "alpha" in params and "double" in params and "0.5" in params


def test_names_with_spaces_and_accents(api: ApiClient, client: Client, register: Callable[..., dict]) -> None:
    register(name="fraud model ü")
    response = client.get("/models/fraud%20model%20%C3%BC/versions/1/?tab=mlmodel")
    assert response.status_code == 200
    assert 'href="/models/fraud%20model%20%C3%BC/versions/1/files/raw/MLmodel"' in html(response)
    raw = client.get("/models/fraud%20model%20%C3%BC/versions/1/files/raw/MLmodel")
    assert b"".join(raw.streaming_content) == b"flavors: {}\n"
    assert raw["Content-Security-Policy"].startswith("sandbox")


# --- in Chromium ---------------------------------------------------------------------------------------------------


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def register_with_mlflow() -> None:
    """Two sklearn versions with a signature and an example, and a pyfunc model without one, by the real client."""
    mlflow.set_experiment("iris-registry")
    X, y = iris()
    for c in (1.0, 0.1):
        with mlflow.start_run():
            model = LogisticRegression(C=c).fit(X, y)
            mlflow.sklearn.log_model(
                model,
                name="model",
                registered_model_name="iris-classifier",
                input_example=X[:5],
                signature=infer_signature(X, model.predict(X)),
                pip_requirements=PIP,
            )
    with mlflow.start_run():
        mlflow.pyfunc.log_model(
            name="echo", python_model=Echo(), registered_model_name="echo-model", pip_requirements=["mlflow"]
        )


@pytest.mark.live
def test_version_page_in_chromium(page: Any, screenshot: Any, tracking_uri: str) -> None:
    register_with_mlflow()
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("iris-classifier", "champion", "2")

    page.goto("/models/iris-classifier/versions/2/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("iris-classifier")
    expect(page.locator("pre").first).to_contain_text('mlflow.pyfunc.load_model("models:/iris-classifier/2")')
    expect(page.get_by_text('models:/iris-classifier@champion"')).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Copy"))).to_have_count(2)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name=re.compile("Copy .* by alias champion")).click()
    expect(page.get_by_role("status").filter(has_text="Copied")).to_be_visible()
    assert "models:/iris-classifier@champion" in page.evaluate("navigator.clipboard.readText()")
    check_page(page, screenshot, "overview")

    # A stage move that archives the others asks first; version 1 was in Production.
    client.transition_model_version_stage("iris-classifier", "1", "Production")
    page.get_by_label("Move to").select_option("Production")
    page.get_by_label("Archive the other versions in that stage").check()
    questions: list[str] = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Move", exact=True).click()
    expect(page.get_by_text("Moved version 2 to Production and archived")).to_be_visible()
    assert "archive every other version now in Production" in questions[0]
    assert client.get_model_version("iris-classifier", "1").current_stage == "Archived"

    # MLmodel: the signature's columns and types, the example as a table.
    page.get_by_role("link", name="MLmodel", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?tab=mlmodel"))
    inputs = page.locator("table[data-signature='inputs']")
    expect(inputs.locator("thead th")).to_have_text(["Name", "Type", "Required"])
    expect(inputs.locator("tbody tr").first.locator("td")).to_have_text(["sepal_length", "double", "required"])
    expect(inputs.locator("tbody tr")).to_have_count(2)
    example = page.locator("table[data-input-example]")
    expect(example.locator("thead th")).to_have_text(["sepal_length", "petal_width"])
    expect(example.locator("tbody tr")).to_have_count(4)
    expect(page.get_by_role("heading", name=re.compile("scikit-learn"))).to_be_visible()
    expect(page.get_by_role("link", name="Raw MLmodel")).to_have_attribute(
        "href", "/models/iris-classifier/versions/2/files/raw/MLmodel"
    )
    check_page(page, screenshot, "mlmodel")

    # Artifacts: requirements.txt opened in the component's preview.
    page.get_by_role("link", name="Artifacts", exact=True).click()
    page.get_by_role("link", name=re.compile("requirements.txt")).click()
    expect(page.locator("[data-preview]")).to_contain_text("scikit-learn==1.9.1")
    assert "path=requirements.txt" in page.url
    check_page(page, screenshot, "artifacts")

    # The pyfunc model without a signature says so.
    page.goto("/models/echo-model/versions/1/?tab=mlmodel")
    expect(page.get_by_text(re.compile("This model has no signature"))).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile("Python function"))).to_be_visible()
    check_page(page, screenshot, "no-signature")
