from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    """Shared pieces: error envelope, API plumbing, the command line."""

    name = "studio"

    def ready(self) -> None:
        from studio import lookups

        lookups.register()
