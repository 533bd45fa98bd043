"""The compare page's query: up to 200 runs, from any experiments, with their params and latest metric values laid
out as columns (one per param or metric key, a value per run) in a fixed number of queries; and the page's state
(curves, parallel-coordinates axes, scatter axes, only-differences) read from the query string."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from tracking.models import LifecycleStage, Run
from tracking.store.run_page import RunPageState
from tracking.store.runs import load_run_data

MAX_RUNS = 200
# MLflow's run id rule (mlflow.utils.validation._RUN_ID_REGEX): anything else cannot name a run.
RUN_ID = re.compile(r"^[a-zA-Z0-9][\w\-]{0,255}$")
# Malformed or unknown ids are listed by name up to this many; the rest are counted.
LISTED_PROBLEMS = 20
PARAM, METRIC = "param", "metric"
# Defaults when the query string names nothing: a few curves, a few axes.
DEFAULT_CURVES = 4
DEFAULT_PARAM_AXES = 6
DEFAULT_METRIC_AXES = 3
# Plotly's colour cycle, the same as the metric chart's, so a run has one colour in every chart and the table.
RUN_COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


@dataclass(frozen=True)
class RunIds:
    """The ``runs`` of a query string: distinct well-formed ids in the order given (at most ``MAX_RUNS``), the
    malformed ones, and how many well-formed ones were left out beyond the limit."""

    ids: list[str]
    malformed: list[str]
    over_limit: int = 0

    @property
    def given(self) -> int:
        """How many distinct well-formed ids the query string named."""
        return len(self.ids) + self.over_limit


def parse_run_ids(values: list[str]) -> RunIds:
    """Run ids from ``?runs=a,b&runs=c`` (commas or repeated parameters, blanks and repeats ignored)."""
    tokens = dict.fromkeys(token.strip() for value in values for token in value.split(","))
    tokens.pop("", None)
    good = [token for token in tokens if RUN_ID.match(token)]
    bad = [token for token in tokens if not RUN_ID.match(token)]
    return RunIds(ids=good[:MAX_RUNS], malformed=bad, over_limit=max(0, len(good) - MAX_RUNS))


@dataclass(frozen=True)
class CompareRun:
    """One run of the comparison, with its colour in the charts."""

    run: Run
    color: str

    @property
    def deleted(self) -> bool:
        """Whether the run is in the trash (it is still compared, marked so)."""
        return self.run.lifecycle_stage == LifecycleStage.DELETED


@dataclass(frozen=True)
class Cell:
    """One run's value of a key: ``text`` as shown, ``missing`` when the run never logged the key."""

    text: str
    missing: bool = False


@dataclass
class Column:
    """A param or a metric key across the runs: a value per run (None where not logged; a metric's NaN is
    ``math.nan``), whether every logged value is a number, and whether the runs disagree."""

    kind: str
    key: str
    values: list[Any]
    numeric: bool = False
    differs: bool = False

    @property
    def id(self) -> str:
        """The column's name in the query string: ``param:lr``, ``metric:val/loss``."""
        return f"{self.kind}:{self.key}"

    @property
    def logged(self) -> int:
        """How many of the runs logged the key."""
        return sum(value is not None for value in self.values)

    @property
    def cells(self) -> list[Cell]:
        """The table row of this key."""
        return [_cell(self.kind, value) for value in self.values]

    def wire(self) -> dict[str, Any]:
        """The column for the page's script: numbers as numbers, NaN and missing as null (JSON has no NaN)."""
        values: list[Any] = [
            None if value is None or (isinstance(value, float) and not math.isfinite(value)) else value
            for value in (self.values if self.kind == METRIC else [_param_value(v, self.numeric) for v in self.values])
        ]
        wire = {"id": self.id, "kind": self.kind, "key": self.key, "numeric": self.numeric, "values": values}
        if self.kind == METRIC:
            # A logged NaN is null too, but the run has a history to draw.
            wire["logged"] = [value is not None for value in self.values]
        return wire


