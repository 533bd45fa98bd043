"""The search grammar and its translation: filter strings against a fixed set of runs and experiments."""

from __future__ import annotations

import base64
from typing import NamedTuple

import pytest
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from studio.errors import StudioError
from tracking import search
from tracking.models import Experiment
from tracking.store import experiments as experiment_store
from tracking.store import inputs as input_store
from tracking.store import runs as run_store
from tracking.store.inputs import DatasetIn, DatasetInputIn
from tracking.store.metrics import MetricIn
from tracking.store.searching import search_experiments, search_runs

NAN = None  # the store's NaN


class R(NamedTuple):
    """One run of the fixture set; datasets are (name, digest, context)."""

    start: int
    end: int | None
    status: str
    user: str
    metrics: dict[str, float | None]
    params: dict[str, str]
    tags: dict[str, str]
    datasets: list[tuple[str, str, str]]


RUNS = {
    "a": R(100, 200, "FINISHED", "ana", {"m": 1.0, "my loss": 0.25}, {"p": "x", "lr": "0.3"},
           {"t": "Alpha", "a.b": "dot"}, [("train_ds", "d1", "training")]),
    "b": R(200, 250, "FAILED", "bob", {"m": 2.0}, {"p": "y", "lr": "0.1", "q": "it's)"}, {"t": "beta"}, []),
    "c": R(300, None, "RUNNING", "ana", {"m": NAN}, {"p": "X", "lr": "0.2"}, {"t": "alpha%"},
           [("eval_ds", "d2", "eval")]),
    "d": R(400, None, "RUNNING", "", {}, {}, {"note": "x) OR (y"}, []),
    "e": R(500, None, "RUNNING", "eve", {"m": -1.0}, {"p": "x", "lr": "0.1"}, {"t": "gamma"}, [("train_ds", "d1", "")]),
}  # fmt: skip


def _make_runs(experiment_id: int) -> dict[str, str]:
    ids = {}
    for name, r in RUNS.items():
        run, _ = run_store.create_run(
            experiment_id=str(experiment_id), run_name=name, start_time=r.start, user_id=r.user
        )
        run_store.log_batch(
            run_id=run.pk,
            metrics=[MetricIn(k, v, 1) for k, v in r.metrics.items()],
            params=list(r.params.items()),
            tags=list(r.tags.items()),
        )
        run_store.update_run(run_id=run.pk, status=r.status, end_time=r.end)
        inputs = [
            DatasetInputIn(DatasetIn(dataset, digest, "local", "{}"), [(MLFLOW_DATASET_CONTEXT, ctx)] if ctx else [])
            for dataset, digest, ctx in r.datasets
        ]
        input_store.log_inputs(run_id=run.pk, datasets=inputs)
        ids[name] = run.pk
    return ids


@pytest.fixture
def runs(db: None) -> tuple[int, dict[str, str]]:
    experiment_id = experiment_store.create_experiment(name="search")
    return experiment_id, _make_runs(experiment_id)


