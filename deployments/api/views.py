"""Studio's REST API for endpoints and deployments, under ``/api/2.0/studio/`` (and ``/ajax-api/…`` for the pages):
the verbs of ``deployments.services`` in MLflow's wire style (GET with query parameters, POST with a JSON body,
errors as ``{"error_code", "message"}``). The ``mlflow.deployments`` plugin and the endpoint page both use it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from deployments import gateway, services
from deployments.access import (
    changed_deployment,
    deployment_named,
    endpoint_in_path,
    endpoint_named,
    new_deployment,
    visible_models,
)
from deployments.api.serializers import deployment_to_wire, endpoint_to_wire, event_to_wire
from deployments.runtimes.registry import available_runtimes
from deployments.views.gateway import answer_response, content_type, read_body
from studio.api import Args, api_view, endpoint_not_found, request_user, translate_exception
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import EDIT, READ
from studio.errors import invalid

# A deployment follows the registered model it serves, an endpoint every model its deployments serve: reading needs
# READ on them, changing EDIT. An endpoint with no deployment yet serves nothing, so the locators find no model and
# any signed-in user may read or change it (as anyone signed in may create one). Listings show the endpoints whose
# models the caller may read.
KIND = "registered_model"
READ_ENDPOINT = on(KIND, READ, endpoint_named("name"))
EDIT_ENDPOINT = on(KIND, EDIT, endpoint_named("name"))
READ_DEPLOYMENT = on(KIND, READ, deployment_named)
EDIT_DEPLOYMENT = on(KIND, EDIT, deployment_named)


def _endpoint(request: HttpRequest, name: str) -> dict[str, Any]:
    endpoint = services.get_endpoint(name=name)
    return endpoint_to_wire(endpoint, request)


@access(SIGNED_IN)
@api_view("GET")
def ListEndpointsApi(request: HttpRequest, args: Args) -> dict:
    """``GET endpoints/list``: every endpoint with its deployments, most recently changed first (those serving only
    models the caller may read)."""
    endpoints = services.list_endpoints(visible=visible_models(request))
    return {"endpoints": [endpoint_to_wire(e, request) for e in endpoints]}


@access(SIGNED_IN)
@api_view("POST")
def CreateEndpointApi(request: HttpRequest, args: Args) -> dict:
    """``POST endpoints/create {name, description}``: the endpoint and its two keys, which are never shown again."""
    created = services.create_endpoint(
        name=args.str("name", required=True), description=args.str("description", default=""),
        user=request_user(request),
    )  # fmt: skip
    return {
        "endpoint": endpoint_to_wire(created.endpoint, request),
        "primary_key": created.primary_key,
        "secondary_key": created.secondary_key,
    }


@access(READ_ENDPOINT)
@api_view("GET")
def GetEndpointApi(request: HttpRequest, args: Args) -> dict:
    """``GET endpoints/get?name=…``."""
    return {"endpoint": _endpoint(request, args.str("name", required=True))}


def _weights(args: Args) -> dict[str, int] | None:
    if not args.has("traffic"):
        return None
    traffic = args.data["traffic"]
    if isinstance(traffic, list):  # [{"deployment": name, "weight": n}] as well as {name: n}
        items = [args.sub(item, f"traffic[{i}]") for i, item in enumerate(traffic)]
        traffic = {item.str("deployment", required=True): item.int("weight", required=True) for item in items}
    if not isinstance(traffic, dict):
        raise invalid('traffic must map deployment names to weights, e.g. {"blue": 90, "green": 10}')
    return {str(name): weight for name, weight in traffic.items()}


@access(EDIT_ENDPOINT)
@api_view("POST")
def UpdateEndpointApi(request: HttpRequest, args: Args) -> dict:
    """``POST endpoints/update {name, description?, traffic?: {deployment: weight}, mirror?}``: change the
    description and/or the traffic split (weights of the live deployments summing to 100; ``mirror`` names the
    deployment that gets a copy of each request, "" for none)."""
    name = args.str("name", required=True)
    if args.has("description"):
        services.update_endpoint(name=name, description=args.str("description"))
    weights = _weights(args)
    if weights is not None or args.has("mirror"):
        if weights is None:  # only the mirror changes: keep the weights as they are
            endpoint = services.get_endpoint(name=name)
            weights = {d.name: d.traffic_weight for d in endpoint.deployments.all()}
        services.set_traffic(endpoint=name, weights=weights, mirror=args.str("mirror"))
    gateway.ROUTES.clear()  # this process routes by the new split at once; the others within a second
    return {"endpoint": _endpoint(request, name)}


@access(EDIT_ENDPOINT)
@api_view("POST")
def DeleteEndpointApi(request: HttpRequest, args: Args) -> dict:
    """``POST endpoints/delete {name}``: the endpoint and all its deployments go (the servers are removed first)."""
    services.delete_endpoint(name=args.str("name", required=True))
    return {}


@access(EDIT_ENDPOINT)
@api_view("POST")
def RegenerateKeyApi(request: HttpRequest, args: Args) -> dict:
    """``POST endpoints/regenerate-key {name, key: "primary"|"secondary"}``: the new key, shown once."""
    key = services.regenerate_key(name=args.str("name", required=True), slot=args.str("key", required=True))
    gateway.ROUTES.clear()
    return {"key": key}


@access(on(KIND, READ, endpoint_in_path("name")))
@csrf_exempt
def PredictApi(request: HttpRequest, name: str) -> HttpResponse:
    """``POST endpoints/<name>/invocations``: score through the endpoint for a caller Studio has authenticated (the
    Test console, the ``mlflow.deployments`` client), so no endpoint key is needed. The body is the scoring
    server's (``dataframe_split``, ``inputs``, CSV…), passed on as it is; ``?deployment=`` or the
    ``X-Studio-Deployment`` header sends it to one deployment."""
    if request.method != "POST":
        return endpoint_not_found(request)
    target = request.GET.get("deployment") or request.headers.get(gateway.DEPLOYMENT_HEADER, "")
    try:
        route = gateway.route_for(name)
        return answer_response(gateway.score(route, read_body(request), content_type(request), deployment=target))
    except Exception as exc:
        return translate_exception(exc)


def _version(args: Args, *, required: bool = True) -> str | int | None:
    """A version number as a string (MLflow's wire type) or an integer."""
    if isinstance(args.data.get("version"), int):
        return args.int("version")
    return args.str("version", required=required)


def _deployment(args: Args) -> Any:
    return services.get_deployment(endpoint=args.str("endpoint", required=True), name=args.str("name", required=True))


@access(on(KIND, EDIT, new_deployment))
@api_view("POST")
def CreateDeploymentApi(request: HttpRequest, args: Args) -> dict:
    """``POST deployments/create {endpoint, name, model_name, version, runtime?, instances?, traffic_weight?,
    mirror?}``: queued at once; a worker builds and starts it."""
    deployment = services.create_deployment(
        endpoint=args.str("endpoint", required=True),
        name=args.str("name", required=True),
        model_name=args.str("model_name", required=True),
        version=_version(args),
        runtime=args.str("runtime", default="local"),
        instances=args.int("instances", default=1),
        traffic_weight=args.int("traffic_weight"),
        mirror=args.bool("mirror"),
        user=request_user(request),
    )  # fmt: skip
    gateway.ROUTES.clear()
    return {"deployment": deployment_to_wire(deployment)}


@access(READ_DEPLOYMENT)
@api_view("GET")
def GetDeploymentApi(request: HttpRequest, args: Args) -> dict:
    """``GET deployments/get?endpoint=…&name=…``."""
    return {"deployment": deployment_to_wire(_deployment(args))}


@access(on(KIND, READ, endpoint_named("endpoint")))
@api_view("GET")
def ListDeploymentsApi(request: HttpRequest, args: Args) -> dict:
    """``GET deployments/list[?endpoint=…]``: the deployments of one endpoint, or of all."""
    name = args.str("endpoint")
    # One endpoint is judged by the rule (READ on its models); all of them are filtered to the readable ones.
    endpoints = [services.get_endpoint(name=name)] if name else services.list_endpoints(visible=visible_models(request))
    found = []
    for endpoint in endpoints:
        for deployment in endpoint.deployments.all():
            deployment.endpoint = endpoint
            found.append(deployment_to_wire(deployment))
    return {"deployments": found}


@access(on(KIND, EDIT, changed_deployment))
@api_view("POST")
def UpdateDeploymentApi(request: HttpRequest, args: Args) -> dict:
    """``POST deployments/update {endpoint, name, version?, model_name?, instances?}``: build the new version (or
    the same one with another instance count) while the old servers answer, then switch over."""
    deployment = services.update_deployment(
        endpoint=args.str("endpoint", required=True),
        name=args.str("name", required=True),
        version=_version(args, required=False),
        model_name=args.str("model_name"),
        instances=args.int("instances"),
    )
    return {"deployment": deployment_to_wire(deployment)}


def _verb(verb: Any) -> Any:
    @access(EDIT_DEPLOYMENT)
    @api_view("POST")
    def view(request: HttpRequest, args: Args) -> dict:
        deployment = verb(endpoint=args.str("endpoint", required=True), name=args.str("name", required=True))
        gateway.ROUTES.clear()
        return {"deployment": deployment_to_wire(deployment)} if deployment is not None else {}

    view.__doc__ = f"``POST deployments/{verb.__name__.split('_')[0]} {{endpoint, name}}``."
    return view


StopDeploymentApi = _verb(services.stop_deployment)
StartDeploymentApi = _verb(services.start_deployment)
DeleteDeploymentApi = _verb(services.delete_deployment)


@access(READ_DEPLOYMENT)
@api_view("GET")
def ListDeploymentEventsApi(request: HttpRequest, args: Args) -> dict:
    """``GET deployments/events?endpoint=…&name=…[&after=<event id>][&limit=]``: events oldest first, with the
    deployment's current status (the page polls this)."""
    deployment = _deployment(args)
    events = services.list_events(deployment=deployment, after=args.int("after", default=0),
                                  limit=args.int("limit", default=500))  # fmt: skip
    return {"deployment": deployment_to_wire(deployment), "events": [event_to_wire(e) for e in events]}


@access(READ_DEPLOYMENT)
@api_view("GET")
def GetDeploymentLogsApi(request: HttpRequest, args: Args) -> dict:
    """``GET deployments/logs?endpoint=…&name=…[&tail=200]``: the last lines the servers wrote."""
    return {"logs": services.read_logs(deployment=_deployment(args), tail=args.int("tail", default=200))}


@access(SIGNED_IN)
@api_view("GET")
def ListRuntimesApi(request: HttpRequest, args: Args) -> dict:
    """``GET deployments/runtimes``: the runtimes this installation can run."""
    return {"runtimes": available_runtimes()}


urlpatterns = [
    path("endpoints/list", ListEndpointsApi),
    path("endpoints/create", CreateEndpointApi),
    path("endpoints/get", GetEndpointApi),
    path("endpoints/update", UpdateEndpointApi),
    path("endpoints/delete", DeleteEndpointApi),
    path("endpoints/regenerate-key", RegenerateKeyApi),
    path("endpoints/<str:name>/invocations", PredictApi),
    path("deployments/create", CreateDeploymentApi),
    path("deployments/get", GetDeploymentApi),
    path("deployments/list", ListDeploymentsApi),
    path("deployments/update", UpdateDeploymentApi),
    path("deployments/stop", StopDeploymentApi),
    path("deployments/start", StartDeploymentApi),
    path("deployments/delete", DeleteDeploymentApi),
    path("deployments/events", ListDeploymentEventsApi),
    path("deployments/logs", GetDeploymentLogsApi),
    path("deployments/runtimes", ListRuntimesApi),
]
