from __future__ import annotations

import io
import re

import pytest

from tests.conftest import ApiClient
from tracking.artifacts import get_artifact_store


def create_model(api, experiment_id, **fields) -> dict:
    return api.post("logged-models", {"experiment_id": experiment_id, **fields})["model"]


def metric(key, value, step=0, timestamp=1000, **extra) -> dict:
    return {"key": key, "value": value, "timestamp": timestamp, "step": step, **extra}


def search(api, experiment_ids, **fields) -> dict:
    return api.post("logged-models/search", {"experiment_ids": experiment_ids, **fields})


def names(response: dict) -> list[str]:
    return [m["info"]["name"] for m in response.get("models", [])]


def test_create_returns_the_pending_model_with_its_artifact_uri(api, experiment_id, run_id):
    model = create_model(
        api,
        experiment_id,
        name="model",
        model_type="sklearn",
        source_run_id=run_id,
        params=[{"key": "alpha", "value": "0.5"}],
        tags=[{"key": "mlflow.user", "value": "me"}],
    )
    info = model["info"]
    assert re.fullmatch(r"m-[0-9a-f]{32}", info["model_id"])
    assert info["experiment_id"] == experiment_id
    assert info["artifact_uri"] == f"mlflow-artifacts:/{experiment_id}/models/{info['model_id']}/artifacts"
    assert info["status"] == "LOGGED_MODEL_PENDING"
    assert info["source_run_id"] == run_id
    assert info["model_type"] == "sklearn"
    assert info["creation_timestamp_ms"] == info["last_updated_timestamp_ms"] > 0
    assert info["tags"] == [{"key": "mlflow.user", "value": "me"}]
    assert model["data"] == {"params": [{"key": "alpha", "value": "0.5"}]}
    assert api.get(f"logged-models/{info['model_id']}")["model"] == model


def test_create_without_name_generates_one(api, experiment_id):
    name = create_model(api, experiment_id)["info"]["name"]
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d+", name)


def test_artifact_uri_follows_a_custom_experiment_location(api):
    experiment_id = api.post("experiments/create", {"name": "s3", "artifact_location": "s3://bucket/root/"})[
        "experiment_id"
    ]
    info = create_model(api, experiment_id, name="m")["info"]
    assert info["artifact_uri"] == f"s3://bucket/root/models/{info['model_id']}/artifacts"


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "424242"}, 404, "RESOURCE_DOES_NOT_EXIST"),
        ({"experiment_id": "0", "name": "a/b"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "name": "a.b"}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "name": "x" * 501}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "source_run_id": "r" * 33}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "params": [{"value": "v"}]}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "tags": [{"key": "k" * 251, "value": "v"}]}, 400, "INVALID_PARAMETER_VALUE"),
        ({"experiment_id": "0", "params": "not-a-list"}, 400, "INVALID_PARAMETER_VALUE"),
    ],
)
def test_create_errors(api, payload, status, code):
    api.error("POST", "logged-models", payload, status, code)


def test_create_in_deleted_experiment_is_refused(api, experiment_id):
    api.post("experiments/delete", {"experiment_id": experiment_id})
    api.error("POST", "logged-models", {"experiment_id": experiment_id}, 400, "INVALID_PARAMETER_VALUE")


def test_get_unknown_model_is_not_found(api):
    message = api.error("GET", "logged-models/m-0123", None, 404, "RESOURCE_DOES_NOT_EXIST")
    assert "m-0123" in message


@pytest.mark.parametrize("status", ["LOGGED_MODEL_READY", 2, "2"])
def test_finalize_sets_the_status(api, experiment_id, status):
    model_id = create_model(api, experiment_id, name="m")["info"]["model_id"]
    finalized = api.call("PATCH", f"logged-models/{model_id}", {"model_id": model_id, "status": status})["model"]
    assert finalized["info"]["status"] == "LOGGED_MODEL_READY"
    assert api.get(f"logged-models/{model_id}")["model"]["info"]["status"] == "LOGGED_MODEL_READY"


@pytest.mark.parametrize("payload", [{}, {"status": "DONE"}, {"status": 0}, {"status": 7}, {"status": True}])
def test_finalize_refuses_a_missing_or_unknown_status(api, experiment_id, payload):
    model_id = create_model(api, experiment_id, name="m")["info"]["model_id"]
    api.error("PATCH", f"logged-models/{model_id}", payload, 400, "INVALID_PARAMETER_VALUE")


