"""A model version's page: overview, artifacts, the MLmodel viewer."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def VersionDetailView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


urlpatterns = [
    path("models/<str:name>/versions/<str:version>/", VersionDetailView, name="version-detail"),
]
