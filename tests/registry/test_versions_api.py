"""Model version endpoints: registration from every kind of source (files copied), stages, tags, aliases, search."""

from __future__ import annotations

from pathlib import Path

import pytest

from registry.models import ModelVersion
from tests.registry.conftest import MODEL_FILES, download, upload


def test_register_from_a_logged_model_copies_its_files(api, register, logged_model, run_id, experiment_id, settings):
    version = register("m", tags=[{"key": "k", "value": "v"}], description="first")
    assert version["version"] == "1"
    assert version["status"] == "READY"
    assert version["current_stage"] == "None"
    assert version["source"] == f"models:/{logged_model['model_id']}"
    assert version["run_id"] == run_id
    assert version["model_id"] == logged_model["model_id"]
    assert version["tags"] == [{"key": "k", "value": "v"}]
    assert version["description"] == "first"
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/registry/")
    for name, data in MODEL_FILES.items():
        assert download(uri, name) == data
    row = ModelVersion.objects.get()
    assert (row.file_count, row.size_bytes, row.experiment_id) == (
        3,
        sum(map(len, MODEL_FILES.values())),
        int(experiment_id),
    )
    assert register("m")["version"] == "2"
    # MLflow's server lists the versions on the logged model.
    tags = {t["key"]: t["value"] for t in api.get(f"logged-models/{logged_model['model_id']}")["model"]["info"]["tags"]}
    assert tags["mlflow.modelVersions"] == '[{"name":"m","version":"1"},{"name":"m","version":"2"}]'


def test_registered_files_are_a_snapshot(api, register, logged_model):
    register("m")
    upload(logged_model["artifact_uri"], {"model.pkl": b"overwritten"})
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    assert download(uri, "model.pkl") == MODEL_FILES["model.pkl"]


def test_registry_files_are_read_only_through_the_proxy(api, register):
    register("m")
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    response = api.client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{uri.removeprefix('mlflow-artifacts:/')}/model.pkl",
        b"evil",
        content_type="application/octet-stream",
    )
    assert response.status_code == 403
    assert download(uri, "model.pkl") == MODEL_FILES["model.pkl"]


def test_register_from_run_artifacts(api, run_id, experiment_id):
    run = api.get("runs/get", {"run_id": run_id})["run"]["info"]
    upload(run["artifact_uri"] + "/clf", {"MLmodel": b"m", "w.bin": b"w"})
    api.post("registered-models/create", {"name": "m"})
    by_run = api.post("model-versions/create", {"name": "m", "source": f"runs:/{run_id}/clf"})["model_version"]
    assert by_run["run_id"] == run_id  # inferred from the source
    by_path = api.post(
        "model-versions/create", {"name": "m", "source": f"{run['artifact_uri']}/clf", "run_id": run_id}
    )["model_version"]
    bare = api.post("model-versions/create", {"name": "m", "source": f"{run['artifact_uri']}/clf"})["model_version"]
    assert bare["run_id"] == run_id  # the run whose folder holds it
    for version in (by_run, by_path, bare):
        uri = api.get("model-versions/get-download-uri", {"name": "m", "version": version["version"]})["artifact_uri"]
        assert download(uri, "w.bin") == b"w"


def test_runs_uri_naming_a_logged_model(api, register, run_id, logged_model):
    api.post("registered-models/create", {"name": "m"})
    version = api.post("model-versions/create", {"name": "m", "source": f"runs:/{run_id}/model", "run_id": run_id})
    assert version["model_version"]["model_id"] == logged_model["model_id"]
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "1"})["artifact_uri"]
    assert download(uri, "MLmodel") == MODEL_FILES["MLmodel"]


def test_register_from_another_version_copies_it(api, register):
    register("src", tags=[{"key": "k", "value": "v"}])
    api.post("registered-models/create", {"name": "dst"})
    copied = api.post("model-versions/create", {"name": "dst", "source": "models:/src/1"})["model_version"]
    source = api.get("model-versions/get", {"name": "src", "version": "1"})["model_version"]
    assert copied["source"] == "models:/src/1"
    assert (copied["run_id"], copied["model_id"]) == (source["run_id"], source["model_id"])
    api.call("DELETE", "registered-models/delete", {"name": "src"})
    uri = api.get("model-versions/get-download-uri", {"name": "dst", "version": "1"})["artifact_uri"]
    assert download(uri, "model.pkl") == MODEL_FILES["model.pkl"]


def test_external_source_is_referenced(api):
    api.post("registered-models/create", {"name": "m"})
    version = api.post("model-versions/create", {"name": "m", "source": "s3://bucket/models/m"})["model_version"]
    assert version["source"] == "s3://bucket/models/m"
    assert api.get("model-versions/get-download-uri", {"name": "m", "version": "1"}) == {
        "artifact_uri": "s3://bucket/models/m"
    }


