"""Tracking's kinds of trash: deleted experiments (with their runs and logged models), runs and logged models.

A run or logged model of a deleted experiment is listed with its experiment, not on its own: they went together and
come back together. Sizes come from the storage usage rows (rescanned where stale), never from a walk of the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.urls import reverse

from studio.cleanup.kinds import Filter, TrashItem, TrashKind
from studio.errors import invalid
from tracking import artifacts
from tracking.models import Experiment, LifecycleStage, LoggedModel, Run, StorageKind, StorageUsage
from tracking.store import experiments, logged_models, purge, runs, storage

DAY_MS = 86_400_000
STALE_RESCANS = 200


def _filtered(query: QuerySet[Any], where: Filter, *, experiment_field: str) -> QuerySet[Any]:
    if where.older_than_ms is not None:
        query = query.filter(deleted_time__lt=where.older_than_ms)
    if where.ids is not None:
        query = query.filter(pk__in=list(where.ids))
    if where.experiment_ids is not None:
        query = query.filter(**{f"{experiment_field}__in": _int_ids(where.experiment_ids)})
    return query


def _int_ids(ids: Iterable[str]) -> list[int]:
    try:
        return [int(i) for i in ids]
    except ValueError:
        raise invalid(f"Experiment ids are integers, not {list(ids)!r}") from None


def _expired(query: QuerySet[Any], now_ms: int, default_days: int | None, experiment_field: str) -> QuerySet[Any]:
    """Deleted before their experiment's retention (or the default retention, for experiments without a rule)."""
    rule = F(f"{experiment_field}trash_retention_days")
    condition = Q(**{f"{experiment_field}trash_retention_days__isnull": False}, deleted_time__lt=now_ms - rule * DAY_MS)
    if default_days is not None:
        condition |= Q(
            **{f"{experiment_field}trash_retention_days__isnull": True}, deleted_time__lt=now_ms - default_days * DAY_MS
        )
    return query.filter(condition)


class RunKind(TrashKind):
    """Deleted runs of live experiments."""

    kind = "run"
    label = "Runs"

    def _query(self, where: Filter) -> QuerySet[Run]:
        query = Run.objects.filter(lifecycle_stage=LifecycleStage.DELETED)
        if where.ids is None:  # asked for by id (`studio gc --run-ids`), a run of a deleted experiment is fine too
            query = query.filter(experiment__lifecycle_stage=LifecycleStage.ACTIVE)
        return _filtered(query, where, experiment_field="experiment_id")

    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """Deleted runs, the most recently deleted first."""
        return self.items(self._query(where).order_by("-deleted_time", "run_uuid")[:limit])

    def count(self, where: Filter) -> int:
        """How many deleted runs match."""
        return self._query(where).count()

    def expired(self, now_ms: int, default_days: int | None) -> list[TrashItem]:
        """Deleted runs past their experiment's retention."""
        query = self._query(Filter()).select_related("experiment")
        return self.items(_expired(query, now_ms, default_days, "experiment__").order_by("deleted_time"))

    @staticmethod
    def items(query: Iterable[Run]) -> list[TrashItem]:
        """Trash items of these runs, with their usage."""
        rows = list(query.select_related("experiment") if isinstance(query, QuerySet) else query)
        usage = storage.usage_of(StorageKind.RUN, [run.pk for run in rows])
        items = []
        for run in rows:
            folder = purge.owned_folder(run.artifact_uri, run.pk)
            used = usage.get(run.pk, storage.Usage())
            items.append(
                TrashItem(
                    kind="run",
                    object_id=run.pk,
                    name=run.name or run.pk,
                    deleted_at=run.deleted_time,
                    deleted_by=run.deleted_by,
                    bytes=used.bytes,
                    files=used.files,
                    parent=run.experiment.name,
                    folders=[folder] if folder else [],
                    url=reverse("tracking:run-detail", args=[run.pk]),
                )
            )
        return items

    def restore(self, object_id: str, *, user: str) -> None:
        """Restore a run; one of a deleted experiment comes back with its experiment only."""
        run = runs.get_run(object_id)
        if run.lifecycle_stage != LifecycleStage.DELETED:
            raise invalid(f"Run {object_id} is not deleted.")
        if run.experiment.lifecycle_stage == LifecycleStage.DELETED:
            raise invalid(f"Run {object_id} is in a deleted experiment: restore the experiment instead.")
        runs.restore_run(run_id=object_id)

    def purge(self, object_id: str) -> bool:
        """Delete the run's rows."""
        return purge.purge_run_rows(object_id)


class LoggedModelKind(TrashKind):
    """Deleted logged models (MLflow 3) of live experiments."""

    kind = "logged_model"
    label = "Logged models"

    def _query(self, where: Filter) -> QuerySet[LoggedModel]:
        query = LoggedModel.objects.filter(lifecycle_stage=LifecycleStage.DELETED)
        if where.ids is None:
            query = query.filter(experiment__lifecycle_stage=LifecycleStage.ACTIVE)
        return _filtered(query, where, experiment_field="experiment_id")

    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """Deleted logged models, the most recently deleted first."""
        return self.items(self._query(where).order_by("-deleted_time", "model_id")[:limit])

    def count(self, where: Filter) -> int:
        """How many deleted logged models match."""
        return self._query(where).count()

    def expired(self, now_ms: int, default_days: int | None) -> list[TrashItem]:
        """Deleted logged models past their experiment's retention."""
        query = _expired(self._query(Filter()), now_ms, default_days, "experiment__")
        return self.items(query.order_by("deleted_time"))

    @staticmethod
    def items(query: Iterable[LoggedModel]) -> list[TrashItem]:
        """Trash items of these logged models, with their usage."""
        rows = list(query.select_related("experiment") if isinstance(query, QuerySet) else query)
        usage = storage.usage_of(StorageKind.LOGGED_MODEL, [model.pk for model in rows])
        items = []
        for model in rows:
            folder = purge.owned_folder(model.artifact_uri, model.pk)
            used = usage.get(model.pk, storage.Usage())
            items.append(
                TrashItem(
                    kind="logged_model",
                    object_id=model.pk,
                    name=model.name,
                    deleted_at=model.deleted_time,
                    deleted_by=model.deleted_by,
                    bytes=used.bytes,
                    files=used.files,
                    parent=model.experiment.name,
                    folders=[folder] if folder else [],
                )
            )
        return items

    def restore(self, object_id: str, *, user: str) -> None:
        """Restore a logged model (not one of a deleted experiment)."""
        logged_models.restore_logged_model(model_id=object_id)

    def purge(self, object_id: str) -> bool:
        """Delete the logged model's rows."""
        return purge.purge_logged_model_rows(object_id)


