"""Registered model endpoints of MLflow's registry API (``registered-models/...``), aliases included."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from registry.access import model_named, visible_models
from registry.api.serializers import model_version_to_wire, registered_model_to_wire
from registry.store import aliases
from registry.store import models as store
from studio.api import Args, api_view, method_router, page_payload, request_user
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import EDIT, MANAGE, READ

# MLflow's auth app's table (mlflow/server/auth BEFORE_REQUEST_VALIDATORS): reads READ, changes EDIT, delete MANAGE;
# create and search are for anyone signed in (the creator gets MANAGE, and search lists only readable models).
READ_MODEL = on("registered_model", READ, model_named())
EDIT_MODEL = on("registered_model", EDIT, model_named())
MANAGE_MODEL = on("registered_model", MANAGE, model_named())


@access(SIGNED_IN)
@api_view("POST")
def CreateRegisteredModelApi(request: HttpRequest, args: Args) -> dict:
    model = store.create_registered_model(
        name=args.str("name", required=True),
        tags=args.key_values("tags"),
        description=args.str("description", default=""),
        deployment_job_id=args.str("deployment_job_id", default=""),
        user=request_user(request),
        owner=request.user,
    )
    return {"registered_model": registered_model_to_wire(store.load_details([model])[0])}


@access(READ_MODEL)
@api_view("GET")
def GetRegisteredModelApi(request: HttpRequest, args: Args) -> dict:
    return {
        "registered_model": registered_model_to_wire(store.get_registered_model(name=args.str("name", required=True)))
    }


@access(EDIT_MODEL)
@api_view("POST")
def RenameRegisteredModelApi(request: HttpRequest, args: Args) -> dict:
    model = store.rename_registered_model(
        name=args.str("name", required=True), new_name=args.str("new_name", default=""), user=request_user(request)
    )
    return {"registered_model": registered_model_to_wire(store.load_details([model])[0])}


@access(EDIT_MODEL)
@api_view("PATCH")
def UpdateRegisteredModelApi(request: HttpRequest, args: Args) -> dict:
    model = store.update_registered_model(
        name=args.str("name", required=True),
        description=args.str("description"),
        deployment_job_id=args.str("deployment_job_id"),
        user=request_user(request),
    )
    return {"registered_model": registered_model_to_wire(store.load_details([model])[0])}


@access(MANAGE_MODEL)
@api_view("DELETE")
def DeleteRegisteredModelApi(request: HttpRequest, args: Args) -> dict:
    store.delete_registered_model(name=args.str("name", required=True), user=request_user(request))
    return {}


@access(SIGNED_IN)
@api_view("GET")
def SearchRegisteredModelsApi(request: HttpRequest, args: Args) -> dict:
    found, token = store.search_registered_models(
        filter_string=args.str("filter", default=""),
        max_results=args.int("max_results", default=store.SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT),
        order_by=args.str_list("order_by"),
        page_token_=args.str("page_token"),
        visible=visible_models(request),
    )
    return page_payload("registered_models", [registered_model_to_wire(d) for d in found], token)


@access(READ_MODEL)
@api_view("GET", "POST")
def GetLatestVersionsApi(request: HttpRequest, args: Args) -> dict:
    versions = store.latest_versions(name=args.str("name", required=True), stages=args.str_list("stages"))
    return page_payload("model_versions", [model_version_to_wire(v) for v in versions], None)


@access(EDIT_MODEL)
@api_view("POST")
def SetRegisteredModelTagApi(request: HttpRequest, args: Args) -> dict:
    store.set_registered_model_tag(
        name=args.str("name", required=True),
        key=args.str("key", required=True),
        value=args.str("value", required=True),
        user=request_user(request),
    )
    return {}


@access(EDIT_MODEL)
@api_view("DELETE")
def DeleteRegisteredModelTagApi(request: HttpRequest, args: Args) -> dict:
    store.delete_registered_model_tag(
        name=args.str("name", required=True), key=args.str("key", required=True), user=request_user(request)
    )
    return {}


@api_view("POST")
def SetRegisteredModelAliasApi(request: HttpRequest, args: Args) -> dict:
    aliases.set_registered_model_alias(
        name=args.str("name", required=True),
        alias=args.str("alias", required=True),
        version=args.str("version", required=True),
        user=request_user(request),
    )
    return {}


@api_view("DELETE")
def DeleteRegisteredModelAliasApi(request: HttpRequest, args: Args) -> dict:
    aliases.delete_registered_model_alias(
        name=args.str("name", required=True), alias=args.str("alias", required=True), user=request_user(request)
    )
    return {}


@api_view("GET")
def GetModelVersionByAliasApi(request: HttpRequest, args: Args) -> dict:
    version = aliases.get_model_version_by_alias(
        name=args.str("name", required=True), alias=args.str("alias", required=True)
    )
    return {"model_version": model_version_to_wire(version)}


urlpatterns = [
    path("registered-models/create", CreateRegisteredModelApi),
    path("registered-models/get", GetRegisteredModelApi),
    path("registered-models/rename", RenameRegisteredModelApi),
    path("registered-models/update", UpdateRegisteredModelApi),
    path("registered-models/delete", DeleteRegisteredModelApi),
    path("registered-models/search", SearchRegisteredModelsApi),
    path("registered-models/get-latest-versions", GetLatestVersionsApi),
    path("registered-models/set-tag", SetRegisteredModelTagApi),
    path("registered-models/delete-tag", DeleteRegisteredModelTagApi),
    path(
        "registered-models/alias",
        access(GET=READ_MODEL, POST=EDIT_MODEL, DELETE=EDIT_MODEL)(
            method_router(
                get=GetModelVersionByAliasApi, post=SetRegisteredModelAliasApi, delete=DeleteRegisteredModelAliasApi
            )
        ),
    ),
]
