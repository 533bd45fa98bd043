"""The admin of the registry: read-only (every change goes through the registry's store, which records its events),
with the trash of registered models and versions as bulk actions (restore, purge as a job)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from registry.models import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
    RegisteredModelTag,
    RegistryEvent,
    Stage,
)
from studio.admin import (
    BoundedCountPaginator,
    ReadOnlyInline,
    StudioModelAdmin,
    TrashAdmin,
    changelist_link,
    count_subquery,
    id_link,
    ms_column,
    size_column,
    sum_subquery,
    text_column,
)
from tracking.models import LoggedModel, Run


class InTrashFilter(admin.SimpleListFilter):
    """Live or in the trash (a deleted model or version keeps its rows until it is purged)."""

    title = "in trash"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("yes", "In trash"), ("no", "Live")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("yes", "no"):
            return queryset.filter(deleted_timestamp__isnull=self.value() == "no")
        return queryset


class VersionStateFilter(admin.SimpleListFilter):
    """Live, in the trash (stage ``Deleted_Internal``), or purged (the row stays, without files)."""

    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("live", "Live"), ("trash", "In trash"), ("purged", "Purged")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> QuerySet[ModelVersion]:
        if self.value() == "live":
            return queryset.exclude(current_stage=Stage.DELETED)
        if self.value() == "trash":
            return queryset.filter(current_stage=Stage.DELETED, purged_timestamp__isnull=True)
        if self.value() == "purged":
            return queryset.filter(purged_timestamp__isnull=False)
        return queryset


# --- registered models ------------------------------------------------------------------------------------------------


class RegisteredModelTagInline(ReadOnlyInline):
    model = RegisteredModelTag
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class ModelVersionInline(ReadOnlyInline):
    model = ModelVersion
    fields = (
        "version",
        "current_stage",
        "status",
        size_column("size_bytes"),
        "file_count",
        "run_id",
        "model_id",
        ms_column("creation_timestamp", "Created"),
        ms_column("deleted_timestamp", "Deleted"),
        ms_column("purged_timestamp", "Purged"),
    )
    readonly_fields = fields
    ordering = ("-version",)
    show_change_link = True


class RegisteredModelAliasInline(ReadOnlyInline):
    model = RegisteredModelAlias
    fields = ("alias", "model_version")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[RegisteredModelAlias]:
        return super().get_queryset(request).select_related("model_version")


@admin.register(RegisteredModel)
class RegisteredModelAdmin(TrashAdmin):
    """Registered models, live and in the trash, with their versions and the bytes those hold; restore, purge."""

    trash_kind, trash_label = "registered_model", "registered model(s)"
    actions = ("restore", "purge")
    list_display = (
        "id",
        "name",
        "version_count",
        size_column("size_bytes", ordering="size_bytes"),
        "user_id",
        ms_column("creation_timestamp", "Created"),
        ms_column("last_updated_timestamp", "Last update"),
        ms_column("deleted_timestamp", "Deleted"),
        "deleted_by",
    )
    list_filter = (InTrashFilter,)
    search_fields = ("name", "id__exact")
    ordering = ("-last_updated_timestamp",)
    fields = (
        "id",
        "name",
        "description",
        "user_id",
        ms_column("creation_timestamp", "Created"),
        ms_column("last_updated_timestamp", "Last update"),
        ms_column("deleted_timestamp", "Deleted"),
        "deleted_by",
        "deployment_job_id",
        size_column("size_bytes"),
        "history",
    )
    readonly_fields = fields
    inlines = (ModelVersionInline, RegisteredModelTagInline, RegisteredModelAliasInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[RegisteredModel]:
        # The trash too: the default manager sees live models only.
        versions = ModelVersion.objects.all()
        query = RegisteredModel.all_objects.annotate(
            version_count=count_subquery(versions, "registered_model"),
            size_bytes=sum_subquery(versions.filter(purged_timestamp__isnull=True), "registered_model", "size_bytes"),
        )
        ordering = self.get_ordering(request)
        return query.order_by(*ordering) if ordering else query

    @admin.display(description="Versions", ordering="version_count")
    def version_count(self, model: RegisteredModel) -> int:
        """How many versions the model has, deleted ones included."""
        return model.version_count

    @admin.display(description="History")
    def history(self, model: RegisteredModel) -> str:
        """A link to the model's registry events."""
        return changelist_link(RegistryEvent, "Events", registered_model_id=model.pk)


