"""Who may touch which endpoint or deployment: locators that map a request to the registered models it serves.

Deployments have no permission rows of their own: a deployment serves one model version, so it follows that
registered model (reading it needs READ, changing it EDIT), and an endpoint follows every model its deployments
serve. An endpoint with no deployment yet serves nothing, so any signed-in user may change it; it is listed to all.
The scoring gateway (``/endpoints/<name>/invocations``) is not judged here: the endpoint's own keys protect it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest

from deployments.models import Deployment
from deployments.services import served_models, with_served_model
from registry.access import model_ids
from studio.auth import permissions
from studio.auth.access import Locator, request_field

KIND = "registered_model"


def _endpoint_models(name: str) -> list[int]:
    return served_models(endpoint=name) if name else []


def endpoint_named(field: str = "name") -> Locator:
    """API: the models served by the endpoint the request's ``field`` names."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        return _endpoint_models(request_field(request, kwargs, field))

    return locate


def endpoint_in_path(kwarg: str = "name") -> Locator:
    """Pages and ``endpoints/<name>/invocations``: the models served by the URL's endpoint."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        name = kwargs.get(kwarg)
        return _endpoint_models(name) if isinstance(name, str) else []

    return locate


def _deployment_model(endpoint: str, name: str) -> list[int]:
    if not endpoint or not name:
        return []
    query = Deployment.objects.filter(endpoint__name=endpoint, endpoint__deleting=False, name=name)
    found = with_served_model(query).values_list("served_model_id", flat=True).first()
    return [found] if found is not None else []


def deployment_named(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
    """API: the model served by the deployment ``name`` of endpoint ``endpoint``."""
    return _deployment_model(request_field(request, kwargs, "endpoint"), request_field(request, kwargs, "name"))


def new_deployment(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
    """``deployments/create``: the model to deploy, and the models the endpoint serves already, since a new
    deployment takes a share of their traffic (with weight 100, all of it)."""
    endpoint = request_field(request, kwargs, "endpoint")
    return sorted({*model_ids(request_field(request, kwargs, "model_name")), *_endpoint_models(endpoint)})


def changed_deployment(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
    """``deployments/update``: the model the deployment serves, and the one it is to serve (``model_name``)."""
    current = deployment_named(request, kwargs)
    return sorted({*current, *model_ids(request_field(request, kwargs, "model_name"))})


def visible_models(request: HttpRequest) -> permissions.Visibility:
    """The registered models the caller may read: endpoints serving any other are not listed."""
    return permissions.visibility(request.user, KIND)


__all__ = [
    "changed_deployment",
    "deployment_named",
    "endpoint_in_path",
    "endpoint_named",
    "new_deployment",
    "visible_models",
]