def _names(runs: tuple[int, dict[str, str]], filter_string: str, **kwargs) -> set[str]:
    experiment_id, ids = runs
    by_id = {v: k for k, v in ids.items()}
    found, _ = search_runs(experiment_ids=[str(experiment_id)], filter_string=filter_string.format(**ids), **kwargs)
    return {by_id[r.pk] for r in found}


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", "abcde"),
        # metrics: the latest value; NaN matches only "!="; a run without the key never matches
        ("metrics.m > 0.5", "ab"),
        ("metrics.m >= 1", "ab"),
        ("metrics.m < 0", "e"),
        ("metrics.m <= -1", "e"),
        ("metrics.m = 2", "b"),
        ("metrics.m != 1", "bce"),
        ("metrics.m > -10", "abe"),
        ("metrics.m > 1e-3", "ab"),
        ("metric.m = 0", ""),
        ("metrics.nope > 0", ""),
        ("metrics.`my loss` < 1", "a"),
        # params: "!=" means "has the key with another value"
        ("params.p = 'x'", "ae"),
        ('params.p = "x"', "ae"),
        ("params.p != 'x'", "bc"),
        ("params.p LIKE 'x%'", "ae"),
        ("params.p like 'x%'", "ae"),
        ("params.p ILIKE 'x%'", "ace"),
        ("params.p IS NULL", "d"),
        ("params.p IS NOT NULL", "abce"),
        ("params.nope != 'x'", ""),
        ("param.lr = '0.1'", "be"),
        ('parameters.q = "it\'s)"', "b"),
        # tags: LIKE is case-sensitive on every backend, ILIKE is not; a backslash escapes a wildcard
        ("tags.t = 'beta'", "b"),
        ("tags.t != 'beta'", "ace"),
        ("tags.t LIKE 'alpha%'", "c"),
        ("tags.t ILIKE 'alpha%'", "ac"),
        ("tags.t LIKE 'a_pha%'", "c"),
        ("tags.t LIKE '%\\%'", "c"),
        ("tags.t LIKE 'alpha\\%'", "c"),
        ("tags.t LIKE 'alpha\\_'", ""),
        ("tags.t ILIKE '%A%'", "abce"),
        ("tags.t IS NULL", "d"),
        ("tags.t IS NOT NULL", "abce"),
        ("tags.`a.b` = 'dot'", "a"),
        ("tags.mlflow.runName = 'c'", "c"),
        ("tag.note = 'x) OR (y'", "d"),
        # attributes, with MLflow's aliases
        ("attributes.status = 'FINISHED'", "a"),
        ("attributes.status != 'RUNNING'", "ab"),
        ("status LIKE 'F%'", "ab"),
        ("attributes.user_id = 'ana'", "ac"),
        ("attributes.user_id ILIKE 'ANA'", "ac"),
        ("attributes.run_name = 'b'", "b"),
        ("attributes.`Run name` = 'c'", "c"),
        ("\"run name\" = 'c'", "c"),
        ("run.run_name != 'b'", "acde"),
        ("attributes.run_id = '{a}'", "a"),
        ("attributes.run_id IN ('{a}', '{b}')", "ab"),
        ("attributes.run_id NOT IN ('{a}', '{b}')", "cde"),
        ("attr.artifact_uri LIKE '%{a}%'", "a"),
        ("attributes.start_time >= 300", "cde"),
        ("attributes.created < 200", "a"),
        ("Created = 100", "a"),
        ("attributes.start_time > 150.5", "bcde"),
        ("attributes.start_time <= 200.5", "ab"),
        ("attributes.start_time = 100.5", ""),
        ("attributes.end_time > 0", "ab"),
        ("attributes.end_time != 200", "b"),
        # datasets
        ("datasets.name = 'train_ds'", "ae"),
        ("datasets.name != 'train_ds'", "c"),
        ("datasets.name LIKE '%\\_ds'", "ace"),
        ("dataset.digest IN ('d1', 'd9')", "ae"),
        ("datasets.digest NOT IN ('d1')", "c"),
        ("datasets.context = 'eval'", "c"),
        ("datasets.context != 'eval'", "a"),
        ("datasets.context ILIKE 'TRAIN%'", "a"),
        # AND, OR (Studio's extension; AND binds tighter) and parentheses
        ("metrics.m > 0 and params.p = 'x'", "a"),
        ("metrics.m > 0 AND params.p = 'x' AND tags.t = 'Alpha'", "a"),
        ("params.p = 'y' OR metrics.m < 0", "be"),
        ("params.p = 'y' or metrics.m < 0", "be"),
        ("params.p = 'x' and metrics.m > 0 or tags.t = 'beta'", "ab"),
        ("params.p = 'x' and (metrics.m > 0 or tags.t = 'gamma')", "ae"),
        ("(params.p = 'x')", "ae"),
        ("((params.p = 'x') AND ((tags.t = 'gamma') OR (tags.`a.b` = 'dot'))) OR (params.p IS NULL)", "ade"),
        ("(metrics.m > 0 OR metrics.m < 0) AND (attributes.status = 'RUNNING' OR attributes.user_id = 'ana')", "ae"),
        ("attributes.run_id IN ('(', '{a}', ')') OR tags.t = ')'", "a"),
        ("attributes.run_id IN ('x OR y', '{b}') OR attributes.run_id NOT IN ('{a}', '{b}', '{c}')", "bde"),
        ("tags.note = 'x) OR (y' OR params.p = 'y'", "bd"),
        ("parameters.q = \"it's)\" OR params.p = 'x'", "abe"),
        ("tags.`a.b` = 'dot' OR tags.`mlflow.runName` = 'b'", "ab"),
        ("(datasets.name = 'eval_ds' OR metrics.`my loss` < 1) AND attributes.user_id = 'ana'", "ac"),
        ("params.p IS NULL OR metrics.m != 1", "bcde"),
    ],
)
def test_filter_selects_runs(runs, filter_string, expected):
    assert _names(runs, filter_string) == set(expected)


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("metrics.m > 1 OR", "expected a comparison, found the end"),
        ("OR metrics.m > 1", "expected a comparison"),
        ("metrics.m > 1 OR OR params.p = 'x'", "expected a comparison"),
        ("(metrics.m > 1", "missing ')'"),
        ("metrics.m > 1)", "unexpected ')'"),
        ("()", "expected a comparison"),
        ("metrics.m > 1 AND (params.p = 'x' OR)", "expected a comparison"),
        ("metrics.m = 'x'", "Expected numeric value type for metric"),
        ("metrics.m LIKE 1", "Invalid comparator 'LIKE'"),
        ("metrics.m IS NULL", "IS NULL / IS NOT NULL is only supported for tags and params"),
        ("params.p > 'x'", "Invalid comparator '>'"),
        ("params.p = 1", "Expected a quoted string value for parameter"),
        ("tags.t IN ('a')", "Expected a quoted string value for tag"),
        ("attributes.status IN ('FINISHED')", "Only ['run_id'] attributes support comparison with a list"),
        ("attributes.lifecycle_stage = 'active'", "Invalid attribute key 'lifecycle_stage'"),
        ("attributes.start_time = 'x'", "Expected numeric value type for numeric attribute"),
        ("attributes.status > 'A'", "Invalid comparator '>'"),
        ("foo.bar = 'x'", "Invalid entity type 'foo'"),
        ("datasets.nope = 'x'", "Invalid dataset key 'nope'"),
        ("params.p = 'x' OR metrics.m >", "Invalid clause(s) in filter string: 'metrics.m', '>'"),
        ("params.p = 'x' OR tags.t = 'unterminated", ""),
        ("metrics.m > 1 OR params.p ~ 'x'", ""),
        ("metrics.m > 1 OR metrics.m", ""),
    ],
)
def test_invalid_filter_is_invalid_parameter_value(runs, filter_string, message):
    with pytest.raises(StudioError) as caught:
        _names(runs, filter_string)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert message in caught.value.message


