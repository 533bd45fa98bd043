from __future__ import annotations

from django.apps import AppConfig


class RegistryConfig(AppConfig):
    """Registered models, versions and aliases (filled in by the registry work)."""

    name = "registry"