@dataclass
class Comparison:
    """Everything the compare page shows: the runs found, the ids that were not, and a column per key."""

    ids: RunIds
    runs: list[CompareRun] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    params: list[Column] = field(default_factory=list)
    metrics: list[Column] = field(default_factory=list)

    @property
    def columns(self) -> dict[str, Column]:
        """Params and metrics by column id."""
        return {c.id: c for c in [*self.params, *self.metrics]}

    @property
    def column_groups(self) -> list[tuple[str, list[Column]]]:
        """Params and metrics under their headings, as the pickers and selects list them."""
        return [("Params", self.params), ("Metrics", self.metrics)]

    @property
    def curve_groups(self) -> list[tuple[str, list[Column]]]:
        """The metrics alone, for the curves' picker."""
        return [("Metrics", self.metrics)]

    @property
    def changed_rows(self) -> int:
        """How many params and metrics differ across the runs."""
        return sum(c.differs for c in [*self.params, *self.metrics])

    @property
    def key_rows(self) -> int:
        """How many params and metrics there are."""
        return len(self.params) + len(self.metrics)

    @property
    def experiments(self) -> list[Any]:
        """The distinct experiments of the runs, in the runs' order."""
        return list({r.run.experiment_id: r.run.experiment for r in self.runs}.values())

    @property
    def problems(self) -> bool:
        """Whether some ids were malformed, unknown or beyond the limit."""
        return bool(self.ids.malformed or self.not_found or self.ids.over_limit)

    @property
    def malformed_listed(self) -> tuple[list[str], int]:
        """The malformed ids to name, and how many more there are."""
        return self.ids.malformed[:LISTED_PROBLEMS], max(0, len(self.ids.malformed) - LISTED_PROBLEMS)

    @property
    def not_found_listed(self) -> tuple[list[str], int]:
        """The unknown ids to name, and how many more there are."""
        return self.not_found[:LISTED_PROBLEMS], max(0, len(self.not_found) - LISTED_PROBLEMS)

    @property
    def kept_query(self) -> str:
        """``runs=`` of the runs found alone: the link that drops the ids that named nothing."""
        query = QueryDict(mutable=True)
        query["runs"] = ",".join(r.run.run_uuid for r in self.runs)
        return query.urlencode(safe=",")

    def wire(self) -> dict[str, Any]:
        """Runs and columns for the page's script."""
        return {
            "runs": [{"id": r.run.run_uuid, "name": str(r.run), "color": r.color} for r in self.runs],
            "columns": [c.wire() for c in [*self.params, *self.metrics]],
        }


def compare_runs(values: list[str]) -> Comparison:
    """The runs that ``?runs=`` names (deleted ones too) with their params and latest metrics, in six queries for
    up to ``MAX_RUNS`` runs and any number of keys: the runs, then ``load_run_data``'s bulk reads."""
    ids = parse_run_ids(values)
    found = {r.run_uuid: r for r in Run.objects.select_related("experiment").filter(run_uuid__in=ids.ids)}
    runs = [found[i] for i in ids.ids if i in found]
    comparison = Comparison(
        ids=ids,
        runs=[CompareRun(run, RUN_COLORS[n % len(RUN_COLORS)]) for n, run in enumerate(runs)],
        not_found=[i for i in ids.ids if i not in found],
    )
    if not runs:
        return comparison
    data = load_run_data([r.run_uuid for r in runs])
    params = [dict(data[r.run_uuid].params) for r in runs]
    metrics = [{key: value for key, value, _, _ in data[r.run_uuid].metrics} for r in runs]
    comparison.params = [_column(PARAM, key, params) for key in sorted({k for p in params for k in p})]
    comparison.metrics = [_column(METRIC, key, metrics) for key in sorted({k for m in metrics for k in m})]
    return comparison


_MISSING = object()


def _column(kind: str, key: str, per_run: list[dict[str, Any]]) -> Column:
    """One key's values across the runs; a metric's stored None is NaN, a key absent from a run is None."""
    raw = [row.get(key, _MISSING) for row in per_run]
    if kind == METRIC:
        values = [None if v is _MISSING else (math.nan if v is None else v) for v in raw]
        numeric = True
    else:
        values = [None if v is _MISSING else v for v in raw]
        numeric = any(v is not None for v in values) and all(v is None or _number(v) is not None for v in values)
    # NaN is not equal to itself; as a value it is one value like any other.
    distinct = {"nan" if isinstance(v, float) and math.isnan(v) else v for v in values}
    return Column(kind=kind, key=key, values=values, numeric=numeric, differs=len(distinct) > 1)