@admin.register(RegisteredModelTag)
class RegisteredModelTagAdmin(StudioModelAdmin):
    """Tags of registered models."""

    list_display = ("registered_model", "key", text_column("value", "Value"))
    list_select_related = ("registered_model",)
    search_fields = ("key", "registered_model__name")


@admin.register(RegisteredModelAlias)
class RegisteredModelAliasAdmin(StudioModelAdmin):
    """Aliases (``champion``) and the versions they point to."""

    list_display = ("alias", "registered_model", "version")
    list_select_related = ("registered_model", "model_version")
    search_fields = ("alias", "registered_model__name")

    @admin.display(description="Version", ordering="model_version__version")
    def version(self, alias: RegisteredModelAlias) -> str:
        """The version the alias points to."""
        return id_link(ModelVersion, alias.model_version_id, alias.model_version.version)


# --- versions ---------------------------------------------------------------------------------------------------------


class ModelVersionTagInline(ReadOnlyInline):
    model = ModelVersionTag
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


@admin.register(ModelVersion)
class ModelVersionAdmin(TrashAdmin):
    """Model versions of every model, with their files and lineage; restore, purge."""

    trash_kind, trash_label = "model_version", "model version(s)"
    actions = ("restore", "purge")
    list_display = (
        "registered_model_link",
        "version",
        "current_stage",
        "status",
        size_column("size_bytes", ordering="size_bytes"),
        "file_count",
        "run",
        "logged_model",
        ms_column("creation_timestamp", "Created"),
        ms_column("deleted_timestamp", "Deleted"),
        ms_column("purged_timestamp", "Purged"),
        "deleted_by",
    )
    list_display_links = ("version",)
    list_filter = ("current_stage", "status", VersionStateFilter)
    list_select_related = ("registered_model",)
    search_fields = ("registered_model__name", "run_id__exact", "model_id__exact")
    ordering = ("-last_updated_timestamp",)
    fields = (
        "registered_model",
        "version",
        "current_stage",
        "status",
        "status_message",
        "description",
        "user_id",
        "source",
        "storage_path",
        "storage_uri",
        size_column("size_bytes"),
        "file_count",
        "run",
        "run_link",
        "logged_model",
        "experiment_id",
        ms_column("creation_timestamp", "Created"),
        ms_column("last_updated_timestamp", "Last update"),
        ms_column("deleted_timestamp", "Deleted"),
        "deleted_by",
        ms_column("purged_timestamp", "Purged"),
    )
    readonly_fields = fields
    inlines = (ModelVersionTagInline,)

    @admin.display(description="Model", ordering="registered_model__name")
    def registered_model_link(self, version: ModelVersion) -> str:
        """The registered model (which may be in the trash)."""
        return id_link(RegisteredModel, version.registered_model_id, version.registered_model.name)

    @admin.display(description="Run")
    def run(self, version: ModelVersion) -> str:
        """The run it was registered from (which may be purged by now: its id stays)."""
        return id_link(Run, version.run_id)

    @admin.display(description="Logged model")
    def logged_model(self, version: ModelVersion) -> str:
        """The logged model it was registered from (which may be purged by now)."""
        return id_link(LoggedModel, version.model_id)


@admin.register(ModelVersionTag)
class ModelVersionTagAdmin(StudioModelAdmin):
    """Tags of model versions."""

    list_display = ("model_version", "key", text_column("value", "Value"))
    list_select_related = ("model_version",)
    search_fields = ("key", "model_version__registered_model__name")


@admin.register(RegistryEvent)
class RegistryEventAdmin(StudioModelAdmin):
    """Every change in the registry with who made it; kept after the model is gone or renamed."""

    paginator = BoundedCountPaginator
    list_display = (
        ms_column("timestamp", "Time"),
        "action",
        "model_name",
        "version",
        "alias",
        "key",
        text_column("old_value", "Old value", 40),
        text_column("new_value", "New value", 40),
        "user_id",
    )
    list_filter = ("action",)
    search_fields = ("model_name", "user_id")
    ordering = ("-id",)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[RegistryEvent], search_term: str
    ) -> tuple[QuerySet[RegistryEvent], bool]:
        """A number is also a model's id, matched as a number from the index (``registered_model_id__exact`` in
        ``search_fields`` would compare every row's id as text)."""
        term = search_term.strip()
        if term.isdigit() and len(term) < 19:
            return queryset.filter(Q(registered_model_id=int(term)) | Q(model_name=term)), False
        return super().get_search_results(request, queryset, search_term)
