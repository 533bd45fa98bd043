"""Model version endpoints of MLflow's registry API (``model-versions/...``)."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from registry.access import SOURCE_READABLE, model_named, visible_models
from registry.api.serializers import model_version_to_wire
from registry.store import versions as store
from studio.api import Args, api_view, missing, page_payload, request_user
from studio.auth.access import SIGNED_IN, access, all_of, on
from studio.auth.permissions import EDIT, MANAGE, READ

# A version follows its registered model (MLflow's auth app). Registering one also reads its source: READ on the
# run's or logged model's experiment, or on the registered model it is copied from (``SOURCE_READABLE``).
READ_MODEL = on("registered_model", READ, model_named())
EDIT_MODEL = on("registered_model", EDIT, model_named())
MANAGE_MODEL = on("registered_model", MANAGE, model_named())


def version_arg(args: Args) -> str:
    """The version field: a string in MLflow's protocol; a JSON number is harmless and accepted."""
    value = args.data.get("version")
    if isinstance(value, list):  # query strings repeat keys; the last wins
        value = value[-1] if value else None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    version = args.str("version", required=True)
    if not version.strip():
        raise missing("version")
    return version


@access(all_of(EDIT_MODEL, SOURCE_READABLE))
@api_view("POST")
def CreateModelVersionApi(request: HttpRequest, args: Args) -> dict:
    version = store.create_model_version(
        name=args.str("name", required=True),
        source=args.str("source", required=True),
        run_id=args.str("run_id", default=""),
        model_id=args.str("model_id", default=""),
        tags=args.key_values("tags"),
        run_link=args.str("run_link", default=""),
        description=args.str("description", default=""),
        user=request_user(request),
    )
    return {"model_version": model_version_to_wire(version)}


@access(READ_MODEL)
@api_view("GET")
def GetModelVersionApi(request: HttpRequest, args: Args) -> dict:
    version = store.get_model_version(name=args.str("name", required=True), version=version_arg(args))
    return {"model_version": model_version_to_wire(version)}


@access(EDIT_MODEL)
@api_view("PATCH")
def UpdateModelVersionApi(request: HttpRequest, args: Args) -> dict:
    version = store.update_model_version(
        name=args.str("name", required=True),
        version=version_arg(args),
        description=args.str("description"),
        user=request_user(request),
    )
    return {"model_version": model_version_to_wire(version)}


@access(MANAGE_MODEL)
@api_view("DELETE")
def DeleteModelVersionApi(request: HttpRequest, args: Args) -> dict:
    store.delete_model_version(
        name=args.str("name", required=True), version=version_arg(args), user=request_user(request)
    )
    return {}


@access(EDIT_MODEL)
@api_view("POST")
def TransitionModelVersionStageApi(request: HttpRequest, args: Args) -> dict:
    version = store.transition_model_version_stage(
        name=args.str("name", required=True),
        version=version_arg(args),
        stage=args.str("stage", required=True),
        archive_existing_versions=args.bool("archive_existing_versions"),
        user=request_user(request),
    )
    return {"model_version": model_version_to_wire(version)}


@access(READ_MODEL)
@api_view("GET")
def GetModelVersionDownloadUriApi(request: HttpRequest, args: Args) -> dict:
    uri = store.get_model_version_download_uri(name=args.str("name", required=True), version=version_arg(args))
    return {"artifact_uri": uri}


@access(SIGNED_IN)
@api_view("GET")
def SearchModelVersionsApi(request: HttpRequest, args: Args) -> dict:
    found, token = store.search_model_versions(
        filter_string=args.str("filter", default=""),
        max_results=args.int("max_results", default=store.SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT),
        order_by=args.str_list("order_by"),
        page_token_=args.str("page_token"),
        visible=visible_models(request),
    )
    return page_payload("model_versions", [model_version_to_wire(v) for v in found], token)


@access(EDIT_MODEL)
@api_view("POST")
def SetModelVersionTagApi(request: HttpRequest, args: Args) -> dict:
    store.set_model_version_tag(
        name=args.str("name", required=True),
        version=version_arg(args),
        key=args.str("key", required=True),
        value=args.str("value", required=True),
        user=request_user(request),
    )
    return {}


@access(EDIT_MODEL)
@api_view("DELETE")
def DeleteModelVersionTagApi(request: HttpRequest, args: Args) -> dict:
    store.delete_model_version_tag(
        name=args.str("name", required=True),
        version=version_arg(args),
        key=args.str("key", required=True),
        user=request_user(request),
    )
    return {}


urlpatterns = [
    path("model-versions/create", CreateModelVersionApi),
    path("model-versions/get", GetModelVersionApi),
    path("model-versions/update", UpdateModelVersionApi),
    path("model-versions/delete", DeleteModelVersionApi),
    path("model-versions/transition-stage", TransitionModelVersionStageApi),
    path("model-versions/get-download-uri", GetModelVersionDownloadUriApi),
    path("model-versions/search", SearchModelVersionsApi),
    path("model-versions/set-tag", SetModelVersionTagApi),
    path("model-versions/delete-tag", DeleteModelVersionTagApi),
]