def _number(text: str) -> float | None:
    """A param value as a finite number, or None: ``"0.01"``, ``"3"``, ``"1e-4"`` are numbers; ``"True"``,
    ``"nan"`` or ``"[1, 2]"`` are not."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _param_value(value: str | None, numeric: bool) -> Any:
    """A param value for the charts: a number on a numeric axis, the text on a categorical one."""
    if value is None:
        return None
    return _number(value) if numeric else value


def _cell(kind: str, value: Any) -> Cell:
    """A table cell: a metric in 6 significant digits (as everywhere), a param as logged."""
    if value is None:
        return Cell("—", missing=True)
    if kind == PARAM:
        return Cell(value)
    if math.isnan(value):
        return Cell("NaN")
    if math.isinf(value):
        return Cell("∞" if value > 0 else "-∞")
    return Cell(f"{value:.6g}")


@dataclass(frozen=True)
class CompareState:
    """What the compare page shows, as the query string says it. Lists are comma-separated; a list parameter that
    is present but empty means "none", an absent one means the defaults."""

    curves: list[str]  # metric keys, one overlaid chart each (?metrics=)
    axes: list[str]  # parallel-coordinates columns (?axes=param:lr,metric:loss)
    color: str  # the metric key that colours the parallel-coordinates lines, or "" (?color=)
    scatter_x: str  # column ids (?sx=, ?sy=)
    scatter_y: str
    only_diff: bool  # (?diff=1)
    chart: RunPageState  # the curves' x axis, smoothing and log scale, as on the run page (?x=, ?smoothing=, ?log=)

    @classmethod
    def from_params(cls, params: QueryDict | Mapping[str, Any], comparison: Comparison) -> CompareState:
        """The state a query string asks for, limited to the keys the runs have; defaults where it names nothing."""
        columns = comparison.columns
        metric_keys = [c.key for c in comparison.metrics]
        known_metrics = set(metric_keys)
        curves = _list(params, "metrics")
        curves = [k for k in curves if k in known_metrics] if curves is not None else metric_keys[:DEFAULT_CURVES]
        axes = _list(params, "axes")
        axes = [a for a in axes if a in columns] if axes is not None else _default_axes(comparison)
        color = params.get("color")
        if color is None:
            chosen = [columns[a].key for a in axes if columns[a].kind == METRIC]
            color = (chosen or metric_keys or [""])[0]
        sx, sy = _default_scatter(comparison)
        return cls(
            curves=curves,
            axes=axes,
            color=color if color in known_metrics else "",
            scatter_x=_pick(params.get("sx"), columns, sx),
            scatter_y=_pick(params.get("sy"), columns, sy),
            only_diff=params.get("diff", "") in ("1", "true", "on"),
            chart=RunPageState.from_params(params),
        )

    @property
    def scatter_axes(self) -> list[tuple[str, str, str]]:
        """(axis, label, chosen column id) of the scatter's two selects."""
        return [("x", "X axis", self.scatter_x), ("y", "Y axis", self.scatter_y)]

    def wire(self) -> dict[str, Any]:
        """The state for the page's script."""
        return {
            "curves": self.curves,
            "axes": self.axes,
            "color": self.color,
            "sx": self.scatter_x,
            "sy": self.scatter_y,
            "diff": self.only_diff,
            "x": self.chart.x,
            "smoothing": self.chart.smoothing,
            "log": self.chart.log_y,
        }


def _list(params: QueryDict | Mapping[str, Any], name: str) -> list[str] | None:
    """A comma-separated (or repeated) parameter as a list of distinct items; None when absent."""
    values = params.getlist(name) if isinstance(params, QueryDict) else ([params[name]] if name in params else [])
    if not values:
        return None
    items = dict.fromkeys(item.strip() for value in values for item in value.split(","))
    items.pop("", None)
    return list(items)


def _pick(value: str | None, columns: dict[str, Column], default: str) -> str:
    """A column id from the query string when the runs have it, else the default."""
    return value if value in columns else default


def _default_axes(comparison: Comparison) -> list[str]:
    """The params that differ and then the metrics that do, a few of each; the first keys when nothing differs."""
    params = [c for c in comparison.params if c.differs][:DEFAULT_PARAM_AXES]
    metrics = [c for c in comparison.metrics if c.differs][:DEFAULT_METRIC_AXES]
    axes = [c.id for c in [*params, *metrics]]
    if len(axes) < 2:
        rest = [c.id for c in [*comparison.params, *comparison.metrics] if c.id not in axes]
        axes += rest[: 2 - len(axes)]
    return axes


def _default_scatter(comparison: Comparison) -> tuple[str, str]:
    """A differing numeric param against a metric, each the one most runs logged, falling back to whatever
    columns there are."""
    params = sorted(comparison.params, key=lambda c: (not c.differs, not c.numeric, -c.logged))
    metrics = sorted(comparison.metrics, key=lambda c: -c.logged)
    candidates = [c.id for c in [*params, *metrics]]
    x = candidates[0] if candidates else ""
    y = next((c.id for c in metrics if c.id != x), next((c for c in candidates if c != x), x))
    return x, y
