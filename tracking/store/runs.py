"""Runs: lifecycle, params, tags, and the atomic ``log_batch``; plus bulk loading of run data for responses."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection, transaction
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.name_utils import _generate_random_name

from studio.errors import invalid, not_found
from tracking import validation
from tracking.models import (
    DatasetInput,
    LifecycleStage,
    MetricSeries,
    Param,
    Run,
    RunModelLink,
    RunStatus,
    RunTag,
)
from tracking.store import metrics as metric_store
from tracking.store.common import now_ms
from tracking.store.experiments import get_active_experiment

# SQLite allows 32,766 bound variables per statement; stay well below for IN lists.
_IN_CHUNK = 900
_PARAMS = Param._meta.db_table
_TAGS = RunTag._meta.db_table
_SERIES = MetricSeries._meta.db_table


@dataclass
class RunData:
    """What ``runs/get`` and ``runs/search`` return beside the run's info."""

    params: list[tuple[str, str]] = field(default_factory=list)
    tags: list[tuple[str, str]] = field(default_factory=list)
    # (key, value or None for NaN, timestamp, step)
    metrics: list[tuple[str, float | None, int, int]] = field(default_factory=list)
    dataset_inputs: list[DatasetInput] = field(default_factory=list)
    model_inputs: list[str] = field(default_factory=list)
    model_outputs: list[tuple[str, int]] = field(default_factory=list)


def get_run(run_id: str) -> Run:
    """The run with this id, deleted or not."""
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise not_found(f"Run with id={run_id} not found")
    return run


def check_run_active(run: Run) -> None:
    """MLflow refuses writes to a deleted run."""
    if run.lifecycle_stage != LifecycleStage.ACTIVE:
        raise invalid(f"The run {run.run_uuid} must be in the 'active' state. Current state is {run.lifecycle_stage}.")


def get_active_run(run_id: str) -> Run:
    """The run, refusing a deleted one."""
    run = get_run(run_id)
    check_run_active(run)
    return run


def create_run(
    *,
    experiment_id: str,
    user_id: str = "",
    start_time: int | None = None,
    run_name: str | None = None,
    tags: Iterable[tuple[str, str]] = (),
) -> tuple[Run, RunData]:
    """Start a run in an active experiment; returns it with its data (the tags just written), sparing a re-read.
    The name is mirrored in the ``mlflow.runName`` tag, as MLflow does."""
    experiment = get_active_experiment(experiment_id)
    tag_map = dict(validation.tag(k, v, path=f"tags[{i}]") for i, (k, v) in enumerate(tags))
    tag_name = tag_map.get(MLFLOW_RUN_NAME)
    if run_name and tag_name and run_name != tag_name:
        raise invalid(
            f"Both 'run_name' argument and 'mlflow.runName' tag are specified, but with different values "
            f"(run_name='{run_name}', mlflow.runName='{tag_name}')."
        )
    name = run_name or tag_name or _generate_random_name()
    tag_map[MLFLOW_RUN_NAME] = name
    run_id = uuid.uuid4().hex
    with transaction.atomic():
        run = Run.objects.create(
            run_uuid=run_id,
            experiment=experiment,
            name=name,
            user_id=user_id or "",
            status=RunStatus.RUNNING,
            start_time=start_time if start_time is not None else now_ms(),
            artifact_uri=f"{experiment.artifact_location.rstrip('/')}/{run_id}/artifacts",
        )
        RunTag.objects.bulk_create([RunTag(run=run, key=k, value=v) for k, v in tag_map.items()])
    return run, RunData(tags=list(tag_map.items()))


def update_run(
    *, run_id: str, status: str | None = None, end_time: int | None = None, run_name: str | None = None
) -> Run:
    """Change status, end time or name of an active run."""
    run = get_active_run(run_id)
    if status is not None:
        if status not in RunStatus.values:
            raise invalid(f"Invalid run status '{status}'. Valid values are {RunStatus.values}")
        run.status = status
    if end_time is not None:
        run.end_time = end_time
    with transaction.atomic():
        if run_name:
            run.name = run_name
            _upsert_tags(run, [(MLFLOW_RUN_NAME, run_name)])
        run.save(update_fields=["status", "end_time", "name"])
    return run


def delete_run(*, run_id: str, user: str = "") -> None:
    """Soft-delete a run: it goes to the trash, where it keeps its data until it is purged."""
    run = get_run(run_id)
    Run.objects.filter(pk=run.pk).update(lifecycle_stage=LifecycleStage.DELETED, deleted_time=now_ms(), deleted_by=user)


def restore_run(*, run_id: str) -> None:
    """Restore a soft-deleted run."""
    run = get_run(run_id)
    Run.objects.filter(pk=run.pk).update(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None, deleted_by="")


