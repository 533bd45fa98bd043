"""The runs table's query: one keyset page of an experiment's runs (or of one run's children) with the picked
columns' values, in a fixed number of queries whatever the number of runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.expressions import OrderBy
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from studio.errors import StudioError
from studio.templatetags.studio_tags import metric as format_metric
from tracking import search
from tracking.models import LifecycleStage, MetricSeries, Param, Run, RunTag
from tracking.store.run_table.state import (
    ATTRIBUTE_COLUMNS,
    KIND_NAMES,
    PREFIXES,
    Column,
    Cursor,
    Header,
    RunTableState,
    Sort,
    columns_param,
)

PAGE_SIZE = 50
DEFAULT_METRIC_COLUMNS = 5
MAX_KEYS_LISTED = 1000
# A cell shows the start of a long param or tag value (MLflow allows 6,000 and 8,000 characters); the title the rest.
CELL_CHARS = 120
TITLE_CHARS = 1000
_RUN_COLUMNS = {"run_name": "name"}  # MLflow's attribute names that are not the model's field names
_RELATIONS = {"metric": "metric_series", "parameter": "params", "tag": "tags"}
_RUN_FIELDS = ("run_uuid", "name", "status", "start_time", "end_time", "user_id", "lifecycle_stage", "experiment_id")


@dataclass
class RunRow:
    """One row: the run, its picked columns' cells as (text, title, numeric), and its place among nested runs."""

    run: Run
    cells: list[tuple[str, str, bool]] = field(default_factory=list)
    parent_id: str = ""
    parent_name: str = ""
    child_count: int = 0


@dataclass
class RunTablePage:
    """One page of the table. ``error`` is the filter's parse error (MLflow's message), with no rows."""

    state: RunTableState
    columns: tuple[Column, ...]
    rows: list[RunRow]
    total: int = 0
    top_level: int = 0
    next_cursor: str = ""
    previous_cursor: str = ""
    error: str = ""
    # False when a bad filter stopped the page before its default columns were known: nothing to put in the URL.
    columns_known: bool = True

    @property
    def cols_param(self) -> str:
        """The ``cols`` value of the columns shown."""
        return columns_param(self.columns)

    @property
    def shown_state(self) -> RunTableState:
        """The state with the columns actually shown, so that links carry them."""
        return replace(self.state, columns=self.columns)

    @property
    def headers(self) -> list[Header]:
        """The headers of the run's own columns, then of the picked ones."""
        state, sort = self.shown_state, self.state.sort
        # Durations and metrics line up on the right; start times read left to right like the dates they are.
        items = [(c, label, "attribute", c == "attributes.duration") for c, label, _ in ATTRIBUTE_COLUMNS]
        items += [(c.id, c.key, KIND_NAMES[c.prefix], c.numeric) for c in self.columns]
        headers = []
        for column, label, kind, numeric in items:
            aria = ("ascending" if sort.ascending else "descending") if column == sort.column else None
            headers.append(Header(column, label, kind, numeric, state.sort_link(column), aria))
        return headers

    @property
    def links(self) -> dict[str, str | None]:
        """Query strings of the first, previous and next pages (None where there is none)."""
        state = self.shown_state
        at_start = not state.after and not state.before
        return {
            "first": None if at_start else state.query_string(after="", before=""),
            "previous": state.query_string(after="", before=self.previous_cursor) if self.previous_cursor else None,
            "next": state.query_string(after=self.next_cursor, before="") if self.next_cursor else None,
        }

    @property
    def summary(self) -> str:
        """How many runs the view holds, for people."""
        which = "deleted run" if self.state.deleted else "run"
        plural = "" if self.total == 1 else "s"
        if self.error:
            return "Fix the filter to see the runs."
        if self.state.flat:
            verb = "matches" if self.total == 1 else "match"
            return f"{self.total:,} {which}{plural} {verb} the filter; nested runs are listed flat, with their parent."
        if self.top_level != self.total:
            top = f"{self.top_level:,} at the top level"
            return f"{self.total:,} {which}{plural}, {top}; child runs are under their parent."
        return f"{self.total:,} {which}{plural}"


