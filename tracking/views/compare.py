"""The run comparison page."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def RunCompareView(request: HttpRequest) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


urlpatterns = [
    path("compare/", RunCompareView, name="run-compare"),
]
