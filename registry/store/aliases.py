"""Aliases: named, movable pointers to versions (``models:/name@champion``). Every set, move and removal is recorded,
so ``registry.store.events.alias_at`` can say which version an alias named at any moment."""

from __future__ import annotations

from django.db import transaction

from registry import validation
from registry.models import ModelVersion, RegisteredModelAlias
from registry.store import events
from registry.store.models import get_model_row, latest_per_stage, lock_model, touch
from registry.store.versions import get_version_row
from studio.errors import invalid, not_found
from tracking.store.common import now_ms

Action = events.Action
_LATEST = "latest"


def set_registered_model_alias(*, name: str, alias: str, version: str | int, user: str = "") -> None:
    """Point an alias at a version, moving it if it pointed elsewhere."""
    validation.model_name(name)
    validation.settable_alias_name(alias)
    validation.version_number(version)
    with transaction.atomic():
        model = lock_model(name)
        target = get_version_row(name, version)
        current = (
            RegisteredModelAlias.objects.filter(registered_model=model, alias=alias)
            .select_related("model_version")
            .first()
        )
        if current is not None and current.model_version_id == target.pk:
            return
        old = str(current.model_version.version) if current is not None else None
        RegisteredModelAlias.objects.update_or_create(
            registered_model=model, alias=alias, defaults={"model_version": target}
        )
        now = now_ms()
        events.record(
            model,
            Action.ALIAS_SET,
            user=user,
            version=target.version,
            alias=alias,
            old_value=old,
            new_value=str(target.version),
            timestamp=now,
        )
        touch(model, now)


def delete_registered_model_alias(*, name: str, alias: str, user: str = "") -> None:
    """Remove an alias; removing one that is not set is not an error, as in MLflow."""
    validation.model_name(name)
    validation.alias_name(alias)
    with transaction.atomic():
        model = lock_model(name)
        current = (
            RegisteredModelAlias.objects.filter(registered_model=model, alias=alias)
            .select_related("model_version")
            .first()
        )
        if current is None:
            return
        version = current.model_version.version
        current.delete()
        now = now_ms()
        events.record(
            model, Action.ALIAS_DELETED, user=user, version=version, alias=alias, old_value=str(version), timestamp=now
        )
        touch(model, now)


def get_model_version_by_alias(*, name: str, alias: str) -> ModelVersion:
    """The version an alias points to; ``latest`` is the newest version. An unknown alias is
    INVALID_PARAMETER_VALUE, not 404: MLflow's answer, which the client relies on."""
    validation.model_name(name)
    validation.alias_name(alias)
    model = get_model_row(name)
    if alias.lower() == _LATEST:
        candidates = latest_per_stage([model])
        if not candidates:
            raise not_found(f"Latest version not found for model {name}.")
        return max(candidates, key=lambda v: v.version)
    version = (
        RegisteredModelAlias.objects.filter(registered_model=model, alias=alias)
        .values_list("model_version__version", flat=True)
        .first()
    )
    if version is None:
        raise invalid(f"Registered model alias {alias} not found.")
    return get_version_row(name, version)
