"""The admin of experiments: the trash as bulk actions, the retention rule as the one editable field."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html_join

from studio.admin import (
    ReadOnlyInline,
    StudioModelAdmin,
    TrashAdmin,
    changelist_link,
    count_subquery,
    ms_column,
    size_column,
    sum_subquery,
    text_column,
)
from tracking.admin.columns import experiment_column
from tracking.models import Dataset, Experiment, ExperimentTag, LoggedModel, Run, StorageUsage
from tracking.store import experiments


class ExperimentTagInline(ReadOnlyInline):
    model = ExperimentTag
    fields = ("key", "value")
    readonly_fields = fields
    ordering = ("key",)


class ExperimentForm(forms.ModelForm):
    """The one field of an experiment the admin edits: its retention rule."""

    class Meta:
        model = Experiment
        fields = ("trash_retention_days",)
        help_texts = {
            "trash_retention_days": "Purge the experiment's deleted runs and logged models (and itself, once deleted) "
            "this many days after their deletion. Empty: the site's default rule, if any."
        }

    def clean_trash_retention_days(self) -> int | None:
        """At least one day, or empty (no rule of its own)."""
        days = self.cleaned_data["trash_retention_days"]
        if days is not None and days < 1:
            raise forms.ValidationError("Keep deleted items at least 1 day, or leave empty for no rule.")
        return days


@admin.register(Experiment)
class ExperimentAdmin(TrashAdmin):
    """Experiments with their runs and storage; move to trash, restore, purge; the retention rule is editable."""

    trash_kind, trash_label = "experiment", "experiment(s)"
    form = ExperimentForm
    actions = ("move_to_trash", "restore", "purge")
    list_display = (
        "id",
        "name",
        "lifecycle_stage",
        "run_count",
        size_column("size_bytes", ordering="size_bytes"),
        ms_column("creation_time", "Created"),
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
        "trash_retention_days",
    )
    list_filter = ("lifecycle_stage",)
    search_fields = ("name", "id__exact")
    ordering = ("-pk",)
    fields = (
        "id",
        "name",
        "artifact_location",
        "lifecycle_stage",
        ms_column("creation_time", "Created"),
        ms_column("last_update_time", "Last update"),
        ms_column("deleted_time", "Deleted"),
        "deleted_by",
        "trash_retention_days",
        "related",
    )
    readonly_fields = tuple(field for field in fields if field != "trash_retention_days")
    inlines = (ExperimentTagInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Experiment]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                run_count=count_subquery(Run.objects.all(), "experiment"),
                size_bytes=sum_subquery(StorageUsage.objects.all(), "experiment_id", "bytes"),
            )
        )

    def has_change_permission(self, request: HttpRequest, obj: Experiment | None = None) -> bool:
        """The retention rule can be changed (with Django's change permission); nothing else can."""
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def save_model(self, request: HttpRequest, obj: Experiment, form: forms.ModelForm, change: bool) -> None:
        # Only the rule: saving the whole row would write back a name or lifecycle stage changed meanwhile.
        obj.save(update_fields=["trash_retention_days"])

    def delete_one(self, obj: Experiment, user: str) -> None:
        """Soft-delete the experiment and its active runs."""
        experiments.delete_experiment(experiment_id=str(obj.pk), user=user)

    @admin.display(description="Runs", ordering="run_count")
    def run_count(self, experiment: Experiment) -> int:
        """How many runs the experiment holds, deleted ones included."""
        return experiment.run_count

    @admin.display(description="Related")
    def related(self, experiment: Experiment) -> str:
        """Links to the experiment's runs, logged models, datasets and storage usage rows."""
        pk = experiment.pk
        return format_html_join(
            " · ",
            "{}",
            (
                (changelist_link(Run, f"{experiment.run_count} runs", experiment__exact=pk),),
                (changelist_link(LoggedModel, "Logged models", experiment__exact=pk),),
                (changelist_link(Dataset, "Datasets", experiment__exact=pk),),
                (changelist_link(StorageUsage, "Storage", experiment_id=pk),),
            ),
        )


@admin.register(ExperimentTag)
class ExperimentTagAdmin(StudioModelAdmin):
    """Tags of experiments."""

    list_display = (experiment_column, "key", text_column("value", "Value"))
    list_display_links = ("key",)
    list_select_related = ("experiment",)
    search_fields = ("key", "experiment__name")