def test_finalize_unknown_model_is_not_found(api):
    api.error("PATCH", "logged-models/m-missing", {"status": "LOGGED_MODEL_READY"}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_delete_hides_the_model_unless_deleted_ones_are_asked_for(api, experiment_id):
    model_id = create_model(api, experiment_id, name="m")["info"]["model_id"]
    api.call("DELETE", f"logged-models/{model_id}", {})
    api.error("GET", f"logged-models/{model_id}", None, 404, "RESOURCE_DOES_NOT_EXIST")
    assert api.get(f"logged-models/{model_id}", {"allow_deleted": "true"})["model"]["info"]["model_id"] == model_id
    assert names(search(api, [experiment_id])) == []
    api.error("DELETE", "logged-models/m-missing", {}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_log_params_adds_and_keeps_params_immutable(api, experiment_id):
    model_id = create_model(api, experiment_id, name="m", params=[{"key": "a", "value": "1"}])["info"]["model_id"]
    api.post(f"logged-models/{model_id}/params", {"params": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}]})
    params = api.get(f"logged-models/{model_id}")["model"]["data"]["params"]
    assert sorted((p["key"], p["value"]) for p in params) == [("a", "1"), ("b", "2")]
    message = api.error(
        "POST",
        f"logged-models/{model_id}/params",
        {"params": [{"key": "a", "value": "9"}]},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert "Changing param values is not allowed" in message
    api.error("POST", "logged-models/m-missing/params", {"params": []}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_set_and_delete_tags(api, experiment_id):
    model_id = create_model(api, experiment_id, name="m", tags=[{"key": "a", "value": "1"}])["info"]["model_id"]
    versions = '[{"name": "reg", "version": "1"}]'
    model = api.call(
        "PATCH",
        f"logged-models/{model_id}/tags",
        {"tags": [{"key": "a", "value": "2"}, {"key": "mlflow.modelVersions", "value": versions}]},
    )["model"]
    assert {t["key"]: t["value"] for t in model["info"]["tags"]} == {"a": "2", "mlflow.modelVersions": versions}
    api.call("DELETE", f"logged-models/{model_id}/tags/mlflow.modelVersions", {})
    assert api.get(f"logged-models/{model_id}")["model"]["info"]["tags"] == [{"key": "a", "value": "2"}]
    api.error("DELETE", f"logged-models/{model_id}/tags/mlflow.modelVersions", {}, 404, "RESOURCE_DOES_NOT_EXIST")
    api.error("PATCH", "logged-models/m-missing/tags", {"tags": []}, 404, "RESOURCE_DOES_NOT_EXIST")


def test_metrics_logged_with_model_id_show_in_the_model(api, experiment_id, run_id):
    model_id = create_model(api, experiment_id, name="m", source_run_id=run_id)["info"]["model_id"]
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                metric("acc", 0.9, model_id=model_id, dataset_name="eval", dataset_digest="abc"),
                metric("loss", "NaN", model_id=model_id),
                metric("other", 1.0),
            ],
        },
    )
    metrics = api.get(f"logged-models/{model_id}")["model"]["data"]["metrics"]
    assert sorted(metrics, key=lambda m: m["key"]) == [
        {
            "key": "acc",
            "value": 0.9,
            "timestamp": 1000,
            "step": 0,
            "model_id": model_id,
            "run_id": run_id,
            "dataset_name": "eval",
            "dataset_digest": "abc",
        },
        {"key": "loss", "value": "NaN", "timestamp": 1000, "step": 0, "model_id": model_id, "run_id": run_id},
    ]


def test_unknown_method_on_a_model_is_endpoint_not_found(api):
    api.error("POST", "logged-models/m-1", {}, 404, "ENDPOINT_NOT_FOUND")


def test_ajax_prefix_serves_logged_models(api, experiment_id):
    model_id = create_model(api, experiment_id, name="m")["info"]["model_id"]
    ajax = ApiClient("/ajax-api/2.0/mlflow/")
    assert ajax.get(f"logged-models/{model_id}")["model"]["info"]["name"] == "m"


# --- search -------------------------------------------------------------------------------------------------------


