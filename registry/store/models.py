"""Registered models: create, read, rename, update, delete, tags, search, and the latest version of each stage."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from mlflow.entities.model_registry.model_version_stages import ALL_STAGES

from registry import validation
from registry.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    Stage,
)
from registry.store import events
from registry.store.search import model_filter, model_ordering
from studio.auth import permissions
from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import already_exists, invalid, not_found
from tracking import artifacts
from tracking.search import cut_page, page_offset
from tracking.store.common import now_ms

Action = events.Action
SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT = 100
SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD = 1000


@dataclass
class ModelDetails:
    """A registered model with what its message carries: tags, aliases, and the latest version of each stage."""

    model: RegisteredModel
    tags: list[tuple[str, str]] = field(default_factory=list)
    aliases: list[tuple[str, int]] = field(default_factory=list)
    latest_versions: list[ModelVersion] = field(default_factory=list)


def get_model_row(name: str) -> RegisteredModel:
    """The registered model with this exact name."""
    validation.model_name(name)
    model = RegisteredModel.objects.filter(name=name).first()
    if model is None:
        raise not_found(f"Registered Model with name={name} not found")
    return model


def lock_model(name: str) -> RegisteredModel:
    """The model row, locked until the end of the transaction (PostgreSQL; SQLite's IMMEDIATE transactions
    serialize writers already), so that concurrent version numbers and alias moves queue."""
    validation.model_name(name)
    model = RegisteredModel.objects.select_for_update().filter(name=name).first()
    if model is None:
        raise not_found(f"Registered Model with name={name} not found")
    return model


def touch(model: RegisteredModel, timestamp: int) -> None:
    """Record that something in the model changed (MLflow bumps ``last_updated_timestamp`` on version changes)."""
    model.last_updated_timestamp = timestamp
    RegisteredModel.objects.filter(pk=model.pk).update(last_updated_timestamp=timestamp)


def create_registered_model(
    *,
    name: str,
    tags: Iterable[tuple[str, str]] = (),
    description: str = "",
    deployment_job_id: str = "",
    user: str = "",
    owner: permissions.User | None = None,
) -> RegisteredModel:
    """Create a model with no versions; a taken name is RESOURCE_ALREADY_EXISTS (which the client tolerates). The
    ``owner`` (the signed-in creator) gets MANAGE on it."""
    validation.model_name(name)
    validation.id_field("deployment_job_id", deployment_job_id or "")
    tag_map = dict(tags)
    for key, value in tag_map.items():
        validation.registered_model_tag(key, value)
    now = now_ms()
    try:
        with transaction.atomic():
            model = RegisteredModel.objects.create(
                name=name,
                description=description or "",
                user_id=user or "",
                creation_timestamp=now,
                last_updated_timestamp=now,
                deployment_job_id=deployment_job_id or "",
            )
            RegisteredModelTag.objects.bulk_create(
                [RegisteredModelTag(registered_model=model, key=k, value=v) for k, v in tag_map.items()]
            )
            events.record(model, Action.MODEL_CREATED, user=user, new_value=name, timestamp=now)
            permissions.grant_creator(owner, "registered_model", model.pk)
    except IntegrityError:
        raise already_exists(f"Registered Model (name={name}) already exists.") from None
    return model


def rename_registered_model(*, name: str, new_name: str, user: str = "") -> RegisteredModel:
    """Rename a model; its versions, tags and aliases go with it."""
    validation.new_model_name(new_name)
    try:
        with transaction.atomic():
            model = lock_model(name)
            now = now_ms()
            RegisteredModel.objects.filter(pk=model.pk).update(name=new_name, last_updated_timestamp=now)
            ModelVersion.objects.filter(registered_model=model).update(last_updated_timestamp=now)
            model.name, model.last_updated_timestamp = new_name, now
            events.record(model, Action.MODEL_RENAMED, user=user, old_value=name, new_value=new_name, timestamp=now)
    except IntegrityError:
        raise already_exists(f"Registered Model (name={new_name}) already exists.") from None
    return model


def update_registered_model(
    *, name: str, description: str | None = None, deployment_job_id: str | None = None, user: str = ""
) -> RegisteredModel:
    """Change a model's description (and MLflow 3's deployment job id)."""
    with transaction.atomic():
        model = lock_model(name)
        now = now_ms()
        old = model.description
        if description is not None:
            model.description = description
        if deployment_job_id is not None:
            model.deployment_job_id = validation.id_field("deployment_job_id", deployment_job_id)
        model.last_updated_timestamp = now
        model.save(update_fields=["description", "deployment_job_id", "last_updated_timestamp"])
        if description is not None and description != old:
            events.record(
                model, Action.MODEL_UPDATED, user=user, key="description", old_value=old, new_value=description
            )
    return model


def delete_registered_model(*, name: str, user: str = "") -> None:
    """Move a model to the trash: to MLflow it is gone (its aliases with it) and its name is free again, but its
    versions, tags and files stay until it is purged, so that it can be restored."""
    with transaction.atomic():
        model = lock_model(name)
        now = now_ms()
        for alias, version in RegisteredModelAlias.objects.filter(registered_model=model).values_list(
            "alias", "model_version__version"
        ):
            events.record(model, Action.ALIAS_DELETED, user=user, alias=alias, old_value=str(version), timestamp=now)
        RegisteredModelAlias.objects.filter(registered_model=model).delete()
        events.record(model, Action.MODEL_DELETED, user=user, old_value=name, timestamp=now)
        RegisteredModel.objects.filter(pk=model.pk).update(deleted_timestamp=now, deleted_by=user or "")


def model_storage_folder(model_pk: int) -> str:
    """Where the copies of a model's version files live in the artifact store."""
    return f"{artifacts.REGISTRY_ROOT}/{model_pk}"


