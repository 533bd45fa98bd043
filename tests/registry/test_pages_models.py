"""The models page and a model's page, through Django's client and in Chromium."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.test import Client

from registry.models import ModelVersion, RegisteredModel, RegisteredModelAlias, RegisteredModelTag, Stage
from registry.store import aliases, versions
from registry.store import models as store
from registry.store.model_pages import HISTORY_PAGE_SIZE, PAGE_SIZE, VERSIONS_PAGE_SIZE

# Count, page rows, their tags, aliases, latest versions per stage, and those versions' tags and aliases.
LIST_QUERIES = 7
# The model, its tags, aliases, latest versions (+ their tags and aliases); the versions' count, page, tags, aliases
# and runs; the alias events (the name's ids, the page).
DETAIL_QUERIES = 13
T0 = 1_700_000_000_000


def row_names(html: str) -> list[str]:
    """The model names of the results table's rows, in order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<td class="wrap model-name"><a href="/models/[^"]+/">([^<]*)</a>', body)


def make_models(count: int, *, prefix: str = "model", versions_each: int = 0) -> list[RegisteredModel]:
    """``count`` models through the ORM, created a second apart, each with a few versions (stage cycling)."""
    models = RegisteredModel.objects.bulk_create(
        [
            RegisteredModel(name=f"{prefix}-{i:05d}", creation_timestamp=T0 + i * 1000, last_updated_timestamp=T0 + i)
            for i in range(count)
        ],
        batch_size=2000,
    )
    stages = [Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED]
    ModelVersion.objects.bulk_create(
        [
            ModelVersion(
                registered_model=m,
                version=v,
                creation_timestamp=T0,
                last_updated_timestamp=T0,
                current_stage=stages[v % 4],
                source=f"models:/m-{m.pk}-{v}",
            )
            for m in models
            for v in range(1, versions_each + 1)
        ],
        batch_size=2000,
    )
    return models


