"""Model versions: register (with a copy of the files), read, describe, stage, tag, delete, search, and lineage.

Registering copies the source's files into ``registry/<model id>/<uuid>`` of the artifact store before the row is
written (hard links on local disk, server-side copies on S3), so that a version is never visible without its files
and keeps loading after its run or logged model is purged. The folder is read-only through the artifact proxy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
from django.db import transaction
from django.db.models import Max, Q
from mlflow.entities.model_registry.model_version_stages import DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS
from mlflow.store.artifact.utils.models import _parse_model_uri
from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

from registry import validation
from registry.models import ModelVersion, ModelVersionTag, RegisteredModelAlias, Stage
from registry.store import events, sources
from registry.store.models import (
    create_registered_model,
    get_model_row,
    latest_per_stage,
    live_versions,
    lock_model,
    model_storage_folder,
    touch,
    with_details,
)
from registry.store.search import version_filter, version_ordering
from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import StudioError, already_exists, invalid, not_found
from tracking import artifacts
from tracking.models import Experiment, LoggedModel, LoggedModelTag, Run
from tracking.search import cut_page, page_offset
from tracking.store import storage
from tracking.store.common import now_ms

Action = events.Action
SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT = 10000
SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD = 200_000
_INT32 = 2**31


def _missing_version(name: str, version: object) -> StudioError:
    return not_found(f"Model Version (name={name}, version={version}) not found")


def get_version_row(name: str, version: str | int, *, for_update: bool = False) -> ModelVersion:
    """A live (not deleted) version by model name and number, with tags and aliases loaded."""
    validation.model_name(name)
    number = validation.version_number(version)
    if not -_INT32 <= number < _INT32:
        raise _missing_version(name, version)
    query = live_versions().filter(registered_model__name=name, version=number)
    if for_update:
        query = query.select_for_update(of=("self",))
    row = query.first()
    if row is None:
        raise _missing_version(name, version)
    return with_details([row])[0]


def get_model_version(*, name: str, version: str | int) -> ModelVersion:
    """One version of a registered model."""
    return get_version_row(name, version)


def get_model_version_download_uri(*, name: str, version: str | int) -> str:
    """Where the client downloads the version's files: its copy in the registry (or its external URI)."""
    return download_uri(get_version_row(name, version))


def download_uri(version: ModelVersion) -> str:
    """The URI of a version's files."""
    return f"mlflow-artifacts:/{version.storage_path}" if version.storage_path else version.storage_uri


def resolve_model_uri(uri: str) -> ModelVersion:
    """The version a registry URI names: ``models:/<name>/<version>``, ``/<stage>``, ``/latest`` or ``@<alias>``."""
    parsed = _parse_model_uri(uri)
    if parsed.version is not None:
        return get_version_row(parsed.name, parsed.version)
    if parsed.alias is not None:
        from registry.store.aliases import get_model_version_by_alias

        return get_model_version_by_alias(name=parsed.name, alias=parsed.alias)
    model = get_model_row(parsed.name)
    stages = [validation.stage(parsed.stage)] if parsed.stage else None
    candidates = [v for v in latest_per_stage([model]) if stages is None or v.current_stage in stages]
    if not candidates:
        stage = f" and stage '{parsed.stage}'" if parsed.stage else ""
        raise not_found(f"No versions of model with name '{parsed.name}'{stage} found")
    return max(candidates, key=lambda v: v.version)


def create_model_version(
    *,
    name: str,
    source: str,
    run_id: str = "",
    model_id: str = "",
    tags: Iterable[tuple[str, str]] = (),
    run_link: str = "",
    description: str = "",
    user: str = "",
) -> ModelVersion:
    """Register the next version of a model from a source, copying its files first; READY when it returns."""
    validation.model_name(name)
    validation.id_field("run_id", run_id or "")
    validation.id_field("model_id", model_id or "")
    tag_map = dict(tags)
    for key, value in tag_map.items():
        validation.model_version_tag(key, value)
    model = get_model_row(name)
    resolved = sources.resolve(source, run_id=run_id or "", model_id=model_id or "")
    storage_path, files, size = _copy_files(model.pk, resolved)
    fields = {
        "user_id": user or "",
        "description": description or "",
        "source": resolved.source,
        "storage_path": storage_path,
        "storage_uri": resolved.external_uri,
        "file_count": files,
        "size_bytes": size,
        "run_id": resolved.run_id,
        "run_link": run_link or "",
        "model_id": resolved.model_id,
        "experiment_id": resolved.experiment_id,
    }
    try:
        with transaction.atomic():
            version = _insert_version(name, model.pk, fields, tag_map, user)
    except BaseException:
        if storage_path:
            artifacts.delete_artifacts(storage_path)
        raise
    return get_version_row(name, version.version)


def _copy_files(model_pk: int, resolved: sources.ResolvedSource) -> tuple[str, int, int]:
    """Copy the source's files into a fresh folder of the model: (store path, files, bytes); nothing for external."""
    if resolved.store_path is None:
        return "", 0, 0
    storage_path = f"{model_storage_folder(model_pk)}/{uuid.uuid4().hex}"
    try:
        files, size = artifacts.copy_artifacts(src=resolved.store_path, dst=storage_path)
    except StudioError as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise invalid(
                f"Invalid model version source: '{resolved.source}'. There are no files at "
                f"'mlflow-artifacts:/{resolved.store_path}' to register."
            ) from None
        raise
    return storage_path, files, size


