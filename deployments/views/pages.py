"""The deployments pages, namespace ``deployments``: the endpoints list and an endpoint's page. Both render the
REST API's own JSON into the page and let their scripts keep it current through that API (every button there calls
``/ajax-api/2.0/studio/…``), so the first paint and each refresh come from one serializer."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from deployments import services
from deployments.access import endpoint_in_path, visible_models
from deployments.api.serializers import endpoint_to_wire
from deployments.services import pages
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import READ
from studio.errors import StudioError


@access(SIGNED_IN)
@require_safe
def EndpointListView(request: HttpRequest) -> HttpResponse:
    """Every endpoint with its state and deployments; the page refreshes itself while a deployment works."""
    endpoints = [endpoint_to_wire(e, request) for e in services.list_endpoints(visible=visible_models(request))]
    return render(request, "deployments/endpoint_list.html", {"nav": "deployments", "endpoints": endpoints})


@access(on("registered_model", READ, endpoint_in_path("name")))
@require_safe
def EndpointDetailView(request: HttpRequest, name: str) -> HttpResponse:
    """One endpoint: URL and keys, deployments and their traffic, events and logs, and the Test console."""
    try:
        page = pages.endpoint_page(name=name)
    except StudioError as error:
        raise Http404(error.message) from None
    endpoint = endpoint_to_wire(page.endpoint, request)
    context = {
        "nav": "deployments",
        "endpoint": endpoint,
        "page": page,
        "curl": pages.curl_example(url=endpoint["scoring_url"], body=page.example),
    }
    return render(request, "deployments/endpoint_detail.html", context)


urlpatterns = [
    path("deployments/", EndpointListView, name="endpoint-list"),
    path("deployments/<str:name>/", EndpointDetailView, name="endpoint-detail"),
]
