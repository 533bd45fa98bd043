"""The models page and a model's page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def ModelListView(request: HttpRequest) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


def ModelDetailView(request: HttpRequest, name: str) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


urlpatterns = [
    path("models/", ModelListView, name="model-list"),
    path("models/<str:name>/", ModelDetailView, name="model-detail"),
]
