"""The search endpoints: ``runs/search`` and ``experiments/search`` over MLflow's wire format, and the real client."""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from tracking.models import Experiment
from tracking.store.experiments import ensure_default_experiment


def _run(api, experiment_id: str, name: str, start: int, metrics: dict, params: dict, tags: dict | None = None) -> str:
    run_id = api.post("runs/create", {"experiment_id": experiment_id, "run_name": name, "start_time": start})["run"][
        "info"
    ]["run_id"]
    api.post(
        "runs/log-batch",
        {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "timestamp": 1, "step": 0} for k, v in metrics.items()],
            "params": [{"key": k, "value": v} for k, v in params.items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        },
    )
    return run_id


@pytest.fixture
def runs(api, experiment_id) -> dict[str, str]:
    """Five runs: r0..r4 started at 0..4, metric m = index (r2's is NaN), param p alternating 'x'/'y'."""
    return {
        f"r{i}": _run(
            api,
            experiment_id,
            f"r{i}",
            i,
            {"m": "NaN" if i == 2 else i, "acc": 1 - i / 10},
            {"p": "xy"[i % 2]},
            {"group": "even" if i % 2 == 0 else "odd"},
        )
        for i in range(5)
    }


def _search(api, experiment_id: str, **payload) -> dict:
    return api.post("runs/search", {"experiment_ids": [experiment_id], **payload})


def _names(response: dict) -> list[str]:
    return [r["info"]["run_name"] for r in response.get("runs", [])]


def test_search_runs_returns_full_runs_in_mlflow_default_order(api, experiment_id, runs):
    response = _search(api, experiment_id)
    assert _names(response) == ["r4", "r3", "r2", "r1", "r0"]
    assert "next_page_token" not in response
    run = response["runs"][0]
    assert run["info"]["run_id"] == run["info"]["run_uuid"] == runs["r4"]
    assert run["info"]["experiment_id"] == experiment_id
    assert {"key": "p", "value": "x"} in run["data"]["params"]
    assert {"key": "group", "value": "even"} in run["data"]["tags"]
    assert {"key": "m", "value": 4, "timestamp": 1, "step": 0} in run["data"]["metrics"]
    nan_run = response["runs"][2]
    assert {"key": "m", "value": "NaN", "timestamp": 1, "step": 0} in nan_run["data"]["metrics"]


def test_search_runs_filters_with_and_or_and_parentheses(api, experiment_id, runs):
    assert _names(_search(api, experiment_id, filter="params.p = 'x' and metrics.m > 1")) == ["r4"]
    assert _names(_search(api, experiment_id, filter="metrics.m >= 3 OR tags.group = 'odd'")) == ["r4", "r3", "r1"]
    response = _search(api, experiment_id, filter="(metrics.m < 1 OR metrics.m > 3) AND params.p = 'x'")
    assert _names(response) == ["r4", "r0"]


def test_search_without_matches_is_an_empty_object(api, experiment_id, runs):
    assert _search(api, experiment_id, filter="metrics.m > 100") == {}
    assert api.post("runs/search", {}) == {}


def test_search_runs_order_by_several_keys(api, experiment_id, runs):
    response = _search(api, experiment_id, order_by=["params.p DESC", "metrics.m ASC"])
    # y before x; within each, m ascending with the NaN of r2 after the numbers
    assert _names(response) == ["r1", "r3", "r0", "r4", "r2"]
    response = _search(api, experiment_id, order_by=["tags.group ASC", "attributes.start_time ASC"])
    assert _names(response) == ["r0", "r2", "r4", "r1", "r3"]


def test_search_runs_pages_through_tokens(api, experiment_id, runs):
    names, token, pages = [], None, 0
    while True:
        payload = {"max_results": 2, "order_by": ["metrics.acc DESC"]}
        if token:
            payload["page_token"] = token
        response = _search(api, experiment_id, **payload)
        names += _names(response)
        pages += 1
        token = response.get("next_page_token")
        if not token:
            break
    assert pages == 3
    assert names == ["r0", "r1", "r2", "r3", "r4"]


def test_search_runs_view_types(api, experiment_id, runs):
    api.post("runs/delete", {"run_id": runs["r1"]})
    assert "r1" not in _names(_search(api, experiment_id))
    assert _names(_search(api, experiment_id, run_view_type="DELETED_ONLY")) == ["r1"]
    assert len(_names(_search(api, experiment_id, run_view_type="ALL"))) == 5
    assert _names(_search(api, experiment_id, run_view_type=2)) == ["r1"]


