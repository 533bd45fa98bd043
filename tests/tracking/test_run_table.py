"""The runs table's page query: state parsing, keyset pages over ties and missing values, nested runs, and a fixed
number of queries whatever the number of runs."""

from __future__ import annotations

import math
import uuid
from typing import Any

import pytest

from tracking.models import Experiment, LifecycleStage, MetricSeries, Param, Run, RunStatus, RunTag
from tracking.store import run_table
from tracking.store.run_table import Column, Cursor, RunTableState, Sort

PARENT = "mlflow.parentRunId"


def make_experiment(name: str = "table") -> Experiment:
    return Experiment.objects.create(name=name, artifact_location="x", creation_time=1, last_update_time=1)


def make_run(experiment: Experiment, index: int, **fields: Any) -> Run:
    """A run whose id sorts by ``index`` when nothing else decides (so expected orders can be written down)."""
    defaults = {"name": f"run-{index:04d}", "status": RunStatus.FINISHED, "start_time": 1_000 + index}
    defaults |= fields
    return Run(run_uuid=f"{index:04d}{uuid.uuid4().hex[4:]}", experiment=experiment, **defaults)


def seed(
    experiment: Experiment,
    count: int,
    *,
    metric: Any = None,
    param: Any = None,
    tag: Any = None,
    **run_fields: Any,
) -> list[Run]:
    """``count`` runs through the ORM; ``metric(i)``/``param(i)``/``tag(i)`` give run i's value of ``m``, ``p``
    and ``t`` (``...`` for none; NaN for a NaN metric), and each ``run_fields`` value is a function of i too."""
    runs = [make_run(experiment, i, **{k: f(i) for k, f in run_fields.items()}) for i in range(count)]
    Run.objects.bulk_create(runs)
    series, params, tags = [], [], []
    for i, run in enumerate(runs):
        if metric is not None and (value := metric(i)) is not ...:
            value = None if isinstance(value, float) and math.isnan(value) else value
            series.append(
                MetricSeries(run=run, key="m", value=value, timestamp=1, step=0, count=1, min_step=0, max_step=0)
            )
        if param is not None and (value := param(i)) is not ...:
            params.append(Param(run=run, key="p", value=value))
        if tag is not None and (value := tag(i)) is not ...:
            tags.append(RunTag(run=run, key="t", value=value))
    MetricSeries.objects.bulk_create(series)
    Param.objects.bulk_create(params)
    RunTag.objects.bulk_create(tags)
    return runs


def walk(experiment: Experiment, state: RunTableState) -> list[str]:
    """Every run id in table order, following the Next cursors page by page."""
    ids: list[str] = []
    for _ in range(1000):
        page = run_table.run_table_page(experiment_id=experiment.pk, state=state)
        ids += [row.run.run_uuid for row in page.rows]
        if not page.next_cursor:
            return ids
        state = RunTableState(**{**state.__dict__, "after": page.next_cursor, "before": ""})
    raise AssertionError("no end to the pages")


def walk_back(experiment: Experiment, state: RunTableState, last_after: str) -> list[str]:
    """Every run id in table order, from the last page back to the first through the Previous cursors."""
    pages: list[list[str]] = []
    state = RunTableState(**{**state.__dict__, "after": last_after})
    for _ in range(1000):
        page = run_table.run_table_page(experiment_id=experiment.pk, state=state)
        pages.insert(0, [row.run.run_uuid for row in page.rows])
        if not page.previous_cursor:
            return [run_id for ids in pages for run_id in ids]
        state = RunTableState(**{**state.__dict__, "after": "", "before": page.previous_cursor})
    raise AssertionError("no end to the pages")


def expected_order(runs: list[Run], key: Any, ascending: bool) -> list[str]:
    """MLflow's order: runs with a value by value (ties by run id), then NaN/NULL, then runs lacking it."""
    ranked = []
    for run in runs:
        rank, value = key(run)
        ranked.append((rank, value, run.run_uuid))
    present = sorted((r for r in ranked if r[0] == 0), key=lambda r: r[2])
    present.sort(key=lambda r: r[1], reverse=not ascending)
    rest = sorted((r for r in ranked if r[0] != 0), key=lambda r: (r[0], r[2]))
    return [r[2] for r in present + rest]