@pytest.mark.parametrize(
    ("source", "fields", "fragment"),
    [
        ("/home/me/model", {}, "cannot read a path on the client's machine"),
        ("file:///tmp/model", {}, "cannot read a path on the client's machine"),
        ("runs:/{run}/missing", {}, "no files"),
        ("runs:/{run}/model", {"run_id": "f" * 32}, "run_id request parameter"),
        ("runs:/" + "e" * 32 + "/model", {}, "run_id request parameter"),
        ("models:/m-" + "0" * 32, {}, "model_id request parameter"),
        ("models:/{model}", {"model_id": "m-" + "1" * 32}, "model_id request parameter"),
        ("models:/nope/1", {}, "not found"),
        ("mlflow-artifacts:/1/../../etc", {}, "Invalid path"),
        ("s3://bucket/../secret", {}, "relative path"),
        ("s3://bucket/m", {"run_id": "r" * 33}, "exceeds the maximum length"),
        ("mlflow-artifacts:/{exp}/models/{model}/artifacts", {"run_id": "f" * 32}, "run_id request parameter"),
    ],
)
def test_bad_sources_are_refused_and_write_nothing(api, logged_model, run_id, experiment_id, source, fields, fragment):
    api.post("registered-models/create", {"name": "m"})
    payload = {"name": "m", "source": source.format(run=run_id, model=logged_model["model_id"], exp=experiment_id)}
    body = api.post("model-versions/create", {**payload, **fields}, status=None)
    assert body["error_code"] in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"), body
    assert fragment.lower() in body["message"].lower(), body
    assert not ModelVersion.objects.exists()


def test_no_files_left_behind_by_a_refused_version(api, logged_model, settings):
    api.post("registered-models/create", {"name": "m"})
    payload = {"name": "m", "source": f"models:/{logged_model['model_id']}", "tags": [{"key": "", "value": "x"}]}
    api.error("POST", "model-versions/create", payload, 400, "INVALID_PARAMETER_VALUE")
    assert not (Path(settings.STUDIO_ARTIFACT_ROOT) / "registry").exists() or not any(
        p.is_file() for p in (Path(settings.STUDIO_ARTIFACT_ROOT) / "registry").rglob("*")
    )