def test_plain_mlflow_filters_are_parsed_by_mlflow_whole():
    # Without OR or grouping the string goes to MLflow as is, so MLflow's leniencies are kept.
    assert search.parse_run_filter("metrics.m > 1 AND") == search.Comparison("metric", "m", ">", 1.0)
    assert search.parse_run_filter("metrics.m > 1 and tags.t = 'a'") == search.BoolOp(
        "AND", (search.Comparison("metric", "m", ">", 1.0), search.Comparison("tag", "t", "=", "a"))
    )


def test_parse_tree_nests_and_inside_or():
    tree = search.parse_run_filter("params.a = '1' OR params.b = '2' AND (params.c = '3' OR params.d = '4')")
    first, second = tree.children
    assert tree.op == "OR" and first == search.Comparison("parameter", "a", "=", "1")
    assert second.op == "AND" and second.children[1].op == "OR"


def test_parsed_filters_are_cached():
    search.parse_run_filter.cache_clear()
    search.parse_run_filter("metrics.cached > 1 OR params.p = 'x'")
    search.parse_run_filter("metrics.cached > 1 OR params.p = 'x'")
    assert search.parse_run_filter.cache_info().hits == 1


@pytest.mark.parametrize(
    ("pattern", "like", "glob"),
    [
        ("a%b_", "a%b_", "a*b?"),
        ("50\\%", "50\\%", "50%"),
        ("*?[", "*?[", "[*][?][[]"),
        ("end\\", "end\\\\", "end\\"),
        ("a\\_b", "a\\_b", "a_b"),
    ],
)
def test_like_patterns_translate_to_each_backend(pattern, like, glob):
    assert search._like_pattern(pattern) == like
    assert search._glob_pattern(pattern) == glob