# --- state ---------------------------------------------------------------------------------------------------------


def test_columns_parse_known_prefixes_and_drop_the_rest() -> None:
    columns = run_table.parse_columns("metrics.loss, params.lr,tags.team,bogus.x,metrics.,metrics.loss,attributes.a")
    assert [c.id for c in columns] == ["metrics.loss", "params.lr", "tags.team"]
    assert Column.parse("metrics.val/acc.top 5").key == "val/acc.top 5"
    assert len(run_table.parse_columns(",".join(f"metrics.k{i}" for i in range(200)))) == run_table.MAX_COLUMNS


@pytest.mark.parametrize(
    ("column", "order", "expected"),
    [
        ("", "", Sort("attributes.start_time", False)),
        ("attributes.run_name", "", Sort("attributes.run_name", True)),
        ("attributes.duration", "asc", Sort("attributes.duration", True)),
        ("metrics.loss", "", Sort("metrics.loss", False)),
        ("params.lr", "", Sort("params.lr", True)),
        ("tags.t", "desc", Sort("tags.t", False)),
        ("attributes.artifact_uri", "asc", Sort()),  # not a column of the table
        ("metrics.a`b", "asc", Sort()),
        ("metrics.it's", "asc", Sort("metrics.it's", True)),  # any key MLflow's order_by parser reads
        ("metrics.val/loss top-5", "asc", Sort("metrics.val/loss top-5", True)),
        ("nonsense", "up", Sort()),
    ],
)
def test_sort_parses_or_falls_back_to_newest_first(column: str, order: str, expected: Sort) -> None:
    assert Sort.parse(column, order) == expected


def test_state_from_a_query_string_and_back() -> None:
    params = {
        "filter": " metrics.loss < 1 ",
        "cols": "metrics.loss,params.lr",
        "sort": "metrics.loss",
        "order": "asc",
        "deleted": "1",
        "sel": "abc,def,abc,not-an-id!,",
        "open": "abc",
    }
    state = RunTableState.from_params(params)
    assert state.filter == "metrics.loss < 1"
    assert state.selected == ("abc", "def")
    assert state.deleted
    assert state.flat
    query = state.query_string()
    assert "cols=metrics.loss,params.lr" in query
    assert "open=" not in query  # a flat table has no expanded parents
    assert RunTableState.from_params({"cols": ""}).columns == ()
    assert RunTableState.from_params({}).columns is None
    assert RunTableState(columns=()).query_string() == "cols="


def test_a_cursor_is_only_taken_by_its_own_sort_and_type() -> None:
    by_loss = Sort("metrics.loss", True)
    token = Cursor(0, 0.25, "abc").encode(by_loss)
    assert Cursor.decode(token, by_loss) == Cursor(0, 0.25, "abc")
    assert Cursor.decode(token, Sort("metrics.loss", False)) is None
    assert Cursor.decode(token, Sort("metrics.acc", True)) is None
    assert Cursor.decode(Cursor(0, math.inf, "abc").encode(by_loss), by_loss).value == math.inf
    assert Cursor.decode(Cursor(2, None, "abc").encode(by_loss), by_loss) == Cursor(2, None, "abc")
    by_start = Sort("attributes.start_time", True)
    assert Cursor.decode(Cursor(0, "text", "abc").encode(by_start), by_start) is None
    assert Cursor.decode(Cursor(0, True, "abc").encode(by_start), by_start) is None
    for garbage in ("", "!!!", "bm90IGpzb24", "WzEsMl0"):
        assert Cursor.decode(garbage, by_start) is None


# --- keyset pages --------------------------------------------------------------------------------------------------