def set_tag(*, run_id: str, key: str, value: str) -> None:
    """Set a run tag; ``mlflow.runName`` renames the run."""
    key, value = validation.tag(key, value)
    run = get_active_run(run_id)
    with transaction.atomic():
        _upsert_tags(run, [(key, value)])


def delete_tag(*, run_id: str, key: str) -> None:
    """Remove a run tag."""
    run = get_active_run(run_id)
    deleted, _ = RunTag.objects.filter(run=run, key=key).delete()
    if not deleted:
        raise not_found(f"No tag with name: {key} in run with id {run_id}")


def log_param(*, run_id: str, key: str, value: str) -> None:
    """Log one param; the same value again is a no-op, a different one is refused."""
    log_batch(run_id=run_id, params=[(key, value)])


def log_batch(
    *,
    run_id: str,
    metrics: list[metric_store.MetricIn] = (),
    params: list[tuple[str, str]] = (),
    tags: list[tuple[str, str]] = (),
) -> None:
    """Write metrics, params and tags in one transaction; everything is validated first, so a refused batch
    writes nothing."""
    validation.batch_limits(metrics, params, tags)
    checked_params = [validation.param(k, v, path=f"params[{i}]") for i, (k, v) in enumerate(params)]
    validation.unique_param_keys([_Keyed(k) for k, _ in checked_params])
    checked_tags = [validation.tag(k, v, path=f"tags[{i}]") for i, (k, v) in enumerate(tags)]
    metric_store.validate_metrics(metrics)
    run = get_active_run(run_id)
    with transaction.atomic():
        if checked_params:
            _insert_params(run, checked_params)
        if checked_tags:
            _upsert_tags(run, checked_tags)
        if metrics:
            metric_store.write_metrics(run, metrics)


@dataclass(frozen=True)
class _Keyed:
    key: str


def _insert_params(run: Run, params: list[tuple[str, str]]) -> None:
    existing = dict(Param.objects.filter(run=run, key__in=[k for k, _ in params]).values_list("key", "value"))
    changed = [
        {"key": k, "old_value": existing[k], "new_value": v} for k, v in params if k in existing and existing[k] != v
    ]
    if changed:
        raise invalid(
            f"Changing param values is not allowed. Params were already logged='{changed}' for run ID='{run.pk}'."
        )
    new = [Param(run=run, key=k, value=v) for k, v in params if k not in existing]
    Param.objects.bulk_create(new, ignore_conflicts=True)


def _upsert_tags(run: Run, tags: list[tuple[str, str]]) -> None:
    latest = dict(tags)
    RunTag.objects.bulk_create(
        [RunTag(run=run, key=k, value=v) for k, v in latest.items()],
        update_conflicts=True,
        unique_fields=["run", "key"],
        update_fields=["value"],
    )
    if MLFLOW_RUN_NAME in latest and latest[MLFLOW_RUN_NAME] != run.name:
        run.name = latest[MLFLOW_RUN_NAME]
        Run.objects.filter(pk=run.pk).update(name=run.name)


def load_run_data(run_ids: list[str]) -> dict[str, RunData]:
    """Params, tags, latest metrics, datasets and model links of many runs, in a handful of queries."""
    data: dict[str, RunData] = defaultdict(RunData)
    for start in range(0, len(run_ids), _IN_CHUNK):
        chunk = run_ids[start : start + _IN_CHUNK]
        # Plain SQL for the three big tables: a runs/search page reads ~25 rows per run, and the ORM's per-row and
        # per-bound-id overhead made these reads ~40% slower (a 550-run page: 30 -> 24 ms of CPU on SQLite).
        marks = ", ".join(["%s"] * len(chunk))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT run_id, key, value FROM {_PARAMS} WHERE run_id IN ({marks})", chunk)
            for run_id, key, value in cursor.fetchall():
                data[run_id].params.append((key, value))
            cursor.execute(f"SELECT run_id, key, value FROM {_TAGS} WHERE run_id IN ({marks})", chunk)
            for run_id, key, value in cursor.fetchall():
                data[run_id].tags.append((key, value))
            cursor.execute(
                f"SELECT run_id, key, value, timestamp, step FROM {_SERIES} WHERE run_id IN ({marks})", chunk
            )
            for run_id, *metric in cursor.fetchall():
                data[run_id].metrics.append(tuple(metric))
        for dataset_input in DatasetInput.objects.filter(run_id__in=chunk).select_related("dataset"):
            data[dataset_input.run_id].dataset_inputs.append(dataset_input)
        for run_id, model_id, direction, step in RunModelLink.objects.filter(run_id__in=chunk).values_list(
            "run_id", "model_id", "direction", "step"
        ):
            if direction == RunModelLink.Direction.INPUT:
                data[run_id].model_inputs.append(model_id)
            else:
                data[run_id].model_outputs.append((model_id, step))
    return data
