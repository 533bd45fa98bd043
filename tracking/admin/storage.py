"""The admin of storage usage: bytes and files per artifact root, and the largest files of each."""

from __future__ import annotations

from django.contrib import admin

from studio.admin import (
    BoundedCountPaginator,
    LargeTableAdmin,
    ReadOnlyInline,
    StudioModelAdmin,
    ms_column,
    size_column,
)
from tracking.models import StorageUsage, StoredFile


class StoredFileInline(ReadOnlyInline):
    model = StoredFile
    verbose_name_plural = "largest files"
    fields = ("path", size_column("size"))
    readonly_fields = fields
    ordering = ("-size",)


@admin.register(StorageUsage)
class StorageUsageAdmin(StudioModelAdmin):
    """Bytes and files per artifact root, the largest first; stale rows are rescanned by the storage task."""

    paginator = BoundedCountPaginator
    list_display = (
        "path",
        "kind",
        "owner_id",
        "experiment_id",
        "label",
        size_column("bytes", ordering="bytes"),
        "files",
        "stale",
        ms_column("scanned_at", "Scanned"),
    )
    list_filter = ("kind", "stale")
    search_fields = ("path", "owner_id__exact", "label")
    ordering = ("-bytes",)
    inlines = (StoredFileInline,)


@admin.register(StoredFile)
class StoredFileAdmin(LargeTableAdmin):
    """The largest files of every root, the largest first."""

    list_display = ("path", size_column("size"), "usage", "experiment_id")
    list_select_related = ("usage",)
    search_fields = ("path",)
    ordering = ("-size",)