def _metric(i: int) -> Any:
    if i % 7 == 0:
        return ...  # lacks the key
    if i % 11 == 0:
        return math.nan
    return float(i % 5) / 4  # many ties


SORT_CASES = {
    "metrics.m": (
        {"metric": _metric},
        lambda i: (2, None) if _metric(i) is ... else (1, None) if math.isnan(_metric(i)) else (0, _metric(i)),
    ),
    "params.p": (
        {"param": lambda i: ... if i % 4 == 0 else f"v{i % 3}"},
        lambda i: (2, None) if i % 4 == 0 else (0, f"v{i % 3}"),
    ),
    "tags.t": (
        {"tag": lambda i: ... if i % 3 == 0 else f"t{i % 2}"},
        lambda i: (2, None) if i % 3 == 0 else (0, f"t{i % 2}"),
    ),
    "attributes.start_time": (
        {"start_time": lambda i: None if i % 6 == 0 else 5_000 + i % 4},
        lambda i: (1, None) if i % 6 == 0 else (0, 5_000 + i % 4),
    ),
    "attributes.duration": (
        {"start_time": lambda i: 100, "end_time": lambda i: None if i % 5 == 0 else 100 + i % 3},
        lambda i: (1, None) if i % 5 == 0 else (0, i % 3),
    ),
    "attributes.run_name": ({"name": lambda i: f"n{i % 4}"}, lambda i: (0, f"n{i % 4}")),
    "attributes.status": (
        {"status": lambda i: [RunStatus.FAILED, RunStatus.FINISHED, RunStatus.RUNNING][i % 3]},
        lambda i: (0, ["FAILED", "FINISHED", "RUNNING"][i % 3]),
    ),
    "attributes.user_id": ({"user_id": lambda i: f"u{i % 2}"}, lambda i: (0, f"u{i % 2}")),
}


@pytest.mark.parametrize("ascending", [True, False])
@pytest.mark.parametrize("column", list(SORT_CASES))
def test_keyset_pages_walk_every_run_once_in_order_over_ties_and_missing_values(
    db: None, monkeypatch: pytest.MonkeyPatch, column: str, ascending: bool
) -> None:
    monkeypatch.setattr(run_table.query, "PAGE_SIZE", 7)
    experiment = make_experiment()
    data, key = SORT_CASES[column]
    runs = seed(experiment, 45, **data)
    index = {run.run_uuid: i for i, run in enumerate(runs)}
    expected = expected_order(runs, lambda run: key(index[run.run_uuid]), ascending)
    state = RunTableState(sort=Sort(column, ascending), columns=())
    forward = walk(experiment, state)
    assert forward == expected
    # And back from the last page through the Previous links, the same order.
    pages = run_table.run_table_page(experiment_id=experiment.pk, state=state)
    while pages.next_cursor:
        last_after = pages.next_cursor
        pages = run_table.run_table_page(
            experiment_id=experiment.pk, state=RunTableState(sort=state.sort, columns=(), after=last_after)
        )
    assert walk_back(experiment, state, last_after) == expected


def test_a_filtered_table_pages_with_the_same_cursors(db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_table.query, "PAGE_SIZE", 4)
    experiment = make_experiment()
    runs = seed(experiment, 30, metric=lambda i: float(i % 6), param=lambda i: "a" if i % 2 else "b")
    state = RunTableState(filter="metrics.m >= 2 and params.p = 'a' or metrics.m = 0", sort=Sort("metrics.m", True))
    values = {r.run_uuid: (float(i % 6), "a" if i % 2 else "b") for i, r in enumerate(runs)}
    matching = [
        r for r in runs if (values[r.run_uuid][0] >= 2 and values[r.run_uuid][1] == "a") or values[r.run_uuid][0] == 0
    ]
    assert walk(experiment, state) == expected_order(matching, lambda r: (0, values[r.run_uuid][0]), True)


