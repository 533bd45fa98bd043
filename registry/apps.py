from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from studio.auth.permissions import User
    from tracking.models import Run
    from tracking.run_sections import RunSection


class RegistryConfig(AppConfig):
    """Registered models, versions, aliases, their audit trail and pages."""

    name = "registry"

    def ready(self) -> None:
        """Show the versions registered from a run on the run page (tracking cannot import the registry), put
        deleted models and versions in the trash, have the artifact proxy judge ``registry/<model id>/...`` on
        that registered model (READ; the folder is read-only through the proxy anyway), and name registered models
        on the permissions page."""
        from django.urls import reverse

        from registry import access, trash
        from registry.models import RegisteredModel
        from studio.auth import resources
        from studio.cleanup import kinds
        from tracking import access as tracking_access
        from tracking import artifacts, run_sections

        run_sections.register("registry.versions", registered_versions_section)
        kinds.register(trash.RegisteredModelKind())
        kinds.register(trash.ModelVersionKind())
        tracking_access.register_artifact_root(artifacts.REGISTRY_ROOT, access.KIND, access.registry_path_model)
        resources.register_queryset(
            "registered_model",
            label="registered model",
            objects=RegisteredModel.objects,
            url=lambda m: reverse("registry:model-detail", args=[m.name]),
        )


def registered_versions_section(run: Run, user: User) -> RunSection:
    """The run page's box of the live versions registered from the run or its logged models that the user may see
    (3 queries)."""
    from django.urls import reverse

    from registry.store.versions import versions_for_run
    from studio.auth import permissions
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
        for v in versions_for_run(run_id=run.run_uuid, visible=permissions.visibility(user, "registered_model"))
    ]
    return RunSection(
        title="Registered model versions",
        columns=("Version", "URI", "Stage", "Aliases", "Status", "Registered"),
        rows=rows,
        empty="No model version was registered from this run.",
    )
