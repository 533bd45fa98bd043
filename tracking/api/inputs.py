"""Run inputs and outputs: ``runs/log-inputs`` (datasets, models used) and ``runs/outputs`` (models produced)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view
from studio.auth.access import access, all_of, on
from studio.auth.permissions import EDIT
from tracking.access import EXPERIMENT, listed_models_field, run_field
from tracking.store import inputs as store

# EDIT on the run, and on every logged model it links (MLflow's ``_validate_can_update_run_and_models``).
_LINK_MODELS = all_of(on(EXPERIMENT, EDIT, run_field()), on(EXPERIMENT, EDIT, listed_models_field()))


def _dataset_input(args: Args, name: str) -> store.DatasetInputIn:
    dataset = args.sub(args.data.get("dataset") or {}, f"{name}.dataset")
    tags = []
    for i, item in enumerate(args.list("tags")):
        tag = args.sub(item, f"{name}.tags[{i}]")
        tags.append((tag.str("key"), tag.str("value")))
    return store.DatasetInputIn(
        dataset=store.DatasetIn(
            name=dataset.str("name"),
            digest=dataset.str("digest"),
            source_type=dataset.str("source_type"),
            source=dataset.str("source"),
            schema=dataset.str("schema"),
            profile=dataset.str("profile"),
        ),
        tags=tags,
    )


def _model_ids(args: Args) -> list[str]:
    return [args.sub(item, f"models[{i}]").str("model_id", required=True) for i, item in enumerate(args.list("models"))]


@access(_LINK_MODELS)
@api_view("POST")
def LogInputsApi(request: HttpRequest, args: Args) -> dict:
    datasets = [
        _dataset_input(args.sub(item, f"datasets[{i}]"), f"datasets[{i}]")
        for i, item in enumerate(args.list("datasets"))
    ]
    store.log_inputs(run_id=args.str("run_id", required=True), datasets=datasets, model_ids=_model_ids(args))
    return {}


@access(_LINK_MODELS)
@api_view("POST")
def LogOutputsApi(request: HttpRequest, args: Args) -> dict:
    models = []
    for i, item in enumerate(args.list("models", required=True)):
        entry = args.sub(item, f"models[{i}]")
        models.append((entry.str("model_id", required=True), entry.int("step", default=0)))
    store.log_outputs(run_id=args.str("run_id", required=True), models=models)
    return {}


urlpatterns = [
    path("runs/log-inputs", LogInputsApi),
    path("runs/outputs", LogOutputsApi),
]
