from __future__ import annotations

from django.apps import AppConfig


class TrackingConfig(AppConfig):
    """Experiments, runs, metrics, datasets, logged models and artifacts."""

    name = "tracking"

    def ready(self) -> None:
        from tracking import trash

        trash.register()
