"""Run inputs and outputs: datasets a run used (``mlflow.log_input``), logged models it consumed or produced.

Datasets are shared by the runs of an experiment: one row per (name, digest). A run's use of a dataset is a
``DatasetInput`` row keeping the input tags, with the ``mlflow.data.context`` value (``training``, ``eval``, ...)
copied into a column so that pages can filter on it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from django.db import transaction
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import InputTag as MlflowInputTag
from mlflow.utils import validation as mv
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

from studio.errors import invalid
from tracking.models import Dataset, DatasetInput, Run, RunModelLink
from tracking.store.logged_models import link_model_exists
from tracking.store.runs import get_active_run
from tracking.validation import as_studio_error

# MLflow does not bound source_type; Studio's column (and MLflow's own) holds 36 characters.
MAX_DATASET_SOURCE_TYPE_SIZE = 36


@dataclass(frozen=True)
class DatasetIn:
    """A dataset as ``runs/log-inputs`` describes it; ``None`` marks a field that was not sent."""

    name: str | None
    digest: str | None
    source_type: str | None
    source: str | None
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class DatasetInputIn:
    """One dataset used by a run, with its input tags."""

    dataset: DatasetIn
    tags: list[tuple[str, str]] = field(default_factory=list)


@as_studio_error
def validate_dataset_input(dataset_input: DatasetInputIn) -> None:
    """MLflow's dataset and input tag limits (name, digest, source, schema, profile, tag sizes)."""
    d = dataset_input.dataset
    mv._validate_dataset(MlflowDataset(d.name, d.digest, d.source_type, d.source, d.schema, d.profile))
    mv._validate_input_tags([MlflowInputTag(k, v) for k, v in dataset_input.tags])
    if len(d.source_type) > MAX_DATASET_SOURCE_TYPE_SIZE:
        raise invalid(mv.exceeds_maximum_length("source_type", MAX_DATASET_SOURCE_TYPE_SIZE))


def log_inputs(*, run_id: str, datasets: list[DatasetInputIn] = (), model_ids: list[str] = ()) -> None:
    """Record datasets and logged models a run used; logging the same dataset to a run again changes nothing."""
    for dataset_input in datasets:
        validate_dataset_input(dataset_input)
    run = get_active_run(run_id)
    for model_id in model_ids:
        link_model_exists(model_id)
    # The first occurrence of a (name, digest) pair wins, as in MLflow's store.
    unique: dict[tuple[str, str], DatasetInputIn] = {}
    for dataset_input in datasets:
        unique.setdefault((dataset_input.dataset.name, dataset_input.dataset.digest), dataset_input)
    with transaction.atomic():
        dataset_ids = _ensure_datasets(run, [d.dataset for d in unique.values()])
        DatasetInput.objects.bulk_create(
            [
                DatasetInput(run=run, dataset_id=dataset_ids[key], tags=_tags(d.tags), context=_context(d.tags))
                for key, d in unique.items()
            ],
            ignore_conflicts=True,
        )
        RunModelLink.objects.bulk_create(
            [
                RunModelLink(run=run, model_id=m, direction=RunModelLink.Direction.INPUT)
                for m in dict.fromkeys(model_ids)
            ],
            ignore_conflicts=True,
        )


def log_outputs(*, run_id: str, models: list[tuple[str, int]]) -> None:
    """Record logged models a run produced, each at a step; logging one again moves it to the new step."""
    run = get_active_run(run_id)
    for model_id, _ in models:
        link_model_exists(model_id)
    with transaction.atomic():
        RunModelLink.objects.bulk_create(
            [
                RunModelLink(run=run, model_id=m, direction=RunModelLink.Direction.OUTPUT, step=step)
                for m, step in dict(models).items()
            ],
            update_conflicts=True,
            unique_fields=["run", "model_id", "direction"],
            update_fields=["step"],
        )


def _ensure_datasets(run: Run, datasets: list[DatasetIn]) -> dict[tuple[str, str], str]:
    """Ids of the experiment's datasets by (name, digest), creating the missing ones."""
    names = {d.name for d in datasets}
    digests = {d.digest for d in datasets}

    def existing() -> dict[tuple[str, str], str]:
        rows = Dataset.objects.filter(experiment_id=run.experiment_id, name__in=names, digest__in=digests)
        return {(name, digest): pk for pk, name, digest in rows.values_list("pk", "name", "digest")}

    found = existing()
    missing = [d for d in datasets if (d.name, d.digest) not in found]
    if not missing:
        return found
    # ignore_conflicts: a concurrent request may insert the same dataset; re-reading then finds its row.
    Dataset.objects.bulk_create(
        [
            Dataset(
                dataset_uuid=uuid.uuid4().hex,
                experiment_id=run.experiment_id,
                name=d.name,
                digest=d.digest,
                source_type=d.source_type,
                source=d.source,
                schema=d.schema or "",
                profile=d.profile or "",
            )
            for d in missing
        ],
        ignore_conflicts=True,
    )
    return existing()


def _tags(tags: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in tags]


def _context(tags: list[tuple[str, str]]) -> str:
    return next((v for k, v in tags if k == MLFLOW_DATASET_CONTEXT), "")