def test_like_matches_glob_special_characters_literally(runs):
    _, ids = runs
    run_store.set_tag(run_id=ids["d"], key="weird", value="a*b?[c]\\")
    assert _names(runs, "tags.weird LIKE 'a*b?[c]%'") == {"d"}
    assert _names(runs, "tags.weird LIKE 'a*b?[c]\\'") == {"d"}
    assert _names(runs, "tags.weird LIKE 'aXb%'") == set()


def _ordered(runs: tuple[int, dict[str, str]], order_by: list[str]) -> str:
    experiment_id, ids = runs
    by_id = {v: k for k, v in ids.items()}
    found, _ = search_runs(experiment_ids=[str(experiment_id)], order_by=order_by)
    return "".join(by_id[r.pk] for r in found)


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        ([], "edcba"),
        # missing keys last in both directions, NaN metrics just before them (MLflow's SQL store)
        (["metrics.m DESC"], "baecd"),
        (["metrics.m ASC"], "eabcd"),
        (["metrics.m"], "eabcd"),
        # ties broken by start_time DESC, then run id
        (["params.lr ASC"], "ebcad"),
        (["params.lr DESC"], "acebd"),
        (["params.lr ASC", "attributes.start_time ASC"], "becad"),
        (["tags.t DESC", "params.lr"], "ebcad"),
        (["attributes.start_time ASC"], "abcde"),
        (["created DESC"], "edcba"),
        (["attributes.end_time ASC"], "abedc"),
        (["attributes.end_time DESC"], "baedc"),
        (["attributes.run_name DESC"], "edcba"),
        (["attributes.user_id ASC", "metrics.m DESC"], "dacbe"),
        (["metrics.`my loss` DESC"], "aedcb"),
    ],
)
def test_order_by(runs, order_by, expected):
    assert _ordered(runs, order_by) == expected


@pytest.mark.parametrize(
    ("order_by", "message"),
    [
        (["metrics.m DESC", "metrics.m ASC"], "duplicate fields"),
        (["attributes.lifecycle_stage"], "Invalid attribute key"),
        (["metrics.m DOWN"], "Invalid ordering key"),
        (["datasets.name"], "Invalid order_by entity type 'dataset'"),
        (["metrics.m DESC NULLS LAST"], "Could not be parsed"),
    ],
)
def test_invalid_order_by(runs, order_by, message):
    with pytest.raises(StudioError) as caught:
        _ordered(runs, order_by)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert message in caught.value.message


def test_pages_cover_every_run_once(runs):
    experiment_id, ids = runs
    seen, token, pages = [], None, 0
    while True:
        page, token = search_runs(experiment_ids=[experiment_id], max_results=2, page_token=token)
        seen += [r.pk for r in page]
        pages += 1
        if token is None:
            break
    assert pages == 3 and len(seen) == 5 and set(seen) == set(ids.values())


