"""The experiments page: find an experiment by name."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path

from tracking.models import Experiment, LifecycleStage


def ExperimentListView(request: HttpRequest) -> HttpResponse:
    """Active experiments whose name contains ``q`` (case-insensitive)."""
    query = request.GET.get("q", "").strip()
    experiments = Experiment.objects.filter(lifecycle_stage=LifecycleStage.ACTIVE, name__icontains=query).order_by(
        "name"
    )[:100]
    return render(
        request,
        "tracking/experiment_list.html",
        {"nav": "experiments", "experiments": experiments, "q": query},
    )


urlpatterns = [
    path("experiments/", ExperimentListView, name="experiment-list"),
]
