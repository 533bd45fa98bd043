from __future__ import annotations

from django.apps import AppConfig


class StudioConfig(AppConfig):
    """Shared pieces: error envelope, API plumbing, the command line."""

    name = "studio"