def test_search_runs_across_experiments(api, experiment_id, runs):
    other = api.post("experiments/create", {"name": "other"})["experiment_id"]
    _run(api, other, "o", 10, {"m": 1}, {})
    response = api.post("runs/search", {"experiment_ids": [experiment_id, other], "filter": "metrics.m = 1"})
    assert sorted(_names(response)) == ["o", "r1"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"filter": "metrics.m > 1 OR"}, "expected a comparison"),
        ({"filter": "params.p > 'x'"}, "Invalid comparator '>'"),
        ({"filter": "metrics.m = 'x'"}, "Expected numeric value type for metric"),
        ({"max_results": 50001}, "It must be at most 50000"),
        ({"max_results": 0}, "It must be a positive integer"),
        ({"max_results": "many"}, "max_results"),
        ({"order_by": ["metrics.m SIDEWAYS"]}, "Invalid ordering key"),
        ({"order_by": "metrics.m"}, "order_by"),
        ({"page_token": "garbage"}, "Invalid page token"),
        ({"run_view_type": "SOMETIMES"}, "run_view_type"),
        ({"experiment_ids": ["abc"]}, "Invalid experiment ID 'abc'"),
    ],
)
def test_search_runs_errors_are_invalid_parameter_value(api, experiment_id, payload, message):
    body = {"experiment_ids": [experiment_id], **payload}
    assert message in api.error("POST", "runs/search", body, 400, "INVALID_PARAMETER_VALUE")


def test_search_runs_accepts_the_largest_page(api, experiment_id, runs):
    assert len(_search(api, experiment_id, max_results=50000)["runs"]) == 5


def test_search_runs_query_count_does_not_grow_with_runs(api, experiment_id, runs, django_assert_max_num_queries):
    for i in range(20):
        _run(api, experiment_id, f"extra{i}", 100 + i, {"m": i, "n": -i}, {"p": "x", "q": str(i)}, {"t": "v"})
    # one query for the page, one per kind of run data (params, tags, metrics, datasets, model links)
    with django_assert_max_num_queries(6):
        response = _search(api, experiment_id, filter="metrics.m >= 0 AND params.p = 'x'", order_by=["metrics.m DESC"])
    assert len(response["runs"]) == 22


# --- experiments ---------------------------------------------------------------------------------------------------


@pytest.fixture
def experiments(api) -> dict[str, str]:
    ensure_default_experiment()  # a live-server test before this one may have flushed it
    ids = {}
    for name, tags in [("xgb-a", {"team": "ml"}), ("xgb-b", {"team": "ops"}), ("lin", {})]:
        ids[name] = api.post(
            "experiments/create", {"name": name, "tags": [{"key": k, "value": v} for k, v in tags.items()]}
        )["experiment_id"]
    return ids


def _experiment_names(response: dict) -> list[str]:
    return [e["name"] for e in response.get("experiments", [])]


def test_search_experiments_by_get_and_post(api, experiments):
    by_post = api.post("experiments/search", {"filter": "name LIKE 'xgb%'", "order_by": ["name DESC"]})
    by_get = api.get("experiments/search", {"filter": "name LIKE 'xgb%'", "order_by": ["name DESC"]})
    assert _experiment_names(by_post) == _experiment_names(by_get) == ["xgb-b", "xgb-a"]
    experiment = by_post["experiments"][1]
    assert experiment["experiment_id"] == experiments["xgb-a"]
    assert experiment["tags"] == [{"key": "team", "value": "ml"}]
    assert experiment["lifecycle_stage"] == "active"


def test_search_experiments_get_with_repeated_order_by_keys(api, experiments):
    response = api.get("experiments/search", {"order_by": ["name ASC", "experiment_id DESC"], "max_results": "10"})
    assert _experiment_names(response) == ["Default", "lin", "xgb-a", "xgb-b"]


def test_search_experiments_default_order_is_newest_first_then_by_id(api, experiments):
    Experiment.objects.filter(pk=experiments["xgb-a"]).update(creation_time=2_000_000_000_000)
    Experiment.objects.filter(pk__in=[experiments["xgb-b"], experiments["lin"]]).update(creation_time=1_900_000_000_000)
    assert _experiment_names(api.get("experiments/search")) == ["xgb-a", "xgb-b", "lin", "Default"]


def test_search_experiments_filters_tags_with_or(api, experiments):
    response = api.post("experiments/search", {"filter": "tags.team = 'ops' OR name = 'lin'", "order_by": ["name"]})
    assert _experiment_names(response) == ["lin", "xgb-b"]
    response = api.post("experiments/search", {"filter": "tags.team IS NULL AND name != 'Default'"})
    assert _experiment_names(response) == ["lin"]


