from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from tracking.models import Run
    from tracking.run_sections import RunSection


class RegistryConfig(AppConfig):
    """Registered models, versions, aliases, their audit trail and pages."""

    name = "registry"

    def ready(self) -> None:
        """Show the versions registered from a run on the run page (tracking cannot import the registry), and put
        deleted models and versions in the trash."""
        from registry import trash
        from studio.cleanup import kinds
        from tracking import run_sections

        run_sections.register("registry.versions", registered_versions_section)
        kinds.register(trash.RegisteredModelKind())
        kinds.register(trash.ModelVersionKind())


def registered_versions_section(run: Run) -> RunSection:
    """The run page's box of the live model versions registered from the run or its logged models (3 queries)."""
    from django.urls import reverse

    from registry.store.versions import versions_for_run
    from tracking.run_sections import Cell, RunSection

    rows = [
        (
            Cell(
                f"{v.registered_model.name} version {v.version}",
                url=reverse("registry:version-detail", kwargs={"name": v.registered_model.name, "version": v.version}),
            ),
            Cell(f"models:/{v.registered_model.name}/{v.version}", mono=True),
            Cell(v.current_stage),
            Cell(", ".join(f"@{alias}" for alias in v.alias_list)),
            Cell(v.get_status_display()),
            Cell(time_ms=v.creation_timestamp),
        )
        for v in versions_for_run(run_id=run.run_uuid)
    ]
    return RunSection(
        title="Registered model versions",
        columns=("Version", "URI", "Stage", "Aliases", "Status", "Registered"),
        rows=rows,
        empty="No model version was registered from this run.",
    )
