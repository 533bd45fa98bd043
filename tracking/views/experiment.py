"""The experiment page: the runs table."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import path


def ExperimentDetailView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """Placeholder while the page is being built."""
    raise Http404("This page is being built.")


urlpatterns = [
    path("experiments/<int:experiment_id>/", ExperimentDetailView, name="experiment-detail"),
]
