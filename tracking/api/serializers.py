"""Domain values to MLflow's JSON shapes (proto field names; unset fields omitted; key/values as lists)."""

from __future__ import annotations

from typing import Any

from studio.api import wire_float
from tracking.models import Experiment, Run
from tracking.store.runs import RunData


def key_values(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    """``[(k, v)]`` as MLflow's ``[{"key", "value"}]``."""
    return [{"key": k, "value": v} for k, v in pairs]


def experiment_to_wire(experiment: Experiment) -> dict[str, Any]:
    """An ``Experiment`` message; tags must have been prefetched."""
    payload: dict[str, Any] = {
        "experiment_id": str(experiment.pk),
        "name": experiment.name,
        "artifact_location": experiment.artifact_location,
        "lifecycle_stage": experiment.lifecycle_stage,
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
    }
    tags = [{"key": t.key, "value": t.value} for t in experiment.tags.all()]
    if tags:
        payload["tags"] = tags
    return payload


def run_info_to_wire(run: Run) -> dict[str, Any]:
    """A ``RunInfo`` message, with both ``run_id`` and the legacy ``run_uuid``."""
    info: dict[str, Any] = {
        "run_uuid": run.run_uuid,
        "run_id": run.run_uuid,
        "run_name": run.name,
        "experiment_id": str(run.experiment_id),
        "user_id": run.user_id,
        "status": run.status,
        "artifact_uri": run.artifact_uri,
        "lifecycle_stage": run.lifecycle_stage,
    }
    if run.start_time is not None:
        info["start_time"] = run.start_time
    if run.end_time is not None:
        info["end_time"] = run.end_time
    return info


def metric_to_wire(key: str, value: float | None, timestamp: int, step: int) -> dict[str, Any]:
    """A ``Metric`` message."""
    return {"key": key, "value": wire_float(value), "timestamp": timestamp, "step": step}


def dataset_input_to_wire(dataset_input: Any) -> dict[str, Any]:
    """A ``DatasetInput`` message (tags and the dataset it points to)."""
    dataset = dataset_input.dataset
    wire_dataset = {
        "name": dataset.name,
        "digest": dataset.digest,
        "source_type": dataset.source_type,
        "source": dataset.source,
    }
    if dataset.schema:
        wire_dataset["schema"] = dataset.schema
    if dataset.profile:
        wire_dataset["profile"] = dataset.profile
    payload: dict[str, Any] = {"dataset": wire_dataset}
    if dataset_input.tags:
        payload["tags"] = dataset_input.tags
    return payload


def run_to_wire(run: Run, data: RunData) -> dict[str, Any]:
    """A ``Run`` message: info, data (latest metrics, params, tags), inputs and outputs."""
    run_data: dict[str, Any] = {}
    if data.metrics:
        run_data["metrics"] = [metric_to_wire(*m) for m in data.metrics]
    if data.params:
        run_data["params"] = key_values(data.params)
    if data.tags:
        run_data["tags"] = key_values(data.tags)
    inputs: dict[str, Any] = {}
    if data.dataset_inputs:
        inputs["dataset_inputs"] = [dataset_input_to_wire(d) for d in data.dataset_inputs]
    if data.model_inputs:
        inputs["model_inputs"] = [{"model_id": model_id} for model_id in data.model_inputs]
    payload: dict[str, Any] = {"info": run_info_to_wire(run), "data": run_data, "inputs": inputs}
    if data.model_outputs:
        payload["outputs"] = {"model_outputs": [{"model_id": m, "step": s} for m, s in data.model_outputs]}
    return payload


def runs_to_wire(runs: list[Run]) -> list[dict[str, Any]]:
    """Many runs, with their data loaded in bulk."""
    from tracking.store.runs import load_run_data

    data = load_run_data([r.run_uuid for r in runs])
    return [run_to_wire(run, data[run.run_uuid]) for run in runs]
