"""The admin of MLflow 3 logged models, their tags, params and metrics, and the links of runs to them."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from studio.admin import (
    LargeTableAdmin,
    ReadOnlyInline,
    StudioModelAdmin,
    TrashAdmin,
    changelist_link,
    id_link,
    ms_column,
    size_column,
    text_column,
)
from studio.templatetags.studio_tags import metric
from tracking.admin.columns import experiment_column, run_column, usage_bytes
from tracking.models import LoggedModel, LoggedModelMetric, LoggedModelParam, LoggedModelTag, RunModelLink, StorageKind
from tracking.store import logged_models


class LoggedModelTagInline(ReadOnlyInline):
    model = LoggedModelTag
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class LoggedModelParamInline(ReadOnlyInline):
    model = LoggedModelParam
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


@admin.register(LoggedModel)
class LoggedModelAdmin(TrashAdmin):
    """MLflow 3 logged models with their status, lifecycle and storage; move to trash, restore, purge."""

    trash_kind, trash_label = "logged_model", "logged model(s)"
    actions = ("move_to_trash", "restore", "purge")
    list_display = (
        "model_id",
        "name",
        experiment_column,
        run_column("Source run", "source_run_id"),
        "model_type",
        "status",
        "lifecycle_stage",
        size_column("size_bytes"),
        ms_column("creation_timestamp_ms", "Created"),
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
    )
    list_filter = ("lifecycle_stage", "status")
    list_select_related = ("experiment",)
    search_fields = ("model_id__startswith", "name", "source_run__run_uuid__exact")
    ordering = ("-creation_timestamp_ms",)
    fields = (
        "model_id",
        "name",
        "experiment",
        "source_run",
        "model_type",
        "status",
        "status_message",
        "artifact_uri",
        size_column("size_bytes"),
        ms_column("creation_timestamp_ms", "Created"),
        ms_column("last_updated_timestamp_ms", "Last update"),
        "lifecycle_stage",
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
        "metrics",
    )
    readonly_fields = fields
    inlines = (LoggedModelParamInline, LoggedModelTagInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LoggedModel]:
        return super().get_queryset(request).annotate(size_bytes=usage_bytes(StorageKind.LOGGED_MODEL))

    def delete_one(self, obj: LoggedModel, user: str) -> None:
        """Soft-delete the logged model."""
        logged_models.delete_logged_model(model_id=obj.pk, user=user)

    @admin.display(description="Metrics")
    def metrics(self, model: LoggedModel) -> str:
        """A link to the metrics logged for the model."""
        return changelist_link(LoggedModelMetric, "Metrics", model__exact=model.pk)


@admin.register(LoggedModelTag)
class LoggedModelTagAdmin(StudioModelAdmin):
    """Tags of logged models."""

    list_display = ("model", "key", text_column("value", "Value"))
    list_select_related = ("model",)
    search_fields = ("model__model_id__exact", "key")


@admin.register(LoggedModelParam)
class LoggedModelParamAdmin(StudioModelAdmin):
    """Parameters of logged models."""

    list_display = ("model", "key", text_column("value", "Value"))
    list_select_related = ("model",)
    search_fields = ("model__model_id__exact", "key")


@admin.register(LoggedModelMetric)
class LoggedModelMetricAdmin(LargeTableAdmin):
    """Metrics logged for a logged model (search by exact model id, run id or key)."""

    list_display = ("model_id", run_column(), "key", "metric_value", "step", ms_column("timestamp", "Time"))
    search_fields = ("model__model_id__exact", "run__run_uuid__exact", "key__exact")

    @admin.display(description="Value")
    def metric_value(self, row: LoggedModelMetric) -> str:
        """The value, as the pages show metrics."""
        return metric(row.value)


@admin.register(RunModelLink)
class RunModelLinkAdmin(LargeTableAdmin):
    """The logged models runs produced or consumed."""

    list_display = (run_column(), "direction", "model_link", "step")
    list_display_links = ("direction",)
    list_filter = ("direction",)
    search_fields = ("run__run_uuid__exact", "model_id__exact")

    @admin.display(description="Logged model")
    def model_link(self, link: RunModelLink) -> str:
        """The logged model (which may be purged by now)."""
        return id_link(LoggedModel, link.model_id)