def set_registered_model_tag(*, name: str, key: str, value: str, user: str = "") -> None:
    """Set (or overwrite) a tag of a model."""
    validation.model_name(name)
    validation.registered_model_tag(key, value)
    with transaction.atomic():
        model = lock_model(name)
        old = RegisteredModelTag.objects.filter(registered_model=model, key=key).values_list("value", flat=True).first()
        RegisteredModelTag.objects.update_or_create(registered_model=model, key=key, defaults={"value": value})
        if old != value:
            events.record(model, Action.MODEL_TAG_SET, user=user, key=key, old_value=old, new_value=value)


def delete_registered_model_tag(*, name: str, key: str, user: str = "") -> None:
    """Remove a tag of a model; a missing tag is not an error, as in MLflow."""
    validation.model_name(name)
    validation.tag_key(key)
    with transaction.atomic():
        model = lock_model(name)
        old = RegisteredModelTag.objects.filter(registered_model=model, key=key).values_list("value", flat=True).first()
        if old is not None:
            RegisteredModelTag.objects.filter(registered_model=model, key=key).delete()
            events.record(model, Action.MODEL_TAG_DELETED, user=user, key=key, old_value=old)


def get_registered_model(*, name: str) -> ModelDetails:
    """A model with its tags, aliases and latest versions (the client reads it before most registry writes)."""
    return load_details([get_model_row(name)])[0]


def latest_versions(*, name: str, stages: Sequence[str] = ()) -> list[ModelVersion]:
    """The newest version in each of the given stages (every stage when none is given), by stage order."""
    wanted = [validation.stage(s) for s in stages] or list(ALL_STAGES)
    details = get_registered_model(name=name)
    return [v for v in details.latest_versions if v.current_stage in wanted]


def search_registered_models(
    *,
    filter_string: str | None = None,
    max_results: int = SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
    order_by: Sequence[str] = (),
    page_token_: str | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[ModelDetails], str | None]:
    """One page of the ``visible`` models matching the filter (prompts excluded unless asked for), and the next
    page's token."""
    if max_results < 1:
        raise invalid(
            f"Invalid value for request parameter max_results. It must be a positive integer, got {max_results}"
        )
    if max_results > SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD:
        raise invalid(
            "Invalid value for request parameter max_results. It must be at most "
            f"{SEARCH_REGISTERED_MODEL_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
        )
    condition = model_filter(filter_string)
    ordering = model_ordering(tuple(order_by))
    offset = page_offset(page_token_)
    # Filtered before the page is cut, so that pages stay full and tokens stay valid.
    matching = visible.filter(RegisteredModel.objects.filter(condition), "pk")
    rows = list(matching.order_by(*ordering)[offset : offset + max_results + 1])
    page, token = cut_page(rows, offset, max_results)
    return load_details(page), token


