"""The admin of runs and what is logged to them (params, tags, metrics, datasets): read-only, lists that stay
fast on tables of millions of rows, the trash as bulk actions on runs.

``MetricBucket`` is not registered: Django's admin cannot show a model with a composite primary key; a metric
series' page shows its buckets instead.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

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
from studio.templatetags.studio_tags import duration, metric
from tracking.admin.columns import experiment_column, run_column, usage_bytes
from tracking.models import (
    Dataset,
    DatasetInput,
    LoggedModel,
    MetricBucket,
    MetricPoint,
    MetricSeries,
    Param,
    Run,
    RunModelLink,
    RunTag,
    StorageKind,
)
from tracking.store import runs

# How many buckets a metric series' page shows (coarsest levels first).
SHOWN_BUCKETS = 50


class RunTagInline(ReadOnlyInline):
    model = RunTag
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class ParamInline(ReadOnlyInline):
    model = Param
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class MetricSeriesInline(ReadOnlyInline):
    model = MetricSeries
    verbose_name_plural = "metrics (latest values)"
    fields = ("key", "value", "step", ms_column("timestamp", "Time"), "count")
    readonly_fields = fields
    ordering = ("key",)
    show_change_link = True


class DatasetInputInline(ReadOnlyInline):
    model = DatasetInput
    fields = ("dataset", "context", "tags")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[DatasetInput]:
        return super().get_queryset(request).select_related("dataset")


class RunModelLinkInline(ReadOnlyInline):
    model = RunModelLink
    fields = ("direction", "model_id", "step")
    readonly_fields = fields


@admin.register(Run)
class RunAdmin(TrashAdmin):
    """Runs with their status, lifecycle and storage; move to trash, restore, purge."""

    trash_kind, trash_label = "run", "run(s)"
    actions = ("move_to_trash", "restore", "purge")
    list_display = (
        "run_uuid",
        "name",
        experiment_column,
        "status",
        "lifecycle_stage",
        "user_id",
        ms_column("start_time", "Started"),
        "run_duration",
        size_column("size_bytes"),
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
    )
    list_filter = ("lifecycle_stage", "status")
    list_select_related = ("experiment",)
    search_fields = ("run_uuid__startswith", "name", "user_id", "experiment__name")
    ordering = ("-start_time",)
    fields = (
        "run_uuid",
        "name",
        "experiment",
        "status",
        "lifecycle_stage",
        "user_id",
        ms_column("start_time", "Started"),
        ms_column("end_time", "Ended"),
        "artifact_uri",
        size_column("size_bytes"),
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
        "related",
    )
    readonly_fields = fields
    inlines = (ParamInline, MetricSeriesInline, RunTagInline, DatasetInputInline, RunModelLinkInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        return super().get_queryset(request).annotate(size_bytes=usage_bytes(StorageKind.RUN))

    def delete_one(self, obj: Run, user: str) -> None:
        """Soft-delete the run."""
        runs.delete_run(run_id=obj.pk, user=user)

    @admin.display(description="Duration")
    def run_duration(self, run: Run) -> str:
        """How long the run took (a dash while it has no end)."""
        if run.start_time is None or run.end_time is None:
            return "-"
        return duration(run.end_time - run.start_time)

    @admin.display(description="Related")
    def related(self, run: Run) -> str:
        """Links to the full lists of the run's params, metrics and tags (the tables below show the first ones)."""
        return format_html_join(
            " · ",
            "{}",
            (
                (changelist_link(Param, "All params", run__exact=run.pk),),
                (changelist_link(MetricSeries, "All metrics", run__exact=run.pk),),
                (changelist_link(RunTag, "All tags", run__exact=run.pk),),
                (changelist_link(LoggedModel, "Logged models", source_run__exact=run.pk),),
            ),
        )


@admin.register(Param)
class ParamAdmin(LargeTableAdmin):
    """Run parameters (millions of rows: search by exact run id or key)."""

    list_display = (run_column(), "key", text_column("value", "Value"))
    list_display_links = ("key",)
    search_fields = ("run__run_uuid__exact", "key__exact")


@admin.register(RunTag)
class RunTagAdmin(LargeTableAdmin):
    """Run tags (search by exact run id or key)."""

    list_display = (run_column(), "key", text_column("value", "Value"))
    list_display_links = ("key",)
    search_fields = ("run__run_uuid__exact", "key__exact")


@admin.register(MetricSeries)
class MetricSeriesAdmin(LargeTableAdmin):
    """One row per metric of a run: its latest value and extent; its page shows the buckets and links the points."""

    list_display = (run_column(), "key", "latest_value", "step", "count", "min_step", "max_step")
    list_display_links = ("key",)
    search_fields = ("run__run_uuid__exact", "key__exact")
    fields = (
        "run",
        "key",
        "value",
        "step",
        ms_column("timestamp", "Time"),
        "count",
        "min_step",
        "max_step",
        "points",
        "buckets",
    )
    readonly_fields = fields

    @admin.display(description="Value")
    def latest_value(self, series: MetricSeries) -> str:
        """The latest value, as the pages show metrics."""
        return metric(series.value)

    @admin.display(description="History")
    def points(self, series: MetricSeries) -> str:
        """A link to the series' full history."""
        return changelist_link(MetricPoint, f"All {series.count} points", series__exact=series.pk)

    @admin.display(description="Buckets (coarsest first)")
    def buckets(self, series: MetricSeries) -> str:
        """The first buckets of the chart's min/max/last summary, coarsest level first."""
        rows = MetricBucket.objects.filter(series=series).order_by("-level", "bucket")[:SHOWN_BUCKETS]
        cells = (
            (b.level, b.bucket, metric(b.min_value), metric(b.max_value), b.last_step, metric(b.last_value), b.count)
            for b in rows
        )
        body = format_html_join("", "<tr>" + "<td>{}</td>" * 7 + "</tr>", cells)
        names = ("Level", "Bucket", "Min", "Max", "Last step", "Last", "Count")
        head = format_html_join("", "<th>{}</th>", ((name,) for name in names))
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


@admin.register(MetricPoint)
class MetricPointAdmin(LargeTableAdmin):
    """The full metric histories (the largest table: search by exact run id or metric key)."""

    list_display = ("run", "key", "step", ms_column("timestamp", "Time"), "point_value")
    list_display_links = ("step",)
    list_select_related = ("series",)
    search_fields = ("series__run__run_uuid__exact", "series__key__exact")

    @admin.display(description="Run")
    def run(self, point: MetricPoint) -> str:
        """The run the point was logged to."""
        return id_link(Run, point.series.run_id)

    @admin.display(description="Key")
    def key(self, point: MetricPoint) -> str:
        """The metric's key, linking to its series."""
        return id_link(MetricSeries, point.series_id, point.series.key)

    @admin.display(description="Value")
    def point_value(self, point: MetricPoint) -> str:
        """The value, as the pages show metrics."""
        return metric(point.value)


@admin.register(Dataset)
class DatasetAdmin(StudioModelAdmin):
    """Datasets logged with ``mlflow.log_input``, per experiment."""

    list_display = ("name", "digest", "source_type", experiment_column, "dataset_uuid")
    list_filter = ("source_type",)
    list_select_related = ("experiment",)
    search_fields = ("name", "digest", "dataset_uuid__startswith")


@admin.register(DatasetInput)
class DatasetInputAdmin(LargeTableAdmin):
    """Which run used which dataset."""

    list_display = (run_column(), "dataset", "context")
    list_display_links = ("dataset",)
    list_select_related = ("dataset",)
    search_fields = ("run__run_uuid__exact", "dataset__name")