def best_time(call: Any, repeat: int = 3) -> float:
    """The fastest of a few calls, in seconds: a shared machine's load only ever adds time."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return min(times)


def add_version(model: RegisteredModel, number: int, **fields: Any) -> ModelVersion:
    """A version row without files (the pages only read rows)."""
    defaults = {"creation_timestamp": T0, "last_updated_timestamp": T0, "source": f"models:/m-{number}"}
    return ModelVersion.objects.create(registered_model=model, version=number, **{**defaults, **fields})


@pytest.fixture
def fraud(db: None) -> RegisteredModel:
    """A model with three versions, a tag and a description."""
    model = store.create_registered_model(
        name="fraud-detector", tags=[("team", "risk")], description="# Fraud\n\nScores **card** payments."
    )
    for number in (1, 2, 3):
        add_version(model, number)
    return model


# --- the models page ----------------------------------------------------------------------------------------------


def test_models_page_finds_by_name_substring_case_insensitively(db: None, client: Client) -> None:
    for name in ("fraud-detector", "Churn model", "detector-v2", "100%_done"):
        store.create_registered_model(name=name)
    html = client.get("/models/", {"q": "DETECT"}).content.decode()
    assert row_names(html) == ["detector-v2", "fraud-detector"]
    assert 'value="DETECT"' in html
    # LIKE's wildcards are literal characters in a search.
    response = client.get("/models/-/results/", {"q": "0%_"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert row_names(fragment) == ["100%_done"]
    assert "1\N{EN DASH}1 of 1 model matching “0%_”" in fragment


def test_models_page_filters_by_tag_key_value_or_key(db: None, client: Client) -> None:
    store.create_registered_model(name="a", tags=[("team", "risk"), ("tier", "1")])
    store.create_registered_model(name="b", tags=[("team", "growth")])
    store.create_registered_model(name="c")
    assert row_names(client.get("/models/", {"tag": "team=risk"}).content.decode()) == ["a"]
    assert row_names(client.get("/models/", {"tag": " team = growth "}).content.decode()) == ["b"]
    assert row_names(client.get("/models/", {"tag": "team"}).content.decode()) == ["a", "b"]
    assert row_names(client.get("/models/", {"tag": "team=risk", "q": "b"}).content.decode()) == []
    html = client.get("/models/", {"tag": "=risk"}).content.decode()
    assert "Type a tag as key=value" in html
    assert row_names(html) == ["a", "b", "c"]


def test_prompts_are_not_listed(db: None, client: Client) -> None:
    store.create_registered_model(name="real-model")
    store.create_registered_model(name="my-prompt", tags=[("mlflow.prompt.is_prompt", "true")])
    assert row_names(client.get("/models/").content.decode()) == ["real-model"]
    html = client.get("/models/", {"tag": "mlflow.prompt.is_prompt=true"}).content.decode()
    assert row_names(html) == []


def test_each_row_shows_latest_versions_aliases_update_and_description(fraud: RegisteredModel, client: Any) -> None:
    versions.transition_model_version_stage(name="fraud-detector", version=2, stage="Production")
    aliases.set_registered_model_alias(name="fraud-detector", alias="champion", version=2)
    store.create_registered_model(name="empty-model")
    html = client.get("/models/").content.decode()
    assert row_names(html) == ["empty-model", "fraud-detector"]
    assert (
        '<a href="/models/fraud-detector/versions/3/" aria-label="fraud-detector version 3 (newest)">Version 3</a>'
        in html
    )
    production = 'aria-label="fraud-detector version 2, latest in Production">Production: v2</a>'
    assert f'href="/models/fraud-detector/versions/2/" {production}' in html
    assert "@champion → v2</a>" in html
    # The description's first lines as Markdown.
    assert "<h1>Fraud</h1>" in html
    assert "<strong>card</strong>" in html
    assert "No versions" in html  # empty-model


def test_long_descriptions_are_cut_to_a_few_lines_and_scripts_never_run(db: None, client: Client) -> None:
    text = "\n".join(f"line {i}" for i in range(10)) + "\n<script>alert(1)</script>"
    store.create_registered_model(name="wordy", description=text)
    html = client.get("/models/").content.decode()
    assert "line 2" in html
    assert "line 3" not in html
    assert 'href="/models/wordy/#model-description" aria-label="Full description of wordy">more…</a>' in html
    store.update_registered_model(name="wordy", description="<script>alert(1)</script> **hi**")
    html = client.get("/models/").content.decode()
    assert "<script>alert(1)" not in html
    assert "<strong>hi</strong>" in html


def test_models_sort_by_name_last_update_and_creation(db: None, client: Client) -> None:
    for name in ("beta", "Alpha", "gamma"):
        store.create_registered_model(name=name)
        time.sleep(0.002)
    RegisteredModel.objects.filter(name="Alpha").update(last_updated_timestamp=T0 * 2)

    def order(**params: str) -> list[str]:
        return row_names(client.get("/models/", params).content.decode())

    assert order() == ["Alpha", "beta", "gamma"]  # by name, without regard to case, by default
    assert order(sort="name", order="desc") == ["gamma", "beta", "Alpha"]
    assert order(sort="updated") == ["Alpha", "gamma", "beta"]
    assert order(sort="created") == ["gamma", "Alpha", "beta"]
    assert order(sort="created", order="asc") == ["beta", "Alpha", "gamma"]
    html = client.get("/models/", {"sort": "updated", "q": "a"}).content.decode()
    assert 'aria-sort="descending"><a href="/models/?q=a&amp;sort=updated&amp;order=asc"' in html
    assert '<a href="/models/?q=a&amp;sort=created&amp;order=desc" data-listing-link="sort-created">' in html


def test_pages_of_models(db: None, client: Client) -> None:
    make_models(120, prefix="p")
    html = client.get("/models/", {"q": "p-", "page": "2"}).content.decode()
    assert row_names(html) == [f"p-{i:05d}" for i in range(50, 100)]
    assert "51\N{EN DASH}100 of 120 models" in html
    assert 'href="/models/?q=p-&amp;page=3" data-listing-link="next"' in html
    html = client.get("/models/", {"page": "99"}).content.decode()
    assert row_names(html) == [f"p-{i:05d}" for i in range(100, 120)]
    assert "Page 3 of 3" in html


def test_a_page_of_models_is_a_fixed_number_of_queries(
    db: None, client: Client, django_assert_max_num_queries: Any
) -> None:
    models = make_models(320, versions_each=4)
    for model in models[:80]:
        RegisteredModelTag.objects.create(registered_model=model, key="team", value="risk")
        RegisteredModelAlias.objects.create(
            registered_model=model, alias="champion", model_version=model.versions.get(version=2)
        )
    for params in ({}, {"page": "4"}, {"sort": "updated"}, {"tag": "team=risk"}, {"q": "model-0"}):
        with django_assert_max_num_queries(LIST_QUERIES):
            html = client.get("/models/-/results/", params).content.decode()
        assert len(row_names(html)) == PAGE_SIZE
    assert "@champion → v2" in html
    assert "Production: v2" in html
    with django_assert_max_num_queries(LIST_QUERIES):
        client.get("/models/", {"page": "7"})


def test_1000_models_answer_quickly(db: None, client: Client) -> None:
    make_models(1000, versions_each=10)
    for params in ({}, {"sort": "updated"}, {"q": "model-00", "page": "5"}):
        assert best_time(lambda p=params: client.get("/models/-/results/", p)) < 0.5, params
    assert best_time(lambda: client.get("/models/", {"q": "0999"})) < 0.5


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc"},
        {"page": "-3"},
        {"page": "99999999999999999999999"},
        {"sort": "drop table"},
        {"order": "sideways"},
        {"q": "x" * 5000},
        {"tag": "`"},
        {"tag": "a=b=c"},
    ],
)
def test_bad_query_strings_fall_back_to_defaults(params: dict, db: None, client: Client) -> None:
    make_models(3, prefix="b")
    assert client.get("/models/", params).status_code == 200
    assert client.get("/models/-/results/", params).status_code == 200


def test_the_empty_registry_says_how_to_register(db: None, client: Client) -> None:
    html = client.get("/models/").content.decode()
    assert "No registered models yet." in html
    assert 'aria-current="page">Models</a>' in html


# --- a model's page -----------------------------------------------------------------------------------------------


def test_model_page_shows_about_description_tags_aliases_and_versions(
    fraud: RegisteredModel, api: Any, run_id: str, client: Client
) -> None:
    ModelVersion.objects.filter(registered_model=fraud, version=1).update(run_id=run_id)
    ModelVersion.objects.filter(registered_model=fraud, version=2).update(run_id="f" * 32)  # a run gone since
    versions.set_model_version_tag(name="fraud-detector", version=3, key="validated", value="yes")
    aliases.set_registered_model_alias(name="fraud-detector", alias="champion", version=3)
    html = client.get("/models/fraud-detector/").content.decode()
    assert "<h1>fraud-detector</h1>" in html
    assert "<h1>Fraud</h1>" in html  # the description as Markdown
    assert '<td class="wrap mono" id="tag-1-key">team</td>' in html
    assert '<a href="/models/fraud-detector/versions/3/">Version 3</a>' in html
    assert f'<a href="/runs/{run_id}/">r</a>' in html
    assert "(run deleted)" in html
    assert '<span class="mono">validated</span>=yes' in html
    assert '<span class="badge alias">@champion</span>' in html
    assert 'mlflow.pyfunc.load_model("models:/fraud-detector@champion")' in html
    assert "set on version 3" in html


def test_stages_are_shown_only_for_models_that_use_them(fraud: RegisteredModel, client: Client) -> None:
    html = client.get("/models/fraud-detector/").content.decode()
    assert '<th scope="col">Stage</th>' not in html
    assert "Latest per stage" not in html
    versions.transition_model_version_stage(name="fraud-detector", version=1, stage="staging")
    html = client.get("/models/fraud-detector/").content.decode()
    assert '<th scope="col">Stage</th>' in html
    assert '<span class="badge stage Staging">Staging</span>' in html
    assert 'href="/models/fraud-detector/versions/1/">Staging: v1</a>' in html


@pytest.mark.parametrize("params", [{"versions_page": "x"}, {"versions_page": "-1"}, {"history_before": "9" * 40}])
def test_bad_model_page_query_strings_fall_back_to_defaults(params: dict, fraud: RegisteredModel, client: Any) -> None:
    response = client.get("/models/fraud-detector/", params)
    assert response.status_code == 200
    assert '<a href="/models/fraud-detector/versions/3/">Version 3</a>' in response.content.decode()


def test_unknown_or_invalid_model_is_a_404_page(db: None, client: Client) -> None:
    response = client.get("/models/nope/")
    assert response.status_code == 404
    assert client.get("/models/a:b/").status_code == 404
    assert client.post("/models/nope/tags/", {"key": "k", "value": "v"}).status_code == 404
    assert client.post("/models/nope/rename/", {"new_name": "x"}).status_code == 404
    assert client.post("/models/nope/delete/").status_code == 404


def test_names_with_spaces_and_url_characters(db: None, client: Client) -> None:
    store.create_registered_model(name="fraud model #1 ?x=%")
    html = client.get("/models/").content.decode()
    assert 'href="/models/fraud%20model%20%231%20%3Fx=%25/"' in html
    response = client.get("/models/fraud%20model%20%231%20%3Fx=%25/")
    assert response.status_code == 200
    response = client.post("/models/fraud%20model%20%231%20%3Fx=%25/tags/", {"key": "k", "value": "v"})
    assert response.status_code == 302
    assert dict(store.get_registered_model(name="fraud model #1 ?x=%").tags) == {"k": "v"}


def test_model_page_is_a_fixed_number_of_queries(db: None, client: Client, django_assert_max_num_queries: Any) -> None:
    (model,) = make_models(1, prefix="big", versions_each=300)
    for number in range(1, 40):
        aliases.set_registered_model_alias(name=model.name, alias=f"a{number % 7}", version=number)
    with django_assert_max_num_queries(DETAIL_QUERIES):
        html = client.get(f"/models/{model.name}/").content.decode()
    assert html.count('<a href="/models/big-00000/versions/') >= VERSIONS_PAGE_SIZE
    assert html.count("moved from version") == HISTORY_PAGE_SIZE
    assert 'href="/models/big-00000/?versions_page=2#model-versions" rel="next">Older versions</a>' in html
    with django_assert_max_num_queries(DETAIL_QUERIES):
        html = client.get(f"/models/{model.name}/", {"versions_page": "6"}).content.decode()
    assert "Page 6 of 6" in html
    assert '<a href="/models/big-00000/versions/1/">Version 1</a>' in html
    older = re.search(r'href="/models/big-00000/\?history_before=(\d+)#model-alias-history">Older', html).group(1)
    html = client.get(f"/models/{model.name}/", {"history_before": older}).content.decode()
    assert "set on version 1" in html


def test_description_is_saved_through_the_update_function_and_rendered(fraud: RegisteredModel, client: Client) -> None:
    response = client.post("/models/fraud-detector/description/", {"description": "## New\r\n\r\n- one\r\n- two"})
    assert response.status_code == 302
    assert response["Location"] == "/models/fraud-detector/"
    assert RegisteredModel.objects.get(pk=fraud.pk).description == "## New\n\n- one\n- two"
    html = client.get(response["Location"]).content.decode()
    assert "<h2>New</h2>" in html
    assert "<li>one</li>" in html
    assert "Saved the description." in html
    event = store.events.list_events(name="fraud-detector", actions=["registered_model_updated"])[0][0]
    assert event.new_value == "## New\n\n- one\n- two"


def test_tags_are_added_changed_and_deleted(fraud: RegisteredModel, client: Client) -> None:
    response = client.post("/models/fraud-detector/tags/", {"key": " owner ", "value": "alice"})
    assert response.status_code == 302
    assert response["Location"] == "/models/fraud-detector/#model-tags"
    client.post("/models/fraud-detector/tags/", {"key": "team", "value": "fraud"})
    assert dict(store.get_registered_model(name="fraud-detector").tags) == {"team": "fraud", "owner": "alice"}
    html = client.get("/models/fraud-detector/").content.decode()
    assert "Set tag team = fraud." in html
    assert 'data-confirm="Delete tag “team” of fraud-detector?"' in html
    response = client.post("/models/fraud-detector/tags/delete/", {"key": "team"})
    assert response.status_code == 302
    assert dict(store.get_registered_model(name="fraud-detector").tags) == {"owner": "alice"}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"key": "", "value": "v"}, "Invalid value &quot;&quot; for parameter &#x27;key&#x27; supplied"),
        ({"key": "x" * 300, "value": "v"}, "exceeds the maximum length"),
    ],
)
def test_refused_tags_are_shown_inline(payload: dict, message: str, fraud: RegisteredModel, client: Client) -> None:
    response = client.post("/models/fraud-detector/tags/", payload)
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert '<p class="field-error" id="tag-error" role="alert">' in html
    assert f'value="{payload["key"]}"' in html


def test_aliases_are_set_moved_and_deleted_with_their_history(fraud: RegisteredModel, client: Client) -> None:
    response = client.post(
        "/models/fraud-detector/aliases/",
        {"alias": "champion", "version": "1"},
        HTTP_AUTHORIZATION="Basic YWxpY2U6eA==",
    )
    assert response.status_code == 302
    assert response["Location"] == "/models/fraud-detector/#model-aliases"
    client.post(
        "/models/fraud-detector/aliases/", {"alias": "champion", "version": "2"}, HTTP_AUTHORIZATION="Basic Ym9iOng="
    )
    assert store.get_registered_model(name="fraud-detector").aliases == [("champion", 2)]
    html = client.get("/models/fraud-detector/").content.decode()
    assert "Alias @champion now points to version 2." in html
    history = html.split('id="model-alias-history"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r'<td class="change">([^<]*)</td>\s*<td class="wrap">([^<]*)</td>', history)
    assert cells == [("moved from version 1 to version 2", "bob"), ("set on version 1", "alice")]
    response = client.post("/models/fraud-detector/aliases/delete/", {"alias": "champion"})
    assert response.status_code == 302
    assert store.get_registered_model(name="fraud-detector").aliases == []
    html = client.get("/models/fraud-detector/").content.decode()
    assert "removed from version 2" in html


@pytest.mark.parametrize(
    ("alias", "version", "message"),
    [
        ("latest", "1", "&#x27;latest&#x27; alias name (case insensitive) is reserved."),
        ("LATEST", "1", "&#x27;latest&#x27; alias name (case insensitive) is reserved."),
        ("v3", "1", "Version alias name &#x27;v3&#x27; is reserved."),
        ("has space", "1", "Invalid alias name: &#x27;has space&#x27;"),
        ("", "1", "Registered model alias name cannot be empty."),
        ("champion", "9", "Model Version (name=fraud-detector, version=9) not found"),
        ("champion", "abc", "Parameter &#x27;version&#x27; must be an integer, got &#x27;abc&#x27;."),
        ("champion", "", "Parameter &#x27;version&#x27; must be an integer, got &#x27;&#x27;."),
    ],
)
def test_refused_aliases_are_shown_inline_with_mlflows_message(
    alias: str, version: str, message: str, fraud: RegisteredModel, client: Client
) -> None:
    response = client.post("/models/fraud-detector/aliases/", {"alias": alias, "version": version})
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    assert '<p class="field-error" id="alias-error" role="alert">' in html
    assert f'id="alias-name" name="alias" value="{alias}"' in html
    assert not RegisteredModelAlias.objects.exists()


def test_refused_deletes_of_tags_and_aliases_are_shown_inline(fraud: RegisteredModel, client: Client) -> None:
    response = client.post("/models/fraud-detector/tags/delete/", {"key": ""})
    assert response.status_code == 400
    assert '<p class="field-error" id="tag-error" role="alert">' in response.content.decode()
    response = client.post("/models/fraud-detector/aliases/delete/", {"alias": "not an alias"})
    assert response.status_code == 400
    assert "Invalid alias name: &#x27;not an alias&#x27;" in response.content.decode()
    # Removing what is not there is not an error, as in MLflow.
    assert client.post("/models/fraud-detector/aliases/delete/", {"alias": "ghost"}).status_code == 302
    assert client.post("/models/fraud-detector/tags/delete/", {"key": "ghost"}).status_code == 302
    assert dict(store.get_registered_model(name="fraud-detector").tags) == {"team": "risk"}


def test_rename_redirects_to_the_new_name_and_refuses_a_taken_one(fraud: RegisteredModel, client: Client) -> None:
    store.create_registered_model(name="taken")
    response = client.post("/models/fraud-detector/rename/", {"new_name": "taken"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Registered Model (name=taken) already exists." in html
    assert '<dialog id="rename-dialog" aria-labelledby="rename-title" open>' in html
    assert 'aria-invalid="true" aria-describedby="rename-error"' in html
    response = client.post("/models/fraud-detector/rename/", {"new_name": "bad/name"})
    assert response.status_code == 400
    assert "Names cannot contain" in response.content.decode()
    response = client.post("/models/fraud-detector/rename/", {"new_name": " fraud-v2 "})
    assert response.status_code == 302
    assert response["Location"] == "/models/fraud-v2/"
    html = client.get(response["Location"]).content.decode()
    assert "Renamed model fraud-detector to fraud-v2." in html
    assert client.get("/models/fraud-detector/").status_code == 404


def test_delete_asks_first_and_goes_back_to_the_list(fraud: RegisteredModel, client: Client) -> None:
    html = client.get("/models/fraud-detector/").content.decode()
    assert 'data-confirm="Delete model “fraud-detector” with its 3 versions, tags and aliases?' in html
    response = client.post("/models/fraud-detector/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/models/"
    html = client.get("/models/").content.decode()
    assert "Moved model fraud-detector and its versions to the trash." in html
    assert not RegisteredModel.objects.exists()


def test_actions_take_only_post_and_a_csrf_token(fraud: RegisteredModel) -> None:
    client = Client()
    for action in ("description", "tags", "tags/delete", "aliases", "aliases/delete", "rename", "delete"):
        assert client.get(f"/models/fraud-detector/{action}/").status_code == 405
    assert client.post("/models/-/results/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/models/fraud-detector/delete/").status_code == 403
    assert strict.post("/models/fraud-detector/aliases/", {"alias": "champion", "version": "1"}).status_code == 403
    assert RegisteredModel.objects.filter(pk=fraud.pk).exists()
    assert not RegisteredModelAlias.objects.exists()


# --- in Chromium --------------------------------------------------------------------------------------------------


def log_two_versions(name: str) -> list[str]:
    """Two versions of ``name`` registered by the real client's ``log_model``; their run ids."""
    import mlflow
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X, y = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.9, 0.8]]), np.array([0, 1, 0, 1])
    mlflow.set_experiment("card-fraud-training")
    run_ids = []
    for max_iter in (20, 200):
        with mlflow.start_run(run_name=f"iter-{max_iter}") as run:
            model = LogisticRegression(max_iter=max_iter).fit(X, y)
            # Requirements given, so that the client does not infer them in a subprocess (seconds per model).
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name, pip_requirements=["scikit-learn"])
        run_ids.append(run.info.run_id)
    return run_ids


