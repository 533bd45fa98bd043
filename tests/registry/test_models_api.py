"""Registered model endpoints: lifecycle, tags, search, latest versions and MLflow's error codes."""

from __future__ import annotations

import pytest

from registry.models import ModelVersion, RegisteredModel, RegisteredModelAlias
from tests.registry.conftest import download


def test_create_get_and_duplicate(api):
    created = api.post(
        "registered-models/create", {"name": "fraud", "description": "d", "tags": [{"key": "team", "value": "risk"}]}
    )["registered_model"]
    assert created["name"] == "fraud"
    assert created["description"] == "d"
    assert created["tags"] == [{"key": "team", "value": "risk"}]
    assert created["creation_timestamp"] == created["last_updated_timestamp"]
    fetched = api.get("registered-models/get", {"name": "fraud"})["registered_model"]
    assert fetched == created
    message = api.error("POST", "registered-models/create", {"name": "fraud"}, 400, "RESOURCE_ALREADY_EXISTS")
    assert "already exists" in message


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({}, "Missing value for required parameter 'name'"),
        ({"name": ""}, "Missing value for required parameter 'name'"),
        ({"name": "a/b"}, "Names cannot contain '/' or ':'"),
        ({"name": "a:b"}, "Names cannot contain '/' or ':'"),
        ({"name": "m", "tags": [{"key": "", "value": "x"}]}, "key"),
        ({"name": "n" * 257}, "exceeds the maximum length"),
        ({"name": "m", "deployment_job_id": "j" * 257}, "exceeds the maximum length"),
    ],
)
def test_create_refuses_bad_input(api, payload, fragment):
    assert fragment in api.error("POST", "registered-models/create", payload, 400, "INVALID_PARAMETER_VALUE")
    assert not RegisteredModel.objects.exists()


def test_missing_model_is_404_everywhere(api):
    for method, endpoint, payload in [
        ("GET", "registered-models/get", {"name": "nope"}),
        ("POST", "registered-models/rename", {"name": "nope", "new_name": "x"}),
        ("PATCH", "registered-models/update", {"name": "nope", "description": "x"}),
        ("DELETE", "registered-models/delete", {"name": "nope"}),
        ("POST", "registered-models/set-tag", {"name": "nope", "key": "k", "value": "v"}),
        ("POST", "registered-models/get-latest-versions", {"name": "nope"}),
        ("POST", "model-versions/create", {"name": "nope", "source": "s3://b/m"}),
    ]:
        api.error(method, endpoint, payload, 404, "RESOURCE_DOES_NOT_EXIST")


def test_update_and_tags(api):
    api.post("registered-models/create", {"name": "m"})
    updated = api.call("PATCH", "registered-models/update", {"name": "m", "description": "new"})["registered_model"]
    assert updated["description"] == "new"
    api.post("registered-models/set-tag", {"name": "m", "key": "k", "value": "1"})
    api.post("registered-models/set-tag", {"name": "m", "key": "k", "value": "2"})
    assert api.get("registered-models/get", {"name": "m"})["registered_model"]["tags"] == [{"key": "k", "value": "2"}]
    api.call("DELETE", "registered-models/delete-tag", {"name": "m", "key": "k"})
    api.call("DELETE", "registered-models/delete-tag", {"name": "m", "key": "k"})  # missing: fine, as in MLflow
    assert "tags" not in api.get("registered-models/get", {"name": "m"})["registered_model"]
    api.error("POST", "registered-models/set-tag", {"name": "m", "key": "k"}, 400, "INVALID_PARAMETER_VALUE")


def test_rename_keeps_versions_and_aliases(api, register):
    register("old")
    register("old")
    api.post("registered-models/alias", {"name": "old", "alias": "champion", "version": "2"})
    renamed = api.post("registered-models/rename", {"name": "old", "new_name": "new"})["registered_model"]
    assert renamed["name"] == "new"
    assert renamed["aliases"] == [{"alias": "champion", "version": "2"}]
    assert [v["version"] for v in renamed["latest_versions"]] == ["2"]
    assert api.get("registered-models/alias", {"name": "new", "alias": "champion"})["model_version"]["name"] == "new"
    api.error("GET", "registered-models/get", {"name": "old"}, 404, "RESOURCE_DOES_NOT_EXIST")
    # The files stay where they were: the download URI did not depend on the name.
    uri = api.get("model-versions/get-download-uri", {"name": "new", "version": "1"})["artifact_uri"]
    assert download(uri, "MLmodel") == b"flavors: {}\n"


def test_rename_errors(api):
    api.post("registered-models/create", {"name": "a"})
    api.post("registered-models/create", {"name": "b"})
    api.error("POST", "registered-models/rename", {"name": "a", "new_name": "b"}, 400, "RESOURCE_ALREADY_EXISTS")
    api.error("POST", "registered-models/rename", {"name": "a"}, 400, "INVALID_PARAMETER_VALUE")
    api.error("POST", "registered-models/rename", {"name": "a", "new_name": "x/y"}, 400, "INVALID_PARAMETER_VALUE")
    assert set(RegisteredModel.objects.values_list("name", flat=True)) == {"a", "b"}


