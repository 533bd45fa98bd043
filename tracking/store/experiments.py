"""Experiments: create, read, rename, delete and restore, and their tags."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from studio.auth import permissions
from studio.errors import StudioError, already_exists, invalid, not_found
from tracking import validation
from tracking.models import Experiment, ExperimentTag, LifecycleStage, Run
from tracking.store.common import experiment_artifact_location, now_ms

DEFAULT_EXPERIMENT_ID = 0
DEFAULT_EXPERIMENT_NAME = "Default"


def get_experiment(experiment_id: str | int, *, with_tags: bool = True) -> Experiment:
    """The experiment with this id, deleted or not, with its tags prefetched unless the caller has no use for them."""
    try:
        pk = int(experiment_id)
    except (TypeError, ValueError):
        raise not_found(f"No Experiment with id={experiment_id} exists") from None
    queryset = Experiment.objects.prefetch_related("tags") if with_tags else Experiment.objects
    experiment = queryset.filter(pk=pk).first()
    if experiment is None:
        raise not_found(f"No Experiment with id={experiment_id} exists")
    return experiment


def get_experiment_by_name(name: str) -> Experiment:
    """The experiment with this exact name."""
    experiment = Experiment.objects.prefetch_related("tags").filter(name=name).first()
    if experiment is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    return experiment


def get_active_experiment(experiment_id: str | int) -> Experiment:
    """The experiment, refusing a deleted one as MLflow does before any write into it."""
    experiment = get_experiment(experiment_id, with_tags=False)
    check_active(experiment)
    return experiment


def check_active(experiment: Experiment) -> None:
    """MLflow's error for a write into a deleted experiment."""
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise invalid(
            f"The experiment {experiment.pk} must be in the 'active' state. "
            f"Current state is {experiment.lifecycle_stage}."
        )


def ensure_default_experiment() -> Experiment:
    """Experiment 0, ``Default``: fluent ``mlflow.start_run()`` without ``set_experiment`` logs to it."""
    now = now_ms()
    experiment, _ = Experiment.objects.get_or_create(
        pk=DEFAULT_EXPERIMENT_ID,
        defaults={
            "name": DEFAULT_EXPERIMENT_NAME,
            "artifact_location": experiment_artifact_location(DEFAULT_EXPERIMENT_ID),
            "creation_time": now,
            "last_update_time": now,
        },
    )
    return experiment


def create_experiment(
    *,
    name: str,
    artifact_location: str | None = None,
    tags: list[tuple[str, str]] = (),
    owner: permissions.User | None = None,
) -> int:
    """Create an experiment; its artifacts live under ``mlflow-artifacts:/<id>`` unless a location is given. The
    ``owner`` (the signed-in creator) gets MANAGE on it."""
    validation.experiment_name(name)
    for key, value in tags:
        validation.experiment_tag(key, value)
    now = now_ms()
    try:
        with transaction.atomic():
            experiment = Experiment.objects.create(
                name=name, artifact_location=artifact_location or "", creation_time=now, last_update_time=now
            )
            if not artifact_location:
                experiment.artifact_location = experiment_artifact_location(experiment.pk)
                experiment.save(update_fields=["artifact_location"])
            ExperimentTag.objects.bulk_create(
                [ExperimentTag(experiment=experiment, key=k, value=v) for k, v in dict(tags).items()]
            )
            permissions.grant_creator(owner, "experiment", experiment.pk)
    except IntegrityError:
        raise already_exists(f"Experiment(name={name}) already exists.") from None
    return experiment.pk


def rename_experiment(*, experiment_id: str, new_name: str) -> None:
    """Rename an active experiment; names are unique, deleted experiments included."""
    validation.experiment_name(new_name)
    experiment = get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
        raise invalid("Cannot rename a non-active experiment.")
    try:
        with transaction.atomic():
            Experiment.objects.filter(pk=experiment.pk).update(name=new_name, last_update_time=now_ms())
    except IntegrityError:
        raise already_exists(f"Experiment(name={new_name}) already exists.") from None


def delete_experiment(*, experiment_id: str, user: str = "") -> None:
    """Soft-delete an experiment and its active runs; the runs are restored with it."""
    experiment = get_experiment(experiment_id)
    if experiment.pk == DEFAULT_EXPERIMENT_ID:
        raise invalid("Cannot delete the default experiment '0'. This is an internally reserved experiment.")
    check_active(experiment)
    now = now_ms()
    with transaction.atomic():
        Experiment.objects.filter(pk=experiment.pk).update(
            lifecycle_stage=LifecycleStage.DELETED, deleted_time=now, deleted_by=user, last_update_time=now
        )
        Run.objects.filter(experiment=experiment, lifecycle_stage=LifecycleStage.ACTIVE).update(
            lifecycle_stage=LifecycleStage.DELETED, deleted_time=now, deleted_by=user
        )


def restore_experiment(*, experiment_id: str) -> None:
    """Restore a deleted experiment and the runs that were deleted together with it."""
    experiment = get_experiment(experiment_id)
    if experiment.lifecycle_stage != LifecycleStage.DELETED:
        raise invalid(
            f"Cannot restore an active experiment. The experiment {experiment.pk} must be in the 'deleted' state. "
            f"Current state is {experiment.lifecycle_stage}."
        )
    with transaction.atomic():
        Run.objects.filter(
            experiment=experiment, lifecycle_stage=LifecycleStage.DELETED, deleted_time=experiment.deleted_time
        ).update(lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None, deleted_by="")
        Experiment.objects.filter(pk=experiment.pk).update(
            lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None, deleted_by="", last_update_time=now_ms()
        )


def set_experiment_tag(*, experiment_id: str, key: str, value: str) -> None:
    """Set (or overwrite) a tag of an active experiment."""
    validation.experiment_tag(key, value)
    experiment = get_active_experiment(experiment_id)
    with transaction.atomic():
        ExperimentTag.objects.update_or_create(experiment=experiment, key=key, defaults={"value": value})
        Experiment.objects.filter(pk=experiment.pk).update(last_update_time=now_ms())


def delete_experiment_tag(*, experiment_id: str, key: str) -> None:
    """Remove a tag of an active experiment."""
    experiment = get_active_experiment(experiment_id)
    deleted, _ = ExperimentTag.objects.filter(experiment=experiment, key=key).delete()
    if not deleted:
        raise StudioError(f"No tag with name: {key} in experiment with id {experiment_id}", "RESOURCE_DOES_NOT_EXIST")


MAX_RETENTION_DAYS = 36_500


def set_trash_retention(*, experiment_id: str | int, days: int | None) -> Experiment:
    """An experiment's retention rule: its deleted runs and logged models (and itself, once deleted) are purged
    ``days`` after their deletion; None removes the rule (the default, ``STUDIO_TRASH_RETENTION_DAYS``, applies)."""
    if days is not None and not 1 <= days <= MAX_RETENTION_DAYS:
        raise invalid(f"A retention rule keeps deleted things between 1 and {MAX_RETENTION_DAYS} days, not {days}.")
    experiment = get_experiment(experiment_id, with_tags=False)
    Experiment.objects.filter(pk=experiment.pk).update(trash_retention_days=days)
    experiment.trash_retention_days = days
    return experiment
