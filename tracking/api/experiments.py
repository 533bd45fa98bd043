"""Experiment endpoints of MLflow's tracking API."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view, request_user
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import EDIT, MANAGE, READ
from tracking.access import EXPERIMENT, experiment_field, experiment_name_field
from tracking.api.serializers import experiment_to_wire
from tracking.store import experiments as store

# MLflow's auth app: get READ, update and tags EDIT, delete and restore MANAGE (its ``can_delete``).
_READ = on(EXPERIMENT, READ, experiment_field())
_EDIT = on(EXPERIMENT, EDIT, experiment_field())
_MANAGE = on(EXPERIMENT, MANAGE, experiment_field())


@access(SIGNED_IN)
@api_view("POST")
def CreateExperimentApi(request: HttpRequest, args: Args) -> dict:
    experiment_id = store.create_experiment(
        name=args.str("name", required=True),
        artifact_location=args.str("artifact_location"),
        tags=args.key_values("tags"),
        owner=request.user,
    )
    return {"experiment_id": str(experiment_id)}


@access(_READ)
@api_view("GET")
def GetExperimentApi(request: HttpRequest, args: Args) -> dict:
    return {"experiment": experiment_to_wire(store.get_experiment(args.str("experiment_id", required=True)))}


@access(on(EXPERIMENT, READ, experiment_name_field()))
@api_view("GET")
def GetExperimentByNameApi(request: HttpRequest, args: Args) -> dict:
    return {"experiment": experiment_to_wire(store.get_experiment_by_name(args.str("experiment_name", required=True)))}


@access(_EDIT)
@api_view("POST")
def UpdateExperimentApi(request: HttpRequest, args: Args) -> dict:
    store.rename_experiment(
        experiment_id=args.str("experiment_id", required=True), new_name=args.str("new_name", required=True)
    )
    return {}


@access(_MANAGE)
@api_view("POST")
def DeleteExperimentApi(request: HttpRequest, args: Args) -> dict:
    store.delete_experiment(experiment_id=args.str("experiment_id", required=True), user=request_user(request))
    return {}


@access(_MANAGE)
@api_view("POST")
def RestoreExperimentApi(request: HttpRequest, args: Args) -> dict:
    store.restore_experiment(experiment_id=args.str("experiment_id", required=True))
    return {}


@access(_EDIT)
@api_view("POST")
def SetExperimentTagApi(request: HttpRequest, args: Args) -> dict:
    store.set_experiment_tag(
        experiment_id=args.str("experiment_id", required=True),
        key=args.str("key", required=True),
        value=args.str("value", required=True),
    )
    return {}


@access(_EDIT)
@api_view("POST")
def DeleteExperimentTagApi(request: HttpRequest, args: Args) -> dict:
    store.delete_experiment_tag(
        experiment_id=args.str("experiment_id", required=True), key=args.str("key", required=True)
    )
    return {}


urlpatterns = [
    path("experiments/create", CreateExperimentApi),
    path("experiments/get", GetExperimentApi),
    path("experiments/get-by-name", GetExperimentByNameApi),
    path("experiments/update", UpdateExperimentApi),
    path("experiments/delete", DeleteExperimentApi),
    path("experiments/restore", RestoreExperimentApi),
    path("experiments/set-experiment-tag", SetExperimentTagApi),
    path("experiments/delete-experiment-tag", DeleteExperimentTagApi),
]


@access(_MANAGE)
@api_view("POST")
def SetTrashRetentionApi(request: HttpRequest, args: Args) -> dict:
    """Studio's extension: ``{"experiment_id", "days"}`` sets the experiment's retention rule; no days removes it."""
    experiment = store.set_trash_retention(
        experiment_id=args.str("experiment_id", required=True), days=args.int("days")
    )
    return {"experiment_id": str(experiment.pk), "trash_retention_days": experiment.trash_retention_days}


studio_urlpatterns = [
    path("experiments/set-trash-retention", SetTrashRetentionApi, name="experiment-set-trash-retention"),
]
