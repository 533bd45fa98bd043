"""The run page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def RunDetailView(request: HttpRequest, run_id: str) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


urlpatterns = [
    path("runs/<str:run_id>/", RunDetailView, name="run-detail"),
]