def load_details(models: list[RegisteredModel]) -> list[ModelDetails]:
    """Tags, aliases and latest versions of many models in a few queries (five, whatever the page size)."""
    details = {m.pk: ModelDetails(m) for m in models}
    ids = list(details)
    for model_pk, key, value in RegisteredModelTag.objects.filter(registered_model_id__in_list=ids).values_list(
        "registered_model_id", "key", "value"
    ):
        details[model_pk].tags.append((key, value))
    for model_pk, alias, version in (
        RegisteredModelAlias.objects.filter(registered_model_id__in_list=ids)
        .order_by("alias")
        .values_list("registered_model_id", "alias", "model_version__version")
    ):
        details[model_pk].aliases.append((alias, version))
    for version in latest_per_stage(models):
        details[version.registered_model_id].latest_versions.append(version)
    return [details[m.pk] for m in models]


def version_queryset() -> QuerySet[ModelVersion]:
    """Model versions with their registered model joined; ``with_details`` adds tags and aliases."""
    return ModelVersion.objects.select_related("registered_model")


def live_versions() -> QuerySet[ModelVersion]:
    """The versions MLflow sees: not deleted, of a model not in the trash. A join on the model's name must go
    through here: a trashed model keeps its name, and a new model may have it too."""
    return (
        version_queryset().filter(registered_model__deleted_timestamp__isnull=True).exclude(current_stage=Stage.DELETED)
    )


def with_details(versions: Iterable[ModelVersion]) -> list[ModelVersion]:
    """Versions with ``tag_list`` ([(key, value)]) and ``alias_list`` (sorted names) set, in two queries for any
    number of them. Django's prefetch_related cost ~0.3 ms per version here: most of a 100-model search."""
    rows = list(versions)
    by_pk = {v.pk: v for v in rows}
    for version in rows:
        version.tag_list, version.alias_list = [], []
    ids = list(by_pk)
    tags = ModelVersionTag.objects.filter(model_version_id__in_list=ids).order_by("pk")
    for version_pk, key, value in tags.values_list("model_version_id", "key", "value"):
        by_pk[version_pk].tag_list.append((key, value))
    aliases = RegisteredModelAlias.objects.filter(model_version_id__in_list=ids).order_by("alias")
    for version_pk, alias in aliases.values_list("model_version_id", "alias"):
        by_pk[version_pk].alias_list.append(alias)
    return rows


def latest_per_stage(models: list[RegisteredModel]) -> list[ModelVersion]:
    """The newest version in each stage of each of these models (deleted versions aside), in stage order, with
    ``registered_model`` set to the given objects rather than joined again for every version."""
    by_pk = {m.pk: m for m in models}
    query = ModelVersion.objects.filter(registered_model_id__in_list=list(by_pk)).exclude(current_stage=Stage.DELETED)
    if connection.features.can_distinct_on_fields:
        # PostgreSQL: one ordered pass over the (model, stage, version) index, half the time of the subquery below.
        keys = ("registered_model_id", "current_stage")
        rows = list(query.order_by(*keys, "-version").distinct(*keys))
    else:
        # SQLite: a correlated lookup of the stage's newest version, which its planner answers from the same index.
        newest = (
            ModelVersion.objects.filter(
                registered_model_id=OuterRef("registered_model_id"), current_stage=OuterRef("current_stage")
            )
            .order_by("-version")
            .values("version")[:1]
        )
        rows = list(query.filter(version=Subquery(newest)))
    for row in rows:
        row.registered_model = by_pk[row.registered_model_id]
    order = {stage: i for i, stage in enumerate(ALL_STAGES)}
    return sorted(with_details(rows), key=lambda v: (v.registered_model_id, order.get(v.current_stage, len(order))))