# --- the query -----------------------------------------------------------------------------------------------------


def _stages(state: RunTableState) -> tuple[str, ...]:
    return (LifecycleStage.DELETED,) if state.deleted else (LifecycleStage.ACTIVE,)


def _has_visible_parent(experiment_id: int, stages: tuple[str, ...]) -> Q:
    """Runs whose ``mlflow.parentRunId`` names a run of this view: a child whose parent is deleted (or elsewhere)
    stays at the top level rather than vanishing."""
    parent = Run.objects.filter(pk=OuterRef("value"), experiment_id=experiment_id, lifecycle_stage__in=stages)
    parent_tags = RunTag.objects.filter(run=OuterRef("pk"), key=MLFLOW_PARENT_RUN_ID).filter(Exists(parent))
    return Q(Exists(parent_tags))


def _child_of(parent_id: str) -> Q:
    # A probe per run of the experiment (the (run, key) unique index), rather than a scan of every run's tags for the
    # value: SQLite has no index on tag values.
    return Q(Exists(RunTag.objects.filter(run=OuterRef("pk"), key=MLFLOW_PARENT_RUN_ID, value=parent_id)))


def sort_annotations(sort: Sort) -> dict[str, Any]:
    """``_rank`` and ``_value`` of each run for a sort, MLflow's way (``tracking.search.run_ordering``): runs lacking
    the key rank last in either direction, NaN metrics (and NULL times) just before them."""
    if sort.column == "attributes.duration":  # Studio's own column: NULL until the run ends
        missing = Q(end_time__isnull=True) | Q(start_time__isnull=True)
        value = ExpressionWrapper(F("end_time") - F("start_time"), output_field=BigIntegerField())
        return {"_value": value, "_rank": Case(When(missing, then=Value(1)), default=Value(0))}
    (key,) = search.parse_run_order_by((sort.order_by,))
    if key.type == "attribute":
        column = _RUN_COLUMNS.get(key.key, key.key)
        missing = When(**{f"{column}__isnull": True}, then=Value(1))
        return {"_value": F(column), "_rank": Case(missing, default=Value(0))}
    relation = _RELATIONS[key.type]
    whens = [When(_sort__id__isnull=True, then=Value(2))]
    if key.type == "metric":
        whens.append(When(_sort__value__isnull=True, then=Value(1)))  # NULL is NaN in MetricSeries
    return {
        "_sort": FilteredRelation(relation, condition=Q(**{f"{relation}__key": key.key})),
        "_value": F("_sort__value"),
        "_rank": Case(*whens, default=Value(0)),
    }


def _ordering(sort: Sort, *, reverse: bool) -> list[OrderBy]:
    """Rank, value, run id; all three flipped to walk backwards from a cursor."""
    value_ascending = sort.ascending != reverse
    value = F("_value").asc() if value_ascending else F("_value").desc()
    if reverse:
        return [F("_rank").desc(), value, F("run_uuid").desc()]
    return [F("_rank").asc(), value, F("run_uuid").asc()]


def _beyond(cursor: Cursor, sort: Sort, *, reverse: bool) -> Q:
    """Rows strictly after the cursor in the table's order (before it, with ``reverse``). Within rank 0 rows compare
    by value and then id; the ranks of missing values all hold NULL, so there the id alone decides."""
    later_rank = Q(_rank__lt=cursor.rank) if reverse else Q(_rank__gt=cursor.rank)
    later_id = Q(run_uuid__lt=cursor.run_id) if reverse else Q(run_uuid__gt=cursor.run_id)
    if cursor.rank != 0:
        return later_rank | (Q(_rank=cursor.rank) & later_id)
    value_lookup = "_value__gt" if sort.ascending != reverse else "_value__lt"
    same_rank = Q(**{value_lookup: cursor.value}) | (Q(_value=cursor.value) & later_id)
    return later_rank | (Q(_rank=0) & same_rank)


def _cursor_of(run: Run) -> Cursor:
    return Cursor(run._rank, run._value if run._rank == 0 else None, run.run_uuid)