def test_previous_from_a_page_whose_rows_before_were_deleted_shows_the_first_page(
    db: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_table.query, "PAGE_SIZE", 5)
    experiment = make_experiment()
    runs = seed(experiment, 12)
    first = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState())
    second = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(after=first.next_cursor))
    gone = {row.run.pk for row in first.rows[:3]}
    Run.objects.filter(pk__in=gone).delete()
    back = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(before=second.previous_cursor))
    newest_first = [r.run_uuid for r in sorted(runs, key=lambda r: -r.start_time)]
    assert [row.run.run_uuid for row in back.rows] == [i for i in newest_first if i not in gone][:5]
    assert back.previous_cursor == ""


def test_a_bad_or_foreign_cursor_shows_the_first_page(db: None) -> None:
    experiment = make_experiment()
    seed(experiment, 3)
    for after in ("garbage", Cursor(0, 0.5, "x").encode(Sort("metrics.m", True))):
        page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(after=after))
        assert len(page.rows) == 3
        assert page.previous_cursor == ""


# --- what a page holds ---------------------------------------------------------------------------------------------


def test_picked_columns_show_values_and_blanks_for_missing_keys(db: None) -> None:
    experiment = make_experiment()
    runs = seed(experiment, 3, metric=lambda i: ... if i == 0 else math.nan if i == 1 else 0.123456789)
    Param.objects.create(run=runs[2], key="long", value="x" * 500)
    RunTag.objects.create(run=runs[2], key="team", value="ml")
    columns = run_table.parse_columns("metrics.m,params.long,tags.team")
    page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(columns=columns))
    cells = {row.run.run_uuid: row.cells for row in page.rows}
    assert cells[runs[0].run_uuid] == [("", "", True), ("", "", False), ("", "", False)]
    assert cells[runs[1].run_uuid][0] == ("NaN", "", True)
    text, title, _ = cells[runs[2].run_uuid][1]
    assert len(text) == run_table.CELL_CHARS and text.endswith("…")
    assert title == "x" * 500
    assert cells[runs[2].run_uuid][0] == ("0.123457", "", True)
    assert cells[runs[2].run_uuid][2] == ("ml", "", False)


def test_default_columns_are_the_first_metric_keys_of_the_page(db: None) -> None:
    experiment = make_experiment()
    (run,) = seed(experiment, 1)
    for key in ("zeta", "alpha", "beta", "gamma", "delta", "eps", "omega"):
        MetricSeries.objects.create(run=run, key=key, value=1, timestamp=1, step=0, min_step=0, max_step=0)
    page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState())
    assert page.cols_param == "metrics.alpha,metrics.beta,metrics.delta,metrics.eps,metrics.gamma"
    assert run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(columns=())).columns == ()


def test_nested_runs_are_under_their_parent_and_flat_when_filtered(db: None) -> None:
    experiment = make_experiment()
    parent, lone, child_a, child_b, grandchild = seed(experiment, 5, metric=lambda i: float(i))
    for child, of in ((child_a, parent), (child_b, parent), (grandchild, child_a)):
        RunTag.objects.create(run=child, key=PARENT, value=of.run_uuid)
    page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(columns=()))
    assert [(row.run, row.child_count) for row in page.rows] == [(lone, 0), (parent, 2)]
    assert (page.total, page.top_level) == (5, 2)
    assert "5 runs, 2 at the top level" in page.summary

    children = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(), parent_id=parent.pk)
    assert [(row.run, row.child_count) for row in children.rows] == [(child_b, 0), (child_a, 1)]

    flat = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(filter="metrics.m >= 2"))
    assert [(row.run, row.parent_name) for row in flat.rows] == [
        (grandchild, child_a.name),
        (child_b, parent.name),
        (child_a, parent.name),
    ]
    assert flat.total == 3
    assert "3 runs match the filter" in flat.summary


