"""The run page's query: a run with everything its page shows (overview, params, tags, latest metrics, datasets,
logged models, parent and child runs) in a fixed number of queries, whatever the number of params, tags or metrics;
and the page's state (tab and chart settings) read from the query string."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from django.db.models import Q
from django.http import QueryDict
from mlflow.utils.mlflow_tags import (
    MLFLOW_GIT_BRANCH,
    MLFLOW_GIT_COMMIT,
    MLFLOW_GIT_REPO_URL,
    MLFLOW_PARENT_RUN_ID,
    MLFLOW_RUN_NOTE,
    MLFLOW_SOURCE_NAME,
    MLFLOW_SOURCE_TYPE,
    MLFLOW_USER,
)

from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import not_found
from tracking.models import DatasetInput, Experiment, LifecycleStage, LoggedModel, MetricSeries, Run
from tracking.store.runs import load_run_data

TABS = {"overview": "Overview", "metrics": "Metrics", "artifacts": "Artifacts"}
X_AXES = ("step", "wall", "relative")
MAX_SMOOTHING = 0.99
# Child runs listed on the page; a sweep's parent with more says so and links to the experiment page instead.
CHILD_LIMIT = 100
SYSTEM_TAG_PREFIX = "mlflow."


@dataclass(frozen=True)
class RunPageState:
    """What the run page shows, as the query string says it: the tab and the metric charts' settings."""

    tab: str = "overview"
    x: str = "step"
    smoothing: float = 0.0
    log_y: bool = False
    q: str = ""  # the overview's filter of params, metrics and tags by key
    metrics: str = ""  # the metrics tab's filter of charts by key

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunPageState:
        """The state a query string asks for; a value it cannot use falls back to the default, never an error."""
        tab = params.get("tab", "overview")
        x = params.get("x", "step")
        try:
            smoothing = float(params.get("smoothing", "0"))
        except ValueError:
            smoothing = 0.0
        smoothing = min(max(smoothing, 0.0), MAX_SMOOTHING) if math.isfinite(smoothing) else 0.0
        return cls(
            tab=tab if tab in TABS else "overview",
            x=x if x in X_AXES else "step",
            smoothing=round(smoothing, 2),
            log_y=params.get("log", "") in ("1", "true", "on"),
            q=params.get("q", "").strip(),
            metrics=params.get("metrics", "").strip(),
        )