@pytest.mark.parametrize(
    "token",
    [
        "not base64!",
        base64.b64encode(b"not json").decode(),
        base64.b64encode(b'{"offset": -1}').decode(),
        base64.b64encode(b'{"offset": 1e400}').decode(),
        base64.b64encode(b'{"offset": 99999999999999999999}').decode(),
        base64.b64encode(b'{"x": 1}').decode(),
        base64.b64encode(b"[1]").decode(),
    ],
)
def test_bad_page_token_is_invalid(runs, token):
    with pytest.raises(StudioError) as caught:
        search_runs(experiment_ids=[runs[0]], page_token=token)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_mlflow_page_token_is_accepted(runs):
    from mlflow.utils.search_utils import SearchUtils

    page, _ = search_runs(experiment_ids=[runs[0]], page_token=SearchUtils.create_page_token(3).decode())
    assert [r.name for r in page] == ["b", "a"]


@pytest.mark.parametrize("max_results", [0, -1, 50001])
def test_max_results_out_of_range(runs, max_results):
    with pytest.raises(StudioError) as caught:
        search_runs(experiment_ids=[runs[0]], max_results=max_results)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_search_spans_several_experiments_and_view_types(runs):
    experiment_id, ids = runs
    other = experiment_store.create_experiment(name="other")
    other_run, _ = run_store.create_run(experiment_id=str(other), run_name="o")
    run_store.delete_run(run_id=ids["a"])

    def found(**kwargs) -> set[str]:
        return {r.name for r in search_runs(experiment_ids=[experiment_id, str(other)], **kwargs)[0]}

    assert found() == {"b", "c", "d", "e", "o"}
    assert found(run_view_type="DELETED_ONLY") == {"a"}
    assert found(run_view_type="ALL", filter_string=f"run_id IN ('{ids['a']}', '{other_run.pk}')") == {"a", "o"}
    assert search_runs(experiment_ids=[])[0] == []
    assert search_runs(experiment_ids=[str(2**64)])[0] == []
    with pytest.raises(StudioError):
        search_runs(experiment_ids=["abc"])
    with pytest.raises(StudioError):
        search_runs(experiment_ids=[experiment_id], run_view_type="SOME")


# --- experiments ---------------------------------------------------------------------------------------------------


@pytest.fixture
def experiments(db: None) -> dict[str, int]:
    experiment_store.ensure_default_experiment()  # a live-server test before this one may have flushed it
    ids = {"Default": 0}
    for index, (name, tags) in enumerate(
        [("alpha", [("team", "ml")]), ("Beta", [("team", "ops"), ("a.b", "x")]), ("gamma_1", [])], start=1
    ):
        ids[name] = experiment_store.create_experiment(name=name, tags=tags)
        Experiment.objects.filter(pk=ids[name]).update(creation_time=1000 * index, last_update_time=5000 - index)
    Experiment.objects.filter(pk=0).update(creation_time=0, last_update_time=0)
    return ids


def _experiment_names(experiments: dict[str, int], filter_string: str = "", **kwargs) -> list[str]:
    found, _ = search_experiments(filter_string=filter_string.format(**experiments), **kwargs)
    return [e.name for e in found]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("", {"Default", "alpha", "Beta", "gamma_1"}),
        ("name = 'alpha'", {"alpha"}),
        ("attribute.name != 'alpha'", {"Default", "Beta", "gamma_1"}),
        ("name LIKE 'a%'", {"alpha"}),
        ("name LIKE 'b%'", set()),
        ("name ILIKE 'b%'", {"Beta"}),
        ("name like '%\\_1'", {"gamma_1"}),
        ("tags.team = 'ml'", {"alpha"}),
        ("tags.team != 'ml'", {"Beta"}),
        ("tag.team LIKE 'o%'", {"Beta"}),
        ("tags.team ILIKE 'ML'", {"alpha"}),
        ("tags.team IS NULL", {"Default", "gamma_1"}),
        ("tags.team IS NOT NULL", {"alpha", "Beta"}),
        ("tags.`a.b` = 'x'", {"Beta"}),
        ("creation_time > 1500", {"Beta", "gamma_1"}),
        ("creation_time <= 1000", {"Default", "alpha"}),
        ("last_update_time = 4999", {"alpha"}),
        ("experiment_id = '{alpha}'", {"alpha"}),
        ("experiment_id != '0'", {"alpha", "Beta", "gamma_1"}),
        ("experiment_id IN ('{alpha}', '{Beta}')", {"alpha", "Beta"}),
        ("experiment_id NOT IN ('0', '{alpha}')", {"Beta", "gamma_1"}),
        ("experiment_id IN ('{alpha}', '99999999999999999999')", {"alpha"}),
        ("experiment_id NOT IN ('99999999999999999999')", {"Default", "alpha", "Beta", "gamma_1"}),
        ("experiment_id = '99999999999999999999'", set()),
        ("name = 'alpha' OR tags.team = 'ops'", {"alpha", "Beta"}),
        ("(name LIKE '%a%' OR name = 'Default') AND tags.team IS NULL", {"Default", "gamma_1"}),
    ],
)
def test_filter_selects_experiments(experiments, filter_string, expected):
    assert set(_experiment_names(experiments, filter_string)) == expected