@pytest.mark.live
def test_find_a_model_move_its_alias_describe_and_tag_it_in_chromium(
    page: Any, screenshot: Any, mlflow_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect

    from tests.tracking.test_pages_journey import check_page

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    run_ids = log_two_versions("credit-card-fraud")
    mlflow_client.create_registered_model("churn-predictor", tags={"team": "growth"}, description="Who leaves.")
    mlflow_client.create_registered_model("ranking-model", description="# Ranking\n\nOrders the **feed**.")
    # The client refuses to make a prompt as a model; MLflow's prompt registry stores it as one tagged so.
    store.create_registered_model(name="summarize-prompt", tags=[("mlflow.prompt.is_prompt", "true")])
    # The browser says who it is as the mlflow client does (HTTP Basic user name; not checked while auth is off).
    page.set_extra_http_headers({"Authorization": "Basic YWxpY2U6eA=="})  # alice
    questions: list[str] = []
    page.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))

    # The models page: every model but the prompt; typing part of a name narrows it without a page load.
    page.goto("/models/")
    results = page.locator("#model-results")
    expect(results.locator("td.model-name")).to_have_count(3)
    expect(results.get_by_role("row").filter(has_text="credit-card-fraud")).to_contain_text("Version 2")
    page.evaluate("window.__samePage = true")
    page.get_by_label("Search models by name").press_sequentially("CARD-fr")
    expect(results.locator("td.model-name")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/models/\?q=CARD-fr$"))
    assert page.evaluate("window.__samePage") is True
    check_page(page, screenshot, "models-search")
    page.get_by_label("Search models by name").fill("")
    page.get_by_label("Filter by tag (key=value)").fill("team=growth")
    page.get_by_label("Filter by tag (key=value)").press("Enter")
    expect(results.locator("td.model-name")).to_have_text(["churn-predictor"])
    expect(page).to_have_url(re.compile(r"tag=team%3Dgrowth"))
    page.get_by_label("Filter by tag (key=value)").fill("")
    page.get_by_label("Search models by name").fill("credit")
    expect(results.locator("td.model-name")).to_have_count(1)
    results.get_by_role("link", name="credit-card-fraud", exact=True).click()

    # The model: two versions from their runs.
    expect(page.get_by_role("heading", level=1)).to_have_text("credit-card-fraud")
    versions_table = page.locator("table.versions")
    expect(versions_table.locator("tbody tr")).to_have_count(2)
    first_run = versions_table.get_by_role("link", name="iter-20", exact=True)
    expect(first_run).to_have_attribute("href", f"/runs/{run_ids[0]}/")

    # Set champion on version 1, then move it to version 2: the history says who moved it from which to which.
    page.get_by_label("Alias", exact=True).fill("latest")
    page.get_by_label("Version", exact=True).fill("1")
    page.get_by_role("button", name="Set alias").click()
    expect(page.locator("#alias-error")).to_have_text("'latest' alias name (case insensitive) is reserved.")
    expect(page).to_have_url(re.compile(r"/models/credit-card-fraud/$"))  # the model, not the form's address
    page.get_by_label("Alias", exact=True).fill("champion")
    page.get_by_role("button", name="Set alias").click()
    expect(page.get_by_role("status").filter(has_text="Alias @champion now points to version 1.")).to_be_visible()
    history = page.locator("table.alias-history tbody tr")
    expect(history).to_have_count(1)
    expect(history.first).to_contain_text("set on version 1")
    page.get_by_label("Move @champion to version").fill("2")
    page.locator("tr[data-alias=champion]").get_by_role("button", name="Move").click()
    expect(page.get_by_role("status").filter(has_text="Alias @champion now points to version 2.")).to_be_visible()
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("@champion")
    expect(history.first.locator("td.change")).to_have_text("moved from version 1 to version 2")
    expect(history.first).to_contain_text("alice")
    expect(versions_table.locator("tbody tr").first).to_contain_text("@champion")

    # The description in Markdown, rendered once saved.
    page.get_by_text("Edit description").click()
    text = "## Card fraud\n\nScores **card** payments.\n\n- v2 is the champion"
    page.get_by_label("Description (Markdown)").fill(text)
    page.get_by_role("button", name="Save description").click()
    description = page.locator("#model-description-text")
    expect(description.locator("h2")).to_have_text("Card fraud")
    expect(description.locator("strong")).to_have_text("card")
    expect(description.locator("li")).to_have_text("v2 is the champion")

    # A tag added, then changed in its row.
    page.get_by_label("Key", exact=True).fill("team")
    page.get_by_label("Value", exact=True).fill("risk")
    page.get_by_role("button", name="Set tag").click()
    tags = page.locator("table.tags tbody tr")
    expect(tags).to_have_count(1)
    expect(tags.first).to_contain_text("risk")
    tags.first.get_by_text("Edit").click()
    page.get_by_label("New value of team").fill("fraud-ops")
    tags.first.get_by_role("button", name="Save").click()
    expect(tags.first).to_contain_text("fraud-ops")
    check_page(page, screenshot, "model")
    assert mlflow_client.get_registered_model("credit-card-fraud").tags == {"team": "fraud-ops"}
    assert mlflow_client.get_model_version_by_alias("credit-card-fraud", "champion").version == "2"

    # The list shows the alias and the description's first lines; sorted by last update it comes first.
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="Models").click()
    page.get_by_role("link", name="Last updated").click()
    expect(page).to_have_url(re.compile(r"sort=updated&order=desc"))
    first = results.locator("tbody tr").first
    expect(first.locator("td.model-name")).to_have_text("credit-card-fraud")
    expect(first.get_by_role("link", name="Alias champion of credit-card-fraud: version 2")).to_be_visible()
    expect(first.locator(".model-description h2")).to_have_text("Card fraud")
    check_page(page, screenshot, "models-all")
    page.go_back()
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("credit-card-fraud")

    # Rename: a taken name is refused in the dialog; a new one leads to the page under it.
    page.get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog", name="Rename model")
    dialog.get_by_label("New name").fill("churn-predictor")
    dialog.get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog", name="Rename model")
    expect(dialog.get_by_role("alert")).to_have_text("Registered Model (name=churn-predictor) already exists.")
    dialog.get_by_label("New name").fill("card-fraud")
    dialog.get_by_role("button", name="Rename").click()
    expect(page).to_have_url(re.compile(r"/models/card-fraud/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("card-fraud")

    # Delete asks first, then goes back to the list with a message.
    page.get_by_role("button", name="Delete model").click()
    expect(
        page.get_by_role("status").filter(has_text="Moved model card-fraud and its versions to the trash.")
    ).to_be_visible()
    expect(page).to_have_url(re.compile(r"/models/$"))
    assert any("Delete model “card-fraud”" in q for q in questions)
    expect(results.locator("td.model-name")).to_have_count(2)
