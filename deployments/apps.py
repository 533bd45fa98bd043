from __future__ import annotations

from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    """Endpoints, deployments, runtimes and the scoring gateway."""

    name = "deployments"

    def ready(self) -> None:
        from deployments.services import in_use
        from registry import trash

        # A version a deployment needs never loses its files, whatever a purge selects.
        trash.register_in_use_check(in_use.versions_in_use)