def _insert_version(name: str, model_pk: int, fields: dict, tags: dict[str, str], user: str) -> ModelVersion:
    """Write the version row with the next number, its tags and its event (the files are already in place)."""
    model = lock_model(name)
    if model.pk != model_pk:  # deleted and created again while the files were copied
        raise StudioError(f"Registered Model (name={name}) was replaced during registration; try again.", "ABORTED")
    now = now_ms()
    # Deleted versions keep their numbers: a number never names two different sets of files.
    latest = ModelVersion.objects.filter(registered_model=model).aggregate(latest=Max("version"))["latest"] or 0
    version = ModelVersion.objects.create(
        registered_model=model, version=latest + 1, creation_timestamp=now, last_updated_timestamp=now, **fields
    )
    ModelVersionTag.objects.bulk_create(
        [ModelVersionTag(model_version=version, key=k, value=v) for k, v in tags.items()]
    )
    touch(model, now)
    events.record(model, Action.VERSION_CREATED, user=user, version=version.version, new_value=version.source)
    if version.model_id:
        _link_logged_model(version.model_id, model.name, version.version)
    if version.storage_path:
        _track_storage(version, model.name)
    return version


def _track_storage(version: ModelVersion, name: str) -> None:
    """Have the storage usage count the version's copy once it is committed. Robust: the version exists by then,
    and a usage row that could not be written must not turn a registration that succeeded into an error (the
    daily reconciliation measures the registry's roots again)."""
    path, owner_id, label = version.storage_path, str(version.pk), f"{name} v{version.version}"
    transaction.on_commit(
        lambda: storage.track_root(path=path, kind="model_version", owner_id=owner_id, label=label), robust=True
    )


def _link_logged_model(model_id: str, name: str, version: int) -> None:
    """MLflow's server lists a logged model's versions in its ``mlflow.modelVersions`` tag (a JSON list)."""
    if not LoggedModel.objects.filter(pk=model_id).exists():
        return  # a copy of a version whose logged model was purged
    tag = LoggedModelTag.objects.filter(model_id=model_id, key=MLFLOW_MODEL_VERSIONS).first()
    try:
        linked = orjson.loads(tag.value) if tag else []
    except orjson.JSONDecodeError:
        linked = []
    entry = {"name": name, "version": str(version)}
    if not isinstance(linked, list):
        linked = []
    if entry not in linked:
        linked.append(entry)
    LoggedModelTag.objects.update_or_create(
        model_id=model_id, key=MLFLOW_MODEL_VERSIONS, defaults={"value": orjson.dumps(linked).decode()}
    )


def update_model_version(*, name: str, version: str | int, description: str | None, user: str = "") -> ModelVersion:
    """Change a version's description."""
    with transaction.atomic():
        row = get_version_row(name, version, for_update=True)
        if description is not None and description != row.description:
            old, row.description = row.description, description
            row.last_updated_timestamp = now_ms()
            row.save(update_fields=["description", "last_updated_timestamp"])
            events.record(
                row.registered_model,
                Action.VERSION_UPDATED,
                user=user,
                version=row.version,
                key="description",
                old_value=old,
                new_value=description,
            )
    return get_version_row(name, row.version)


def transition_model_version_stage(
    *, name: str, version: str | int, stage: str, archive_existing_versions: bool = False, user: str = ""
) -> ModelVersion:
    """Move a version to a stage; with ``archive_existing_versions`` the others in that stage go to Archived."""
    canonical = validation.stage(stage)
    if archive_existing_versions and canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS:
        raise invalid(
            f"Model version transition cannot archive existing model versions because '{stage}' is not an Active "
            f"stage. Valid stages are {DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}"
        )
    with transaction.atomic():
        model = lock_model(name)
        row = get_version_row(name, version)
        now = now_ms()
        moves = [(row, canonical)]
        if archive_existing_versions:
            others = ModelVersion.objects.filter(registered_model=model, current_stage=canonical).exclude(pk=row.pk)
            moves += [(other, Stage.ARCHIVED.value) for other in others]
        for moved, new_stage in moves:
            old_stage = moved.current_stage
            ModelVersion.objects.filter(pk=moved.pk).update(current_stage=new_stage, last_updated_timestamp=now)
            events.record(
                model,
                Action.STAGE_TRANSITIONED,
                user=user,
                version=moved.version,
                old_value=old_stage,
                new_value=new_stage,
                timestamp=now,
            )
        touch(model, now)
    return get_version_row(name, row.version)