def test_delete_hides_the_model_keeps_its_files_and_frees_the_name(
    api, register, settings, django_capture_on_commit_callbacks
):
    register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "prod", "version": "1"})
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    with django_capture_on_commit_callbacks(execute=True):
        api.call("DELETE", "registered-models/delete", {"name": "m"})
    api.error("GET", "registered-models/get", {"name": "m"}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("GET", "model-versions/get", {"name": "m", "version": "1"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert api.get("model-versions/search", {"filter": "name = 'm'"}).get("model_versions", []) == []
    assert not RegisteredModelAlias.objects.exists()
    # In the trash: the rows and the files stay until it is purged.
    assert RegisteredModel.all_objects.get().deleted_timestamp is not None
    assert ModelVersion.objects.count() == 1
    from pathlib import Path

    assert (Path(settings.STUDIO_ARTIFACT_ROOT) / uri.removeprefix("mlflow-artifacts:/") / "model.pkl").is_file()
    # The name is free again, and numbering starts over.
    assert register("m")["version"] == "1"
    assert RegisteredModel.all_objects.filter(name="m").count() == 2


def test_latest_versions_per_stage(api, register):
    for _ in range(4):
        register("m")
    api.post("model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production"})
    api.post("model-versions/transition-stage", {"name": "m", "version": "2", "stage": "staging"})
    latest = api.post("registered-models/get-latest-versions", {"name": "m"})["model_versions"]
    assert [(v["version"], v["current_stage"]) for v in latest] == [
        ("4", "None"),
        ("2", "Staging"),
        ("1", "Production"),
    ]
    only = api.get("registered-models/get-latest-versions", {"name": "m", "stages": ["production", "Staging"]})
    assert [v["version"] for v in only["model_versions"]] == ["2", "1"]
    api.error(
        "POST",
        "registered-models/get-latest-versions",
        {"name": "m", "stages": ["prod"]},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def _names(api, **query) -> list[str]:
    return [m["name"] for m in api.get("registered-models/search", query).get("registered_models", [])]


def test_search_filters_and_orders(api):
    for name, team in [("alpha", "a"), ("Beta", "b"), ("beta-2", "b"), ("gamma", "a")]:
        api.post("registered-models/create", {"name": name, "tags": [{"key": "team", "value": team}]})
    api.post(
        "registered-models/create", {"name": "prompt", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]}
    )
    assert _names(api) == ["Beta", "alpha", "beta-2", "gamma"]  # name ASC; prompts left out
    assert _names(api, filter="name = 'alpha'") == ["alpha"]
    assert _names(api, filter="name LIKE 'beta%'") == ["beta-2"]
    assert _names(api, filter="name ILIKE 'beta%'") == ["Beta", "beta-2"]
    assert _names(api, filter="name != 'alpha'") == ["Beta", "beta-2", "gamma"]
    assert _names(api, filter="tags.team = 'a'") == ["alpha", "gamma"]
    assert _names(api, filter="tag.`team` = 'b' and name LIKE '%2'") == ["beta-2"]
    assert _names(api, filter="name = 'alpha' OR tags.team = 'b'") == ["Beta", "alpha", "beta-2"]
    # The 3.x client appends this to every search; it must not hide models that lack the tag.
    client_filter = "name LIKE '%a' AND tags.`mlflow.prompt.is_prompt` != 'true'"
    assert _names(api, filter=client_filter) == ["Beta", "alpha", "gamma"]
    assert _names(api, filter="tags.`mlflow.prompt.is_prompt` = 'true'") == ["prompt"]
    assert _names(api, order_by=["name DESC"]) == ["gamma", "beta-2", "alpha", "Beta"]
    api.post("registered-models/set-tag", {"name": "alpha", "key": "touched", "value": "1"})
    api.call("PATCH", "registered-models/update", {"name": "alpha", "description": "newest"})
    assert _names(api, order_by=["timestamp DESC"])[0] == "alpha"
    assert _names(api, order_by=["last_updated_timestamp DESC"])[0] == "alpha"


def test_search_pages(api):
    for i in range(5):
        api.post("registered-models/create", {"name": f"m{i}"})
    seen, token = [], None
    while True:
        page = api.get("registered-models/search", {"max_results": 2, **({"page_token": token} if token else {})})
        seen += [m["name"] for m in page["registered_models"]]
        token = page.get("next_page_token")
        if not token:
            break
    assert seen == [f"m{i}" for i in range(5)]


@pytest.mark.parametrize(
    "query",
    [
        {"filter": "description = 'x'"},
        {"filter": "name > 'a'"},
        {"filter": "tags.k IN ('a')"},
        {"filter": "name = 'a' AND ("},
        {"order_by": ["version_number DESC"]},
        {"order_by": ["name ASC", "name DESC"]},
        {"max_results": 1001},
        {"max_results": 0},
        {"page_token": "not-a-token"},
    ],
)
def test_search_refuses_bad_queries(api, query):
    api.error("GET", "registered-models/search", query, 400, "INVALID_PARAMETER_VALUE")


def test_search_reads_a_page_in_a_bounded_number_of_queries(api, register, django_assert_max_num_queries):
    for i in range(3):
        register(f"m{i}")
        register(f"m{i}")
    with django_assert_max_num_queries(8):
        found = api.get("registered-models/search")["registered_models"]
    assert [len(m["latest_versions"]) for m in found] == [1, 1, 1]