class ExperimentKind(TrashKind):
    """Deleted experiments; purging one purges its runs and logged models first."""

    kind = "experiment"
    label = "Experiments"

    def _query(self, where: Filter) -> QuerySet[Experiment]:
        query = Experiment.objects.filter(lifecycle_stage=LifecycleStage.DELETED)
        if where.ids is not None:
            where = Filter(older_than_ms=where.older_than_ms, ids=_int_ids(where.ids))
        return _filtered(query, where, experiment_field="pk")

    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """Deleted experiments, the most recently deleted first, sized by the usage rows of what they hold."""
        return self.items(self._query(where).order_by("-deleted_time", "-pk")[:limit])

    def count(self, where: Filter) -> int:
        """How many deleted experiments match."""
        return self._query(where).count()

    def expired(self, now_ms: int, default_days: int | None) -> list[TrashItem]:
        """Deleted experiments past their own retention (or the default)."""
        return self.items(_expired(self._query(Filter()), now_ms, default_days, "").order_by("deleted_time"))

    @staticmethod
    def items(query: Iterable[Experiment]) -> list[TrashItem]:
        """Trash items of these experiments; bytes summed from the usage rows (at most a bounded few rescanned)."""
        rows = list(query)
        # Bring the sums up to date first where a recent write left a root stale (bounded: a listing stays quick).
        stale = StorageUsage.objects.filter(experiment_id__in=[e.pk for e in rows], stale=True)[:STALE_RESCANS]
        for row in stale:
            storage.rescan(row)
        usage = {
            row["experiment_id"]: row
            for row in StorageUsage.objects.filter(experiment_id__in=[e.pk for e in rows])
            .values("experiment_id")
            .annotate(total=Sum("bytes"), count=Sum("files"))
        }
        items = []
        for experiment in rows:
            folder = purge.experiment_folder(experiment)
            items.append(
                TrashItem(
                    kind="experiment",
                    object_id=str(experiment.pk),
                    name=experiment.name,
                    deleted_at=experiment.deleted_time,
                    deleted_by=experiment.deleted_by,
                    bytes=usage.get(experiment.pk, {}).get("total") or 0,
                    files=usage.get(experiment.pk, {}).get("count") or 0,
                    folders=[folder] if folder else [],
                    url=reverse("tracking:experiment-detail", args=[experiment.pk]),
                )
            )
        return items

    def expand(self, item: TrashItem) -> list[TrashItem]:
        """Its deleted runs and logged models (exactly sized), then the experiment itself.

        MLflow's delete_experiment leaves the experiment's logged models active; they go with the experiment, as part
        of its own item. An active run (restored on its own) keeps the experiment."""
        pk = int(item.object_id)
        children = RunKind.items(
            Run.objects.filter(experiment_id=pk, lifecycle_stage=LifecycleStage.DELETED).order_by("run_uuid")
        )
        models = list(LoggedModel.objects.filter(experiment_id=pk).select_related("experiment").order_by("model_id"))
        children += LoggedModelKind.items([m for m in models if m.lifecycle_stage == LifecycleStage.DELETED])
        carried = LoggedModelKind.items([m for m in models if m.lifecycle_stage != LifecycleStage.DELETED])
        own = TrashItem(
            **{**item.__dict__, "bytes": sum(c.bytes for c in carried), "files": sum(c.files for c in carried)}
        )
        if not own.folders:  # not Studio's own folder: the carried models' folders go one by one
            own.folders = [folder for c in carried for folder in c.folders]
        active = Run.objects.filter(experiment_id=pk).exclude(lifecycle_stage=LifecycleStage.DELETED).count()
        if active:
            own.blocked = f"holds {active} active run(s)"
        return [*children, own]

    def restore(self, object_id: str, *, user: str) -> None:
        """Restore the experiment and the runs deleted with it."""
        experiments.restore_experiment(experiment_id=object_id)

    def purge(self, object_id: str) -> bool:
        """Delete the experiment's remaining rows (its runs and models are purged as items before it)."""
        return purge.purge_experiment_rows(object_id)


def remove_folders(folders: Sequence[str]) -> None:
    """Delete purged folders from the artifact store, and their usage rows."""
    for folder in folders:
        artifacts.delete_artifacts(folder)
    storage.forget(folders)


def register() -> None:
    """Make tracking's kinds known to the trash, and how purged folders are deleted."""
    from studio.cleanup import kinds

    for kind in (ExperimentKind(), RunKind(), LoggedModelKind()):
        kinds.register(kind)
    kinds.register_folder_remover(remove_folders)