def _page_runs(scope: QuerySet, state: RunTableState) -> tuple[list[Run], str, str]:
    """One keyset page of a scope of runs, with the cursors of the next and previous pages ("" where none)."""
    sort = state.sort
    ordered = scope.annotate(**sort_annotations(sort)).only(*_RUN_FIELDS)
    before = Cursor.decode(state.before, sort)
    after = None if before else Cursor.decode(state.after, sort)
    if before is not None:
        rows = list(
            ordered.filter(_beyond(before, sort, reverse=True)).order_by(*_ordering(sort, reverse=True))[
                : PAGE_SIZE + 1
            ]
        )
        if len(rows) > PAGE_SIZE:
            page = rows[:PAGE_SIZE][::-1]
            return page, _cursor_of(page[-1]).encode(sort), _cursor_of(page[0]).encode(sort)
        # Fewer rows before the cursor than a page (some were deleted since): show the first page whole instead.
        after = None
    query = ordered.filter(_beyond(after, sort, reverse=False)) if after else ordered
    rows = list(query.order_by(*_ordering(sort, reverse=False))[: PAGE_SIZE + 1])
    page = rows[:PAGE_SIZE]
    next_cursor = _cursor_of(page[-1]).encode(sort) if len(rows) > PAGE_SIZE else ""
    previous_cursor = _cursor_of(page[0]).encode(sort) if after and page else ""
    return page, next_cursor, previous_cursor


def run_table_page(*, experiment_id: int, state: RunTableState, parent_id: str | None = None) -> RunTablePage:
    """One page of the table: the top-level runs (or with a filter, every match) of the experiment, or with
    ``parent_id`` one page of that run's children. Without picked columns (``state.columns`` None), the first few
    metric keys of the page's runs are shown."""
    stages = _stages(state)
    runs = Run.objects.filter(experiment_id=experiment_id, lifecycle_stage__in=stages)
    flat = state.flat and parent_id is None
    try:
        condition = search.run_filter(state.filter) if flat else Q()
    except StudioError as exc:
        columns, known = state.columns or (), state.columns is not None
        return RunTablePage(state=state, columns=columns, rows=[], error=exc.message, columns_known=known)
    total = top_level = 0
    if parent_id is not None:
        scope = runs.filter(_child_of(parent_id))
    elif flat:
        scope = runs.filter(condition)
        total = top_level = scope.count()
    else:
        scope = runs.filter(~_has_visible_parent(experiment_id, stages))
        # Two counts rather than one COUNT(...) FILTER (WHERE NOT EXISTS ...): PostgreSQL plans the EXISTS in a
        # filter as a subquery per run, but in a WHERE as a hash anti-join (10,000 runs: 28 -> 10 ms).
        total, top_level = runs.count(), scope.count()
    page_runs, next_cursor, previous_cursor = _page_runs(scope, state)
    columns = state.columns if state.columns is not None else default_columns(page_runs)
    rows = load_rows(page_runs, columns, experiment_id=experiment_id, stages=stages, flat=flat)
    return RunTablePage(
        state=state,
        columns=columns,
        rows=rows,
        total=total,
        top_level=top_level,
        next_cursor=next_cursor,
        previous_cursor=previous_cursor,
    )


def default_columns(runs: list[Run]) -> tuple[Column, ...]:
    """The first few metric keys (A to Z) of these runs: what a table shows before anyone picks columns."""
    if not runs:
        return ()
    keys = (
        MetricSeries.objects.filter(run_id__in_list=[r.run_uuid for r in runs])
        .order_by("key")
        .values_list("key", flat=True)
        .distinct()[:DEFAULT_METRIC_COLUMNS]
    )
    return tuple(Column("metrics", key) for key in keys)


def _values(model: type, ids: list[str], keys: list[str]) -> dict[tuple[str, str], Any]:
    """(run id, key) -> value of these runs for these keys, in one query."""
    if not ids or not keys:
        return {}
    rows = model.objects.filter(run_id__in_list=ids, key__in=keys).values_list("run_id", "key", "value")
    return {(run_id, key): value for run_id, key, value in rows}