def test_get_update_and_version_errors(api, register):
    register("m")
    fetched = api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]
    assert fetched["version"] == "1"
    updated = api.call("PATCH", "model-versions/update", {"name": "m", "version": "1", "description": "d"})
    assert updated["model_version"]["description"] == "d"
    api.error("GET", "model-versions/get", {"name": "m", "version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("GET", "model-versions/get", {"name": "m", "version": "99999999999"}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("GET", "model-versions/get", {"name": "m", "version": "x"}, 400, "INVALID_PARAMETER_VALUE")
    api.error("GET", "model-versions/get", {"name": "m"}, 400, "INVALID_PARAMETER_VALUE")
    api.error("GET", "model-versions/get", {"name": "nope", "version": "1"}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_version_keeps_its_number_and_drops_its_aliases(
    api, register, settings, django_capture_on_commit_callbacks
):
    register("m")
    register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "a", "version": "2"})
    uri = api.get("model-versions/get-download-uri", {"name": "m", "version": "2"})["artifact_uri"]
    with django_capture_on_commit_callbacks(execute=True):
        api.call("DELETE", "model-versions/delete", {"name": "m", "version": "2"})
    api.error("GET", "model-versions/get", {"name": "m", "version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("GET", "registered-models/alias", {"name": "m", "alias": "a"}, 400, "INVALID_PARAMETER_VALUE")
    # In the trash: the files stay until the version is purged.
    assert (Path(settings.STUDIO_ARTIFACT_ROOT) / uri.removeprefix("mlflow-artifacts:/") / "model.pkl").is_file()
    assert register("m")["version"] == "3"
    api.error("DELETE", "model-versions/delete", {"name": "m", "version": "2"}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_transition_stage_archives_existing(api, register):
    for _ in range(3):
        register("m")
    api.post("model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Production"})
    api.post("model-versions/transition-stage", {"name": "m", "version": "2", "stage": "Production"})
    moved = api.post(
        "model-versions/transition-stage",
        {"name": "m", "version": "3", "stage": "production", "archive_existing_versions": True},
    )["model_version"]
    assert moved["current_stage"] == "Production"
    stages = {
        v["version"]: v["current_stage"]
        for v in api.get("model-versions/search", {"filter": "name='m'"})["model_versions"]
    }
    assert stages == {"1": "Archived", "2": "Archived", "3": "Production"}
    api.error(
        "POST",
        "model-versions/transition-stage",
        {"name": "m", "version": "1", "stage": "Prod"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    message = api.error(
        "POST",
        "model-versions/transition-stage",
        {"name": "m", "version": "1", "stage": "Archived", "archive_existing_versions": True},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "not an Active stage" in message


def test_version_tags(api, register):
    register("m")
    api.post("model-versions/set-tag", {"name": "m", "version": "1", "key": "k", "value": "v"})
    assert api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]["tags"] == [
        {"key": "k", "value": "v"}
    ]
    api.call("DELETE", "model-versions/delete-tag", {"name": "m", "version": "1", "key": "k"})
    assert "tags" not in api.get("model-versions/get", {"name": "m", "version": "1"})["model_version"]
    api.error(
        "POST",
        "model-versions/set-tag",
        {"name": "m", "version": "9", "key": "k", "value": "v"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    api.error(
        "POST",
        "model-versions/set-tag",
        {"name": "m", "version": "1", "key": "a" * 251, "value": "v"},
        400,
        "INVALID_PARAMETER_VALUE",
    )


def test_aliases(api, register):
    register("m")
    register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "2"})  # moves it
    got = api.get("registered-models/alias", {"name": "m", "alias": "champion"})["model_version"]
    assert (got["version"], got["aliases"]) == ("2", ["champion"])
    assert api.get("registered-models/alias", {"name": "m", "alias": "latest"})["model_version"]["version"] == "2"
    model = api.get("registered-models/get", {"name": "m"})["registered_model"]
    assert model["aliases"] == [{"alias": "champion", "version": "2"}]
    api.call("DELETE", "registered-models/alias", {"name": "m", "alias": "champion"})
    api.error("GET", "registered-models/alias", {"name": "m", "alias": "champion"}, 400, "INVALID_PARAMETER_VALUE")
    for alias in ("latest", "LATEST", "v1", "V12", "bad alias", ""):
        api.error(
            "POST",
            "registered-models/alias",
            {"name": "m", "alias": alias, "version": "1"},
            400,
            "INVALID_PARAMETER_VALUE",
        )
    api.error(
        "POST", "registered-models/alias", {"name": "m", "alias": "ok", "version": "7"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    api.error(
        "POST",
        "registered-models/alias",
        {"name": "nope", "alias": "ok", "version": "1"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )


def _versions(api, **query) -> list[tuple[str, str]]:
    found = api.get("model-versions/search", query).get("model_versions", [])
    return [(v["name"], v["version"]) for v in found]


def test_search_versions(api, register, run_id, logged_model):
    register("a")
    register("a")
    register("b", tags=[{"key": "k", "value": "v"}])
    api.post("registered-models/create", {"name": "ext"})
    api.post("model-versions/create", {"name": "ext", "source": "s3://b/x"})
    assert _versions(api, filter="name = 'a'", order_by=["version_number ASC"]) == [("a", "1"), ("a", "2")]
    assert _versions(api, filter="name IN ('a', 'b')", order_by=["name DESC", "version_number ASC"]) == [
        ("b", "1"),
        ("a", "1"),
        ("a", "2"),
    ]
    assert _versions(api, filter=f"run_id = '{run_id}'", order_by=["name ASC"]) == [("a", "2"), ("a", "1"), ("b", "1")]
    assert _versions(api, filter="tags.k = 'v'") == [("b", "1")]
    assert _versions(api, filter="source_path = 's3://b/x'") == [("ext", "1")]
    assert _versions(api, filter="name = 'a' and version_number > 1") == [("a", "2")]
    assert _versions(api, filter="version_number = 2 OR name = 'b'", order_by=["name ASC"]) == [("a", "2"), ("b", "1")]
    # Versions of prompts (registered models tagged as such) are left out unless asked for.
    api.post("registered-models/create", {"name": "p", "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    api.post("model-versions/create", {"name": "p", "source": "s3://b/p"})
    assert ("p", "1") not in _versions(api)
    assert _versions(api, filter="tags.`mlflow.prompt.is_prompt` = 'true'") == []  # a version tag, not the model's
    # Default order: last updated first.
    assert _versions(api)[0] == ("ext", "1")
    page = api.get("model-versions/search", {"max_results": 2})
    rest = api.get("model-versions/search", {"max_results": 2, "page_token": page["next_page_token"]})
    assert len(page["model_versions"]) + len(rest["model_versions"]) == 4
    assert "next_page_token" not in rest


@pytest.mark.parametrize(
    "query",
    [
        {"filter": "version_number = 'x'"},
        {"filter": "version_number = 1.5"},
        {"filter": "source_path IN ('a')"},
        {"filter": "status = 'READY'"},
        {"filter": "version_number LIKE '1'"},
        {"order_by": ["run_id DESC"]},
        {"max_results": 200001},
        {"max_results": 0},
    ],
)
def test_search_versions_refuses_bad_queries(api, query):
    api.error("GET", "model-versions/search", query, 400, "INVALID_PARAMETER_VALUE")


def test_ajax_prefix_answers_too(register):
    from tests.conftest import ApiClient

    register("m")
    assert (
        ApiClient("/ajax-api/2.0/mlflow/").get("registered-models/get", {"name": "m"})["registered_model"]["name"]
        == "m"
    )
