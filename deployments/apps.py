from __future__ import annotations

from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Endpoints, deployments, runtimes and the scoring gateway (filled in by the deployments work)."""

    name = "deployments"