def _cell(column: Column, value: Any, present: bool) -> tuple[str, str, bool]:
    """A cell's text, title and whether it is a number: metrics in 6 significant digits, long text cut with the
    whole (up to a point) in the title."""
    if not present:
        return "", "", column.numeric
    if column.numeric:
        return format_metric(float("nan") if value is None else value), "", True
    text = str(value)
    if len(text) > CELL_CHARS:
        return text[: CELL_CHARS - 1] + "…", text[:TITLE_CHARS], False
    return text, "", False


def load_rows(
    runs: list[Run], columns: tuple[Column, ...], *, experiment_id: int, stages: tuple[str, ...], flat: bool
) -> list[RunRow]:
    """The rows of a page: the picked columns' values (one query per kind of column), the child counts of the runs
    (nested view) or their parents' names (flat view)."""
    ids = [r.run_uuid for r in runs]
    by_prefix: dict[str, list[str]] = {prefix: [] for prefix in PREFIXES}
    for column in columns:
        by_prefix[column.prefix].append(column.key)
    tag_keys = by_prefix["tags"] + ([MLFLOW_PARENT_RUN_ID] if flat else [])
    values = {
        "metrics": _values(MetricSeries, ids, by_prefix["metrics"]),
        "params": _values(Param, ids, by_prefix["params"]),
        "tags": _values(RunTag, ids, tag_keys),
    }
    rows = []
    for run in runs:
        cells = []
        for column in columns:
            lookup = (run.run_uuid, column.key)
            found = values[column.prefix]
            cells.append(_cell(column, found.get(lookup), lookup in found))
        parent_id = values["tags"].get((run.run_uuid, MLFLOW_PARENT_RUN_ID), "") if flat else ""
        rows.append(RunRow(run=run, cells=cells, parent_id=parent_id))
    if flat:
        _name_parents(rows)
    elif ids:
        counts = child_counts(ids, experiment_id=experiment_id, stages=stages)
        for row in rows:
            row.child_count = counts.get(row.run.run_uuid, 0)
    return rows


def _name_parents(rows: list[RunRow]) -> None:
    parent_ids = list({row.parent_id for row in rows if row.parent_id})
    if not parent_ids:
        return
    names = dict(Run.objects.filter(run_uuid__in_list=parent_ids).values_list("run_uuid", "name"))
    for row in rows:
        if row.parent_id:
            row.parent_name = names.get(row.parent_id, "")


def child_counts(ids: list[str], *, experiment_id: int, stages: tuple[str, ...]) -> dict[str, int]:
    """How many runs of the view name each of these runs as their parent, in one query."""
    rows = (
        RunTag.objects.filter(
            key=MLFLOW_PARENT_RUN_ID,
            value__in=ids,
            run__experiment_id=experiment_id,
            run__lifecycle_stage__in=stages,
        )
        .values("value")
        .annotate(n=Count("*"))
        .values_list("value", "n")
    )
    return dict(rows)


# --- the column picker ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyGroup:
    """The keys of one kind present in an experiment, for the column picker."""

    prefix: str
    label: str
    keys: list[str]
    truncated: bool


def experiment_keys(experiment_id: int) -> list[KeyGroup]:
    """The metric, param and tag keys logged to the experiment's runs (A to Z, system tags last), in three queries."""
    groups = []
    kinds = (("metrics", MetricSeries, "Metrics"), ("params", Param, "Params"), ("tags", RunTag, "Tags"))
    for prefix, model, label in kinds:
        keys = list(
            model.objects.filter(run__experiment_id=experiment_id)
            .order_by("key")
            .values_list("key", flat=True)
            .distinct()[: MAX_KEYS_LISTED + 1]
        )
        truncated = len(keys) > MAX_KEYS_LISTED
        keys = keys[:MAX_KEYS_LISTED]
        if prefix == "tags":
            keys.sort(key=lambda k: (k.startswith("mlflow."), k))
        groups.append(KeyGroup(prefix, label, keys, truncated))
    return groups