@pytest.fixture
def models(api, experiment_id, run_id) -> dict[str, str]:
    """Three models with params, tags, statuses and metrics on two datasets; name -> id."""
    ids = {}
    for name, alpha, stage in [("alpha", "0.1", "dev"), ("beta", "0.5", "prod"), ("gamma", "0.9", "prod")]:
        ids[name] = create_model(
            api,
            experiment_id,
            name=name,
            model_type="sklearn" if name != "gamma" else "torch",
            source_run_id=run_id,
            params=[{"key": "alpha", "value": alpha}],
            tags=[{"key": "stage", "value": stage}],
        )["info"]["model_id"]
    api.call("PATCH", f"logged-models/{ids['beta']}", {"status": "LOGGED_MODEL_READY"})
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [
                metric("acc", 0.7, model_id=ids["alpha"], dataset_name="train", dataset_digest="d1"),
                metric("acc", 0.95, model_id=ids["alpha"], dataset_name="eval", dataset_digest="d2"),
                metric("acc", 0.9, model_id=ids["beta"], dataset_name="train", dataset_digest="d1"),
                metric("acc", 0.6, model_id=ids["beta"], dataset_name="eval", dataset_digest="d2"),
            ],
        },
    )
    return ids


def test_search_is_scoped_to_experiments_and_newest_first(api, experiment_id, models):
    other = api.post("experiments/create", {"name": "other"})["experiment_id"]
    create_model(api, other, name="elsewhere")
    assert names(search(api, [experiment_id])) == ["gamma", "beta", "alpha"]
    assert sorted(names(search(api, [experiment_id, other]))) == ["alpha", "beta", "elsewhere", "gamma"]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("name = 'beta'", ["beta"]),
        ("attributes.name != 'beta'", ["alpha", "gamma"]),
        ("name LIKE 'a%'", ["alpha"]),
        ("name LIKE 'A%'", []),
        ("name ILIKE 'A%'", ["alpha"]),
        ("name LIKE '_eta'", ["beta"]),
        ("name IN ('alpha', 'gamma')", ["alpha", "gamma"]),
        ("name NOT IN ('alpha', 'gamma')", ["beta"]),
        ("model_type = 'torch'", ["gamma"]),
        ("status = 'LOGGED_MODEL_READY'", ["beta"]),
        ("status = 'READY'", ["beta"]),
        ("status != 'LOGGED_MODEL_READY'", ["alpha", "gamma"]),
        ("params.alpha = '0.5'", ["beta"]),
        ("params.alpha LIKE '0.%' AND tags.stage = 'prod'", ["beta", "gamma"]),
        ("tags.stage != 'prod'", ["alpha"]),
        ("tags.`stage` ILIKE 'PR%'", ["beta", "gamma"]),
        ("metrics.acc > 0.8", ["alpha", "beta"]),
        ("metrics.acc >= 0.95", ["alpha"]),
        ("metrics.acc < 0.65", ["beta"]),
        ("metrics.missing > 0", []),
        ("creation_timestamp > 0", ["alpha", "beta", "gamma"]),
        ("last_updated_timestamp < 0", []),
    ],
)
def test_search_filters(api, experiment_id, models, filter_string, expected):
    assert sorted(names(search(api, [experiment_id], filter=filter_string))) == expected


def test_search_filter_by_model_and_run_ids(api, experiment_id, run_id, models):
    response = search(api, [experiment_id], filter=f"model_id = '{models['gamma']}'")
    assert names(response) == ["gamma"]
    assert len(names(search(api, [experiment_id], filter=f"source_run_id = '{run_id}'"))) == 3


def test_search_metric_filters_apply_to_the_given_datasets(api, experiment_id, models):
    def found(datasets, filter_string=None) -> list[str]:
        payload = {"datasets": datasets}
        if filter_string:
            payload["filter"] = filter_string
        return sorted(names(search(api, [experiment_id], **payload)))

    assert found([{"dataset_name": "eval"}], "metrics.acc > 0.8") == ["alpha"]
    assert found([{"dataset_name": "train", "dataset_digest": "d1"}], "metrics.acc > 0.8") == ["beta"]
    assert found([{"dataset_name": "train", "dataset_digest": "other"}], "metrics.acc > 0.1") == []
    # Datasets alone keep the models with any metric on them.
    assert found([{"dataset_name": "eval"}]) == ["alpha", "beta"]