def tab_links(params: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(tab, label, query string) of each tab: the current query with ``tab`` changed (the overview's is left out),
    so that switching tabs keeps the chart settings, filters and selected artifact."""
    links = []
    for tab, label in TABS.items():
        query = QueryDict(mutable=True)
        query.update(params)
        query.pop("tab", None)
        if tab != "overview":
            query["tab"] = tab
        links.append((tab, label, query.urlencode()))
    return links


@dataclass(frozen=True)
class MetricRow:
    """The latest value of one metric key with its history's extent (what the chart's heading shows)."""

    key: str
    value: float | None  # None is NaN
    timestamp: int
    step: int
    count: int
    min_step: int
    max_step: int


@dataclass(frozen=True)
class DatasetRow:
    """A dataset the run used, with its schema columns and profile read from their JSON when they parse."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str
    tags: list[tuple[str, str]]
    columns: list[dict[str, str]]  # [{"name", "type", "required"}] from an MLflow colspec schema
    schema: str  # the raw schema when it is not a colspec (tensor specs, anything else)
    profile: list[tuple[str, str]]


@dataclass(frozen=True)
class LoggedModelRow:
    """A logged model the run produced or used, with its params and metrics."""

    model: LoggedModel
    produced: bool
    params: list[tuple[str, str]]
    metrics: list[Any]  # LoggedModelMetric rows, by key then step


@dataclass
class RunPage:
    """Everything the run page shows about one run."""

    run: Run
    experiment: Experiment
    params: list[tuple[str, str]] = field(default_factory=list)
    system_tags: list[tuple[str, str]] = field(default_factory=list)
    user_tags: list[tuple[str, str]] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    datasets: list[DatasetRow] = field(default_factory=list)
    logged_models: list[LoggedModelRow] = field(default_factory=list)
    parent_id: str = ""
    parent: Run | None = None  # None with a parent_id: the parent was purged
    children: list[Run] = field(default_factory=list)
    more_children: bool = False

    @cached_property
    def tags(self) -> dict[str, str]:
        """All tags by key."""
        return dict(self.system_tags + self.user_tags)

    @property
    def user(self) -> str:
        """Who ran it: the run's user id, else the ``mlflow.user`` tag."""
        return self.run.user_id or self.tags.get(MLFLOW_USER, "")

    @property
    def source_name(self) -> str:
        """The script, notebook or project that made the run."""
        return self.tags.get(MLFLOW_SOURCE_NAME, "")

    @property
    def source_type(self) -> str:
        """LOCAL, NOTEBOOK, JOB, PROJECT, ..."""
        return self.tags.get(MLFLOW_SOURCE_TYPE, "")

    @property
    def git_commit(self) -> str:
        """The commit the source was at."""
        return self.tags.get(MLFLOW_GIT_COMMIT, "")

    @property
    def git_branch(self) -> str:
        """The branch the source was on."""
        return self.tags.get(MLFLOW_GIT_BRANCH, "")

    @property
    def git_repo_url(self) -> str:
        """The repository the source came from."""
        return self.tags.get(MLFLOW_GIT_REPO_URL, "")

    @property
    def description(self) -> str:
        """The run's note (``mlflow.note.content``)."""
        return self.tags.get(MLFLOW_RUN_NOTE, "")

    @property
    def deleted(self) -> bool:
        """Whether the run is in the trash."""
        return self.run.lifecycle_stage == LifecycleStage.DELETED


def run_page(run_id: str, *, visible: Visibility = EVERYTHING) -> RunPage:
    """The run page of ``run_id`` (deleted runs too, marked so), in about a dozen queries for any run. A parent run
    or a logged model in an experiment ``visible`` hides is left out (a run may name either across experiments)."""
    run = Run.objects.select_related("experiment").filter(pk=run_id).first()
    if run is None:
        raise not_found(f"Run with id={run_id} not found")
    data = load_run_data([run.run_uuid])[run.run_uuid]
    tags = sorted(data.tags)
    page = RunPage(
        run=run,
        experiment=run.experiment,
        params=sorted(data.params),
        system_tags=[t for t in tags if t[0].startswith(SYSTEM_TAG_PREFIX)],
        user_tags=[t for t in tags if not t[0].startswith(SYSTEM_TAG_PREFIX)],
        metrics=_metric_rows(run, data.metrics),
        datasets=[_dataset_row(d) for d in sorted(data.dataset_inputs, key=lambda d: d.dataset.name)],
        logged_models=_logged_models(run, data.model_inputs, [m for m, _ in data.model_outputs], visible),
        parent_id=dict(tags).get(MLFLOW_PARENT_RUN_ID, ""),
    )
    if page.parent_id:
        page.parent = visible.filter(Run.objects.filter(pk=page.parent_id), "experiment_id").first()
    children = list(_children(run)[: CHILD_LIMIT + 1])
    page.children, page.more_children = children[:CHILD_LIMIT], len(children) > CHILD_LIMIT
    return page


def _metric_rows(run: Run, latest: list[tuple[str, float | None, int, int]]) -> list[MetricRow]:
    """Latest values joined with each series' point count and step extent (one more query, on the same rows)."""
    series = MetricSeries.objects.filter(run=run).values_list("key", "count", "min_step", "max_step")
    extents = {key: extent for key, *extent in series}
    rows = [MetricRow(key, value, ts, step, *extents.get(key, (0, step, step))) for key, value, ts, step in latest]
    return sorted(rows, key=lambda m: m.key)


def _children(run: Run) -> Any:
    """Live runs whose ``mlflow.parentRunId`` is this run, oldest first. Nested runs share their parent's
    experiment, which lets the database walk that experiment's runs instead of every tag of every run."""
    return (
        Run.objects.filter(
            experiment_id=run.experiment_id,
            lifecycle_stage=LifecycleStage.ACTIVE,
            tags__key=MLFLOW_PARENT_RUN_ID,
            tags__value=run.run_uuid,
        )
        .only("run_uuid", "name", "status", "start_time", "end_time")
        .order_by("start_time", "run_uuid")
    )


def _logged_models(run: Run, inputs: list[str], outputs: list[str], visible: Visibility) -> list[LoggedModelRow]:
    """Live logged models this run produced (its own, or linked as outputs) and used (linked as inputs)."""
    ids = set(inputs) | set(outputs)
    query = (
        visible.filter(LoggedModel.objects.filter(Q(source_run_id=run.run_uuid) | Q(pk__in=ids)), "experiment_id")
        .exclude(lifecycle_stage=LifecycleStage.DELETED)
        .prefetch_related("params", "metrics")
        .order_by("creation_timestamp_ms", "pk")
    )
    used = set(inputs) - set(outputs)
    return [
        LoggedModelRow(
            model=model,
            produced=model.source_run_id == run.run_uuid or model.pk not in used,
            params=sorted((p.key, p.value) for p in model.params.all()),
            metrics=sorted(model.metrics.all(), key=lambda m: (m.key, m.step, m.timestamp)),
        )
        for model in query
    ]


def _json(text: str) -> Any:
    """The parsed JSON of a dataset field, or None when it is empty or not JSON."""
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dataset_row(dataset_input: DatasetInput) -> DatasetRow:
    """A dataset input with its schema and profile made readable."""
    dataset = dataset_input.dataset
    schema = _json(dataset.schema)
    colspec = schema.get("mlflow_colspec") if isinstance(schema, dict) else None
    columns = []
    if isinstance(colspec, list):
        columns = [
            {"name": str(c.get("name", "")), "type": _column_type(c.get("type")), "required": c.get("required", True)}
            for c in colspec
            if isinstance(c, dict)
        ]
    profile = _json(dataset.profile)
    tags = [(t.get("key", ""), t.get("value", "")) for t in dataset_input.tags if isinstance(t, dict)]
    return DatasetRow(
        name=dataset.name,
        digest=dataset.digest,
        source_type=dataset.source_type,
        source=dataset.source,
        context=dataset_input.context,
        tags=tags,
        columns=columns,
        schema="" if columns else dataset.schema,
        profile=[(str(k), str(v)) for k, v in profile.items()] if isinstance(profile, dict) else [],
    )


def _column_type(value: Any) -> str:
    """A colspec column type: a name (``double``), or an array/object spec shown as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