@pytest.mark.parametrize(
    ("filter_string", "message"),
    [
        ("name > 'a'", "Invalid comparator"),
        ("name IS NULL", "IS NULL / IS NOT NULL is only supported for tags"),
        ("creation_time = 1.5", "Invalid value for numeric attribute"),
        ("creation_time LIKE 1", "Invalid comparator for numeric attribute"),
        ("tags.team > 'x'", "Invalid comparator"),
        ("experiment_id LIKE '1'", "Invalid comparator for experiment_id"),
        ("experiment_id = 'abc'", "Invalid experiment ID 'abc'"),
        ("foo = 'x'", "Invalid attribute key 'foo'"),
        ("params.p = 'x'", "Invalid entity type 'params'"),
        ("name = 'a' OR", "expected a comparison"),
    ],
)
def test_invalid_experiment_filter(experiments, filter_string, message):
    with pytest.raises(StudioError) as caught:
        _experiment_names(experiments, filter_string)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("order_by", "filter_string", "expected"),
    [
        ([], "", ["gamma_1", "Beta", "alpha", "Default"]),
        (["creation_time ASC"], "", ["Default", "alpha", "Beta", "gamma_1"]),
        (["last_update_time DESC"], "", ["alpha", "Beta", "gamma_1", "Default"]),
        (["experiment_id DESC"], "", ["gamma_1", "Beta", "alpha", "Default"]),
        # names of one case only: how upper and lower case interleave is the database collation's business
        (["name"], "name != 'Beta' AND name != 'Default'", ["alpha", "gamma_1"]),
        (["name DESC"], "name != 'Beta' AND name != 'Default'", ["gamma_1", "alpha"]),
    ],
)
def test_experiment_order_by(experiments, order_by, filter_string, expected):
    assert _experiment_names(experiments, filter_string, order_by=order_by) == expected


def test_experiment_order_by_ties_break_on_experiment_id_descending(experiments):
    Experiment.objects.update(creation_time=7)
    names = _experiment_names(experiments, order_by=["creation_time"])
    assert names == ["gamma_1", "Beta", "alpha", "Default"]


@pytest.mark.parametrize("order_by", [["tags.team"], ["name SIDEWAYS"], ["lifecycle_stage"]])
def test_invalid_experiment_order_by(experiments, order_by):
    with pytest.raises(StudioError) as caught:
        _experiment_names(experiments, order_by=order_by)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_experiment_view_types_and_pages(experiments):
    experiment_store.delete_experiment(experiment_id=str(experiments["Beta"]))
    assert _experiment_names(experiments, view_type="DELETED_ONLY") == ["Beta"]
    assert "Beta" not in _experiment_names(experiments)
    first, token = search_experiments(view_type="ALL", max_results=3)
    second, last = search_experiments(view_type="ALL", max_results=3, page_token=token)
    assert [e.name for e in first + second] == ["gamma_1", "Beta", "alpha", "Default"] and last is None
