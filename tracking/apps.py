from __future__ import annotations

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """Experiments, runs, metrics, datasets, logged models and artifacts."""

    name = "tracking"

    def ready(self) -> None:
        """Put deleted experiments, runs and logged models in the trash; name experiments on the permissions page."""
        from django.urls import reverse

        from studio.auth import resources
        from tracking import trash
        from tracking.models import Experiment

        trash.register()
        resources.register_queryset(
            "experiment",
            label="experiment",
            objects=Experiment.objects,
            url=lambda e: reverse("tracking:experiment-detail", args=[e.pk]),
        )
