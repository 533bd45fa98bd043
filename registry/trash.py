"""The registry's trash: deleted registered models and model versions, which keep their rows and files until an
admin restores or purges them (``studio.cleanup.kinds``).

A trashed model takes its versions with it: they are not listed on their own, and purging the model removes them
all. A deleted version of a live model is listed by itself. A purged version keeps its row (its number stays taken,
its history readable) with ``purged_timestamp`` set, and is never listed again.

Nothing a deployment still serves may lose its files. The registry cannot know about deployments (they depend on
it), so ``deployments`` registers a check here (``register_in_use_check``) that the trash asks before a purge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from registry.models import ModelVersion, RegisteredModel, Stage
from registry.store import events
from registry.store.models import model_storage_folder, touch
from studio.auth import permissions
from studio.cleanup.kinds import Filter, SkipItem, TrashItem, TrashKind
from studio.errors import StudioError, already_exists, invalid, not_found
from tracking import artifacts
from tracking.store.common import now_ms

Action = events.Action
# Version pks -> why each of those still needed is (e.g. "served by endpoint 'x'"); the others are left out.
InUseCheck = Callable[[list[int]], dict[int, str]]
_IN_USE_CHECKS: list[InUseCheck] = []


def register_in_use_check(check: InUseCheck) -> None:
    """Add a check of which versions are still needed (from an ``AppConfig.ready``); adding it again is a no-op."""
    if check not in _IN_USE_CHECKS:
        _IN_USE_CHECKS.append(check)


def versions_in_use(version_pks: Sequence[int]) -> dict[int, str]:
    """Why each of these versions may not lose its files, for those that may not (every check's reasons joined)."""
    reasons: dict[int, list[str]] = {}
    if version_pks:
        for check in _IN_USE_CHECKS:
            for pk, reason in check(list(version_pks)).items():
                reasons.setdefault(pk, []).append(reason)
    return {pk: "; ".join(found) for pk, found in reasons.items()}


def _pks(ids: Iterable[str]) -> list[int]:
    """The object ids that can be primary keys (anything else names nothing)."""
    return [int(i) for i in map(str, ids) if i.isdigit() and len(i) < 19]


def _pk(object_id: str) -> int | None:
    found = _pks([object_id])
    return found[0] if found else None


def _in_registry(path: str) -> list[str]:
    """A folder to delete at purge, only if it is one of the registry's own: nothing outside ``registry/``."""
    return [path] if path.startswith(f"{artifacts.REGISTRY_ROOT}/") else []


def _lock_model(pk: int) -> RegisteredModel | None:
    """The model row (live or trashed), locked like ``lock_model`` does, so that restores and purges queue."""
    return RegisteredModel.all_objects.select_for_update().filter(pk=pk).first()


def _model_reasons(model_pks: Sequence[int]) -> dict[int, str]:
    """Why each of these models may not be purged: which of its versions are still needed, and why."""
    if not _IN_USE_CHECKS or not model_pks:
        return {}
    rows = ModelVersion.objects.filter(registered_model_id__in_list=list(model_pks))
    versions = list(rows.values_list("pk", "registered_model_id", "version"))
    in_use = versions_in_use([pk for pk, _, _ in versions])
    reasons: dict[int, list[str]] = {}
    for pk, model_pk, number in sorted(versions, key=lambda v: v[2]):
        if pk in in_use:
            reasons.setdefault(model_pk, []).append(f"version {number}: {in_use[pk]}")
    return {pk: "; ".join(found) for pk, found in reasons.items()}


class RegisteredModelKind(TrashKind):
    """Registered models in the trash, each with all its versions and their files."""

    kind = "registered_model"
    label = "Registered models"
    in_experiments = False

    def _query(self, where: Filter) -> QuerySet[RegisteredModel]:
        query = RegisteredModel.all_objects.filter(deleted_timestamp__isnull=False)
        if where.experiment_ids is not None:
            # A selection by experiment never reaches the registry: its copies belong to no experiment.
            return query.none()
        if where.older_than_ms is not None:
            query = query.filter(deleted_timestamp__lt=where.older_than_ms)
        if where.ids is not None:
            query = query.filter(pk__in_list=_pks(where.ids))
        return query

    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """The trashed models, the most recently deleted first, with the bytes of their versions not yet purged."""
        kept = Q(versions__purged_timestamp__isnull=True)
        query = self._query(where).annotate(
            kept_bytes=Coalesce(Sum("versions__size_bytes", filter=kept), 0),
            kept_files=Coalesce(Sum("versions__file_count", filter=kept), 0),
        )
        query = query.order_by("-deleted_timestamp", "-pk")
        models = list(query[:limit] if limit is not None else query)
        blocked = _model_reasons([m.pk for m in models])
        return [
            TrashItem(
                kind=self.kind,
                object_id=str(m.pk),
                name=m.name,
                deleted_at=m.deleted_timestamp,
                deleted_by=m.deleted_by,
                bytes=m.kept_bytes,
                files=m.kept_files,
                folders=_in_registry(model_storage_folder(m.pk)),
                blocked=blocked.get(m.pk, ""),
            )
            for m in models
        ]

    def count(self, where: Filter) -> int:
        """How many trashed models match."""
        return self._query(where).count()

    def restore(self, object_id: str, *, user: str) -> None:
        """Bring a model back with its versions as they were (aliases were removed at delete, as MLflow does)."""
        pk = _pk(object_id)
        with transaction.atomic():
            model = _lock_model(pk) if pk is not None else None
            if model is None or model.deleted_timestamp is None:
                raise not_found(f"Registered model {object_id} is not in the trash")
            taken = already_exists(
                f"Cannot restore registered model '{model.name}': a registered model with that name exists now. "
                "Rename the new one (or delete it), then restore this one again."
            )
            if RegisteredModel.objects.filter(name=model.name).exists():
                raise taken
            now = now_ms()
            try:
                with transaction.atomic():  # the unique name is the arbiter against a concurrent create
                    RegisteredModel.all_objects.filter(pk=pk).update(
                        deleted_timestamp=None, deleted_by="", last_updated_timestamp=now
                    )
            except IntegrityError:
                raise taken from None
            # To MLflow the model appears again: recorded as a creation, marked as a restore.
            events.record(model, Action.MODEL_CREATED, user=user, key="restored", new_value=model.name, timestamp=now)

    def purge(self, object_id: str) -> bool:
        """Delete the model's rows (versions, tags, aliases) if it is still in the trash and nothing needs them."""
        pk = _pk(object_id)
        if pk is None:
            return False
        with transaction.atomic():
            model = _lock_model(pk)
            if model is None:
                return False
            if model.deleted_timestamp is None:
                raise SkipItem(f"Registered model '{model.name}' was restored")
            reason = _model_reasons([pk]).get(pk)
            if reason:
                raise StudioError(f"Registered model '{model.name}' is still needed: {reason}", "RESOURCE_CONFLICT")
            model.delete()
            # In the purge's transaction: no permission row outlives the model it was about.
            permissions.forget("registered_model", [pk])
        return True


class ModelVersionKind(TrashKind):
    """Deleted versions of live registered models (those of a trashed model go with it)."""

    kind = "model_version"
    label = "Model versions"
    in_experiments = False

    def _query(self, where: Filter) -> QuerySet[ModelVersion]:
        query = ModelVersion.objects.filter(
            current_stage=Stage.DELETED, purged_timestamp__isnull=True, registered_model__deleted_timestamp__isnull=True
        )
        if where.experiment_ids is not None:
            return query.none()
        if where.older_than_ms is not None:
            query = query.filter(deleted_timestamp__lt=where.older_than_ms)
        if where.ids is not None:
            query = query.filter(pk__in_list=_pks(where.ids))
        return query

    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """The deleted versions, the most recently deleted first, with their files' size."""
        query = self._query(where).select_related("registered_model").order_by("-deleted_timestamp", "-pk")
        versions = list(query[:limit] if limit is not None else query)
        blocked = versions_in_use([v.pk for v in versions])
        return [
            TrashItem(
                kind=self.kind,
                object_id=str(v.pk),
                name=f"{v.registered_model.name} v{v.version}",
                deleted_at=v.deleted_timestamp,
                deleted_by=v.deleted_by,
                bytes=v.size_bytes,
                files=v.file_count,
                parent=v.registered_model.name,
                folders=_in_registry(v.storage_path),
                blocked=blocked.get(v.pk, ""),
            )
            for v in versions
        ]

    def count(self, where: Filter) -> int:
        """How many deleted versions match."""
        return self._query(where).count()

    def restore(self, object_id: str, *, user: str) -> None:
        """Bring a version back in stage None (its old stage is not kept, and its aliases are not restored)."""
        pk = _pk(object_id)
        row = ModelVersion.objects.filter(pk=pk).select_related("registered_model").first() if pk is not None else None
        missing = not_found(f"Model version {object_id} is not in the trash")
        if row is None:
            raise missing
        with transaction.atomic():
            model = _lock_model(row.registered_model_id)
            if model is not None and model.deleted_timestamp is not None:
                raise invalid(
                    f"Version {row.version} belongs to registered model '{model.name}', which is in the trash: "
                    "restore the model instead (its versions come back with it)."
                )
            now = now_ms()
            restored = ModelVersion.objects.filter(
                pk=pk, current_stage=Stage.DELETED, purged_timestamp__isnull=True
            ).update(current_stage=Stage.NONE, deleted_timestamp=None, deleted_by="", last_updated_timestamp=now)
            if not restored or model is None:
                raise missing  # not deleted, purged, or gone with its model
            touch(model, now)
            events.record(
                model, Action.VERSION_CREATED, user=user, version=row.version, key="restored", new_value=row.source
            )

    def purge(self, object_id: str) -> bool:
        """Mark the version purged (its row stays, so its number stays taken) if it is still deleted and unneeded."""
        pk = _pk(object_id)
        row = ModelVersion.objects.filter(pk=pk).select_related("registered_model").first() if pk is not None else None
        if row is None or row.purged_timestamp is not None:
            return False
        label = f"{row.registered_model.name} v{row.version}"
        with transaction.atomic():
            _lock_model(row.registered_model_id)  # a version's stage changes only under its model's lock
            state = ModelVersion.objects.filter(pk=pk).values_list("current_stage", "purged_timestamp").first()
            if state is None or state[1] is not None:
                return False  # purged meanwhile, or its whole model was
            if state[0] != Stage.DELETED:
                raise SkipItem(f"Model version {label} was restored")
            reason = versions_in_use([pk]).get(pk)
            if reason:
                raise StudioError(f"Model version {label} is still needed: {reason}", "RESOURCE_CONFLICT")
            ModelVersion.objects.filter(pk=pk).update(purged_timestamp=now_ms())
        return True