def test_search_orders_by_attributes_and_metrics(api, experiment_id, models):
    def ordered(*order_by) -> list[str]:
        return names(search(api, [experiment_id], order_by=list(order_by)))

    assert ordered({"field_name": "name", "ascending": True}) == ["alpha", "beta", "gamma"]
    assert ordered({"field_name": "name", "ascending": False}) == ["gamma", "beta", "alpha"]
    assert ordered({"field_name": "creation_timestamp", "ascending": True}, {"field_name": "name"}) == [
        "alpha",
        "beta",
        "gamma",
    ]
    # Metrics: gamma has none and sorts last either way.
    assert ordered({"field_name": "metrics.acc", "ascending": True, "dataset_name": "eval"}) == [
        "beta",
        "alpha",
        "gamma",
    ]
    assert ordered(
        {"field_name": "metrics.acc", "ascending": False, "dataset_name": "train", "dataset_digest": "d1"}
    ) == [
        "beta",
        "alpha",
        "gamma",
    ]


def test_search_paginates_with_an_opaque_token(api, experiment_id, models):
    order_by = [{"field_name": "name", "ascending": True}]
    first = search(api, [experiment_id], max_results=2, order_by=order_by)
    assert names(first) == ["alpha", "beta"]
    second = search(api, [experiment_id], max_results=2, order_by=order_by, page_token=first["next_page_token"])
    assert names(second) == ["gamma"]
    assert "next_page_token" not in second
    # A token only continues the search it came from.
    api.error(
        "POST",
        "logged-models/search",
        {"experiment_ids": [experiment_id], "max_results": 2, "page_token": first["next_page_token"]},
        400,
        "INVALID_PARAMETER_VALUE",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"experiment_ids": ["0"], "filter": "nonsense = 'x'"},
        {"experiment_ids": ["0"], "filter": "metrics.acc > 'high'"},
        {"experiment_ids": ["0"], "filter": "params.alpha > '1'"},
        {"experiment_ids": ["0"], "filter": "name > 'x'"},
        {"experiment_ids": ["0"], "filter": "creation_timestamp LIKE '1%'"},
        {"experiment_ids": ["0"], "datasets": [{"dataset_digest": "d1"}]},
        {"experiment_ids": ["0"], "order_by": [{"field_name": "params.alpha"}]},
        {"experiment_ids": ["0"], "order_by": [{"field_name": "unknown"}]},
        {"experiment_ids": ["0"], "page_token": "not a token"},
        {"experiment_ids": ["not-an-id"]},
    ],
)
def test_search_rejects_bad_requests(api, payload):
    api.error("POST", "logged-models/search", payload, 400, "INVALID_PARAMETER_VALUE")


def test_search_reads_a_page_in_a_fixed_number_of_queries(api, experiment_id, models, django_assert_max_num_queries):
    for i in range(10):
        create_model(api, experiment_id, name=f"extra{i}", tags=[{"key": "k", "value": "v"}])
    with django_assert_max_num_queries(6):
        response = search(api, [experiment_id], order_by=[{"field_name": "metrics.acc"}])
    assert len(response["models"]) == 13


def test_list_artifacts_of_a_model(api, experiment_id):
    info = create_model(api, experiment_id, name="m")["info"]
    root = f"{experiment_id}/models/{info['model_id']}/artifacts"
    store = get_artifact_store()
    store.write(f"{root}/MLmodel", io.BytesIO(b"flavors: {}\n"))
    store.write(f"{root}/data/model.pkl", io.BytesIO(b"12345"))
    listing = api.get(f"logged-models/{info['model_id']}/artifacts/directories")
    assert listing == {
        "root_uri": info["artifact_uri"],
        "files": [{"path": "MLmodel", "is_dir": False, "file_size": 12}, {"path": "data", "is_dir": True}],
    }
    nested = api.get(f"logged-models/{info['model_id']}/artifacts/directories", {"artifact_directory_path": "data"})
    assert nested["files"] == [{"path": "data/model.pkl", "is_dir": False, "file_size": 5}]
    assert "files" not in api.get(
        f"logged-models/{info['model_id']}/artifacts/directories", {"artifact_directory_path": "nothing"}
    )
    api.error(
        "GET",
        f"logged-models/{info['model_id']}/artifacts/directories",
        {"artifact_directory_path": "../../other"},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    api.error("GET", "logged-models/m-missing/artifacts/directories", None, 404, "RESOURCE_DOES_NOT_EXIST")