def test_search_experiments_view_types_and_pages(api, experiments):
    api.post("experiments/delete", {"experiment_id": experiments["lin"]})
    assert _experiment_names(api.get("experiments/search", {"view_type": "DELETED_ONLY"})) == ["lin"]
    assert "lin" not in _experiment_names(api.get("experiments/search"))
    first = api.post("experiments/search", {"view_type": "ALL", "max_results": 3, "order_by": ["name"]})
    assert _experiment_names(first) == ["Default", "lin", "xgb-a"]
    second = api.post(
        "experiments/search",
        {"view_type": "ALL", "max_results": 3, "order_by": ["name"], "page_token": first["next_page_token"]},
    )
    assert _experiment_names(second) == ["xgb-b"] and "next_page_token" not in second
    assert _experiment_names(api.get("experiments/search", {"view_type": "3"}))[-1] == "Default"


def test_search_experiments_reads_experiments_and_tags_in_two_queries(api, experiments, django_assert_num_queries):
    for i in range(10):
        api.post("experiments/create", {"name": f"more{i}", "tags": [{"key": "k", "value": str(i)}]})
    with django_assert_num_queries(2):
        response = api.post("experiments/search", {"filter": "tags.k IS NOT NULL OR name LIKE 'xgb%'"})
    assert len(response["experiments"]) == 12


@pytest.mark.parametrize(
    ("method", "payload", "message"),
    [
        ("POST", {"max_results": 50001}, "It must be at most 50000"),
        ("GET", {"max_results": "50001"}, "It must be at most 50000"),
        ("POST", {"filter": "name > 'x'"}, "Invalid comparator"),
        ("GET", {"filter": "name = 'x' OR OR name = 'y'"}, "expected a comparison"),
        ("POST", {"order_by": ["tags.team"]}, "Invalid order_by entity: tag"),
        ("GET", {"view_type": "NEVER"}, "view_type"),
    ],
)
def test_search_experiments_errors(api, experiments, method, payload, message):
    assert message in api.error(method, "experiments/search", payload, 400, "INVALID_PARAMETER_VALUE")


# --- the real client -----------------------------------------------------------------------------------------------


@pytest.mark.live
def test_mlflow_client_searches_runs_and_experiments(tracking_uri, mlflow_client, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    experiment_id = mlflow_client.create_experiment("xsearch")
    mlflow_client.create_experiment("other")
    for i, (lr, loss) in enumerate([("0.1", 0.9), ("0.2", 0.5), ("0.3", 0.7)]):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"run{i}"):
            mlflow.log_param("lr", lr)
            mlflow.log_metric("loss", loss)

    frame = mlflow.search_runs(
        experiment_ids=[experiment_id], filter_string="metrics.loss < 0.8", order_by=["metrics.loss ASC"]
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["tags.mlflow.runName"]) == ["run1", "run2"]
    assert list(frame["params.lr"]) == ["0.2", "0.3"]
    assert list(frame["metrics.loss"]) == [0.5, 0.7]

    # Studio's extension travels through the unmodified client untouched
    either = mlflow_client.search_runs(
        [experiment_id], "params.lr = '0.1' OR metrics.loss = 0.5", order_by=["params.lr"]
    )
    assert [r.info.run_name for r in either] == ["run0", "run1"]
    paged = mlflow_client.search_runs([experiment_id], max_results=2)
    assert [r.info.run_name for r in paged] == ["run2", "run1"] and paged.token
    rest = mlflow_client.search_runs([experiment_id], max_results=2, page_token=paged.token)
    assert [r.info.run_name for r in rest] == ["run0"] and not rest.token

    mlflow_client.delete_run(either[0].info.run_id)
    deleted = mlflow_client.search_runs([experiment_id], run_view_type=ViewType.DELETED_ONLY)
    assert [r.info.run_name for r in deleted] == ["run0"]

    found = mlflow_client.search_experiments(filter_string="name LIKE 'x%'")
    assert [e.name for e in found] == ["xsearch"]
    # Default may have been flushed by an earlier live test; the others must come in name order
    everything = mlflow_client.search_experiments(order_by=["name ASC"])
    assert [e.name for e in everything if e.name != "Default"] == ["other", "xsearch"]
    with pytest.raises(MlflowException) as caught:
        mlflow_client.search_runs([experiment_id], "metrics.loss LIKE 'x'")
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