def delete_model_version(*, name: str, version: str | int, user: str = "") -> None:
    """Move a version to the trash: its number stays taken and its aliases go; its files stay until it is purged."""
    with transaction.atomic():
        model = lock_model(name)
        row = get_version_row(name, version)
        now = now_ms()
        for alias in row.alias_list:
            events.record(
                model,
                Action.ALIAS_DELETED,
                user=user,
                version=row.version,
                alias=alias,
                old_value=str(row.version),
                timestamp=now,
            )
        RegisteredModelAlias.objects.filter(model_version=row).delete()
        ModelVersion.objects.filter(pk=row.pk).update(
            current_stage=Stage.DELETED, deleted_timestamp=now, deleted_by=user or "", last_updated_timestamp=now
        )
        events.record(
            model, Action.VERSION_DELETED, user=user, version=row.version, old_value=row.source, timestamp=now
        )
        touch(model, now)


def set_model_version_tag(*, name: str, version: str | int, key: str, value: str, user: str = "") -> None:
    """Set (or overwrite) a tag of a version."""
    validation.model_name(name)
    validation.version_number(version)
    validation.model_version_tag(key, value)
    with transaction.atomic():
        row = get_version_row(name, version, for_update=True)
        old = dict(row.tag_list).get(key)
        ModelVersionTag.objects.update_or_create(model_version=row, key=key, defaults={"value": value})
        if old != value:
            events.record(
                row.registered_model,
                Action.VERSION_TAG_SET,
                user=user,
                version=row.version,
                key=key,
                old_value=old,
                new_value=value,
            )


def delete_model_version_tag(*, name: str, version: str | int, key: str, user: str = "") -> None:
    """Remove a tag of a version; a missing tag is not an error, as in MLflow."""
    validation.model_name(name)
    validation.version_number(version)
    validation.tag_key(key)
    with transaction.atomic():
        row = get_version_row(name, version, for_update=True)
        old = dict(row.tag_list).get(key)
        if old is not None:
            ModelVersionTag.objects.filter(model_version=row, key=key).delete()
            events.record(
                row.registered_model,
                Action.VERSION_TAG_DELETED,
                user=user,
                version=row.version,
                key=key,
                old_value=old,
            )


def search_model_versions(
    *,
    filter_string: str | None = None,
    max_results: int = SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
    order_by: Sequence[str] = (),
    page_token_: str | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[ModelVersion], str | None]:
    """One page of the live versions of ``visible`` models matching the filter, and the next page's token (None on
    the last)."""
    if max_results < 1:
        raise invalid(f"Invalid value for max_results. It must be a positive integer, but got {max_results}")
    if max_results > SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD:
        raise invalid(
            "Invalid value for request parameter max_results. It must be at most "
            f"{SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD}, but got value {max_results}"
        )
    condition = version_filter(filter_string)
    ordering = version_ordering(tuple(order_by))
    offset = page_offset(page_token_)
    query = visible.filter(live_versions().filter(condition), "registered_model_id").order_by(*ordering)
    page, token = cut_page(list(query[offset : offset + max_results + 1]), offset, max_results)
    return with_details(page), token


def copy_model_version(*, src_name: str, src_version: str | int, dst_name: str, user: str = "") -> ModelVersion:
    """Copy a version into another registered model (created if missing), with its tags, description and lineage."""
    source = get_version_row(src_name, src_version)
    try:
        create_registered_model(name=dst_name, user=user)
    except StudioError as exc:
        if exc.error_code != already_exists("").error_code:
            raise
    return create_model_version(
        name=dst_name,
        source=f"models:/{src_name}/{source.version}",
        tags=source.tag_list,
        run_link=source.run_link,
        description=source.description,
        user=user,
    )


def versions_for_run(*, run_id: str, visible: Visibility = EVERYTHING) -> list[ModelVersion]:
    """The live versions of ``visible`` models registered from a run, directly or through one of its logged models;
    newest first."""
    logged = LoggedModel.objects.filter(source_run_id=run_id).values("model_id")
    found = visible.filter(live_versions().filter(Q(run_id=run_id) | Q(model_id__in=logged)), "registered_model_id")
    return with_details(found.order_by("-creation_timestamp", "-pk"))


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: its run, logged model and experiment (None where unknown, purged since, or in an
    experiment the viewer may not read: then ``hidden``)."""

    version: ModelVersion
    run: Run | None
    logged_model: LoggedModel | None
    experiment: Experiment | None
    hidden: bool = False


def get_lineage(*, name: str, version: str | int, readable: Visibility = EVERYTHING) -> Lineage:
    """A version with the run, logged model and experiment it was registered from, as far as they still exist and
    their experiment is ``readable`` (experiment visibility): the version itself carries only their ids."""
    row = get_version_row(name, version)
    run = Run.objects.filter(pk=row.run_id).first() if row.run_id else None
    logged = LoggedModel.objects.filter(pk=row.model_id).first() if row.model_id else None
    experiment_id = row.experiment_id if row.experiment_id is not None else getattr(run, "experiment_id", None)
    experiment = Experiment.objects.filter(pk=experiment_id).first() if experiment_id is not None else None
    found = (run, logged, experiment)
    run = run if run is None or readable.allows(run.experiment_id) else None
    logged = logged if logged is None or readable.allows(logged.experiment_id) else None
    experiment = experiment if experiment is None or readable.allows(experiment.pk) else None
    return Lineage(row, run, logged, experiment, hidden=found != (run, logged, experiment))