def test_a_child_whose_parent_is_not_in_the_view_stays_at_the_top_level(db: None) -> None:
    experiment = make_experiment()
    parent, child, orphan = seed(experiment, 3)
    RunTag.objects.create(run=child, key=PARENT, value=parent.run_uuid)
    RunTag.objects.create(run=orphan, key=PARENT, value="0" * 32)  # purged, or never in this experiment
    Run.objects.filter(pk=parent.pk).update(lifecycle_stage=LifecycleStage.DELETED)
    page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(columns=()))
    assert {row.run.pk for row in page.rows} == {child.pk, orphan.pk}
    deleted = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(columns=(), deleted=True))
    assert [(row.run.pk, row.child_count) for row in deleted.rows] == [(parent.pk, 0)]  # its child is active


def test_a_filter_that_does_not_parse_gives_mlflows_message_and_no_rows(db: None) -> None:
    experiment = make_experiment()
    seed(experiment, 2)
    for bad in ("metrics.loss >", "params.lr = 'x' or", "(metrics.a > 1", "foo.bar = 1"):
        page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(filter=bad))
        assert page.error
        assert page.rows == []
    page = run_table.run_table_page(experiment_id=experiment.pk, state=RunTableState(filter="(metrics.a > 1"))
    assert page.error == "Invalid filter '(metrics.a > 1': missing ')' for the '(' at position 0"


def test_experiment_keys_list_every_kind_with_system_tags_last(db: None) -> None:
    experiment = make_experiment()
    other = make_experiment("other")
    (run,) = seed(experiment, 1, metric=lambda i: 1.0, param=lambda i: "x", tag=lambda i: "y")
    RunTag.objects.create(run=run, key="mlflow.user", value="me")
    RunTag.objects.create(run=run, key="zz", value="me")
    seed(other, 1, param=lambda i: "not mine")
    Param.objects.filter(run__experiment=other).update(key="elsewhere")
    groups = {g.prefix: g.keys for g in run_table.experiment_keys(experiment.pk)}
    assert groups == {"metrics": ["m"], "params": ["p"], "tags": ["t", "zz", "mlflow.user"]}


# --- bounded queries -----------------------------------------------------------------------------------------------


def many_runs(experiment: Experiment, count: int) -> list[Run]:
    """``count`` runs with metrics, params and tags, a tenth of them children of the first ten."""
    runs = seed(
        experiment, count, metric=lambda i: float(i % 13), param=lambda i: f"p{i % 5}", tag=lambda i: f"t{i % 3}"
    )
    RunTag.objects.bulk_create(
        [
            RunTag(run=run, key=PARENT, value=runs[i % 10].run_uuid)
            for i, run in enumerate(runs)
            if i >= 10 and i % 10 == 0
        ]
    )
    return runs


@pytest.mark.parametrize(
    ("state", "parent", "queries"),
    [
        (RunTableState(), False, 6),  # two counts, page, default keys, metrics, child counts
        (RunTableState(columns=run_table.parse_columns("metrics.m,params.p,tags.t"), sort=Sort("metrics.m")), False, 7),
        (
            RunTableState(
                filter="metrics.m > 3 or params.p = 'p1'", columns=run_table.parse_columns("params.p,tags.t")
            ),
            False,
            5,
        ),
        (RunTableState(columns=run_table.parse_columns("metrics.m,params.p"), sort=Sort("params.p", True)), True, 4),
    ],
)
def test_a_page_costs_a_fixed_number_of_queries_over_600_runs(
    db: None, django_assert_max_num_queries: Any, state: RunTableState, parent: bool, queries: int
) -> None:
    experiment = make_experiment()
    runs = many_runs(experiment, 600)
    with django_assert_max_num_queries(queries):
        page = run_table.run_table_page(
            experiment_id=experiment.pk, state=state, parent_id=runs[0].run_uuid if parent else None
        )
        assert page.rows
        assert all(len(row.cells) == len(page.columns) for row in page.rows)  # loaded already, no lazy reads
    with django_assert_max_num_queries(queries + 1):  # a later page: the same plus nothing
        later = run_table.run_table_page(
            experiment_id=experiment.pk,
            state=RunTableState(**{**state.__dict__, "after": page.next_cursor}),
            parent_id=runs[0].run_uuid if parent else None,
        )
        assert later.rows or parent
