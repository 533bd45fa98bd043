"""The storage page's query: totals, the experiments, runs and files taking the most space, all read from the usage
rows (never the store) with SQL sums and ``ORDER BY ... LIMIT``, in a fixed handful of queries for any number of runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Q, Sum

from studio.errors import invalid, not_found
from tracking.models import Experiment, LifecycleStage, Run, StorageKind, StorageUsage, StoredFile
from tracking.store.storage import Usage

TOP = 50  # rows of each table


@dataclass(frozen=True)
class KindTotal:
    """The roots of one kind (runs, logged models, registry copies): how many, their bytes and files."""

    roots: int = 0
    bytes: int = 0
    files: int = 0


@dataclass(frozen=True)
class ExperimentUsage:
    """An experiment's runs and logged models together."""

    experiment_id: int
    name: str
    deleted: bool
    runs_with_artifacts: int
    bytes: int
    files: int


@dataclass(frozen=True)
class RunUsage:
    """One run's artifact root."""

    run_id: str
    name: str
    experiment_id: int | None
    experiment_name: str
    deleted: bool
    exists: bool  # False for a run removed around Studio, whose row the next reconcile drops
    bytes: int
    files: int


@dataclass(frozen=True)
class FileUsage:
    """One of the largest files, with the root it lies in (and the run, when it is a run's)."""

    path: str
    size: int
    kind: str
    owner_id: str
    owner_label: str
    run_id: str = ""  # set for files of runs that exist, whose artifacts tab can show the file


@dataclass(frozen=True)
class StoragePage:
    """Everything the storage page shows, for the whole store or one experiment."""

    experiment: Experiment | None
    total: Usage
    kinds: dict[str, KindTotal]
    stale: int
    experiments: list[ExperimentUsage] = field(default_factory=list)
    runs: list[RunUsage] = field(default_factory=list)
    files: list[FileUsage] = field(default_factory=list)


def _scope(experiment: Experiment | None) -> Q:
    return Q(experiment_id=experiment.pk) if experiment else Q()


def _kind_totals(scope: Q) -> tuple[dict[str, KindTotal], int]:
    """Per kind totals, and how many roots wait for a rescan: one GROUP BY."""
    rows = (
        StorageUsage.objects.filter(scope)
        .values("kind")
        .annotate(
            roots=Count("pk"),
            total_bytes=Sum("bytes"),
            total_files=Sum("files"),
            waiting=Count("pk", filter=Q(stale=True)),
        )
        .order_by()
    )
    kinds = {kind: KindTotal() for kind in StorageKind.values}
    stale = 0
    for row in rows:
        kinds[row["kind"]] = KindTotal(row["roots"], row["total_bytes"] or 0, row["total_files"] or 0)
        stale += row["waiting"]
    return kinds, stale


def _experiments(scope: Q) -> list[ExperimentUsage]:
    """The experiments holding the most bytes (their runs' and logged models' roots)."""
    tracked = [StorageKind.RUN, StorageKind.LOGGED_MODEL]
    totals = list(
        StorageUsage.objects.filter(scope, kind__in=tracked, experiment_id__isnull=False)
        .values("experiment_id")
        .annotate(
            total_bytes=Sum("bytes"),
            total_files=Sum("files"),
            runs=Count("pk", filter=Q(kind=StorageKind.RUN, files__gt=0)),
        )
        .filter(total_files__gt=0)
        .order_by("-total_bytes", "experiment_id")[:TOP]
    )
    known = Experiment.objects.filter(pk__in=[row["experiment_id"] for row in totals])
    names = {pk: (name, stage) for pk, name, stage in known.values_list("pk", "name", "lifecycle_stage")}
    experiments = []
    for row in totals:
        # An experiment removed around Studio keeps its rows until the next reconcile.
        name, stage = names.get(row["experiment_id"], (f"Experiment {row['experiment_id']} (gone)", ""))
        experiments.append(
            ExperimentUsage(
                experiment_id=row["experiment_id"],
                name=name,
                deleted=stage != LifecycleStage.ACTIVE,
                runs_with_artifacts=row["runs"],
                bytes=row["total_bytes"],
                files=row["total_files"],
            )
        )
    return experiments


def _largest_roots(scope: Q) -> tuple[list[StorageUsage], list[StoredFile]]:
    runs = StorageUsage.objects.filter(scope, kind=StorageKind.RUN, files__gt=0).order_by("-bytes", "pk")[:TOP]
    files = StoredFile.objects.filter(scope).select_related("usage").order_by("-size", "pk")[:TOP]
    return list(runs), list(files)


def storage_page(*, experiment_id: str | None = None) -> StoragePage:
    """What the storage page shows: for the whole store, or one experiment's roots when ``experiment_id`` is given."""
    experiment = _experiment(experiment_id) if experiment_id else None
    scope = _scope(experiment)
    kinds, stale = _kind_totals(scope)
    roots, files = _largest_roots(scope)
    run_ids = {row.owner_id for row in roots} | {f.usage.owner_id for f in files if f.usage.kind == StorageKind.RUN}
    runs = {
        run["run_uuid"]: run
        for run in Run.objects.filter(pk__in=run_ids).values(
            "run_uuid", "name", "lifecycle_stage", "experiment_id", "experiment__name"
        )
    }
    return StoragePage(
        experiment=experiment,
        total=Usage(sum(k.bytes for k in kinds.values()), sum(k.files for k in kinds.values())),
        kinds=kinds,
        stale=stale,
        experiments=_experiments(scope),
        runs=[_run_usage(row, runs.get(row.owner_id)) for row in roots],
        files=[_file_usage(stored, stored.usage.owner_id in runs) for stored in files],
    )


def _experiment(experiment_id: str) -> Experiment:
    try:
        pk = int(experiment_id)
    except ValueError:
        raise invalid(f"Invalid experiment id {experiment_id!r}") from None
    experiment = Experiment.objects.filter(pk=pk).first() if 0 <= pk < 2**63 else None
    if experiment is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    return experiment


def _run_usage(row: StorageUsage, run: dict | None) -> RunUsage:
    """A run's row, named as the run is now (its row's label if the run is gone)."""
    return RunUsage(
        run_id=row.owner_id,
        name=(run["name"] if run else row.label) or row.owner_id,
        experiment_id=run["experiment_id"] if run else row.experiment_id,
        experiment_name=run["experiment__name"] if run else "",
        deleted=run is not None and run["lifecycle_stage"] == LifecycleStage.DELETED,
        exists=run is not None,
        bytes=row.bytes,
        files=row.files,
    )


def _file_usage(stored: StoredFile, run_exists: bool) -> FileUsage:
    usage = stored.usage
    linked = usage.kind == StorageKind.RUN and run_exists
    return FileUsage(
        path=stored.path,
        size=stored.size,
        kind=usage.kind,
        owner_id=usage.owner_id,
        owner_label=usage.label or usage.owner_id,
        run_id=usage.owner_id if linked else "",
    )
