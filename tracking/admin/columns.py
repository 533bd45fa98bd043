"""Columns the tracking admins share: links to runs and experiments by id, recorded artifact sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.db.models import OuterRef, Subquery

from studio.admin import id_link
from tracking.models import Experiment, Run, StorageUsage


def usage_bytes(kind: str) -> Subquery:
    """The recorded bytes of the outer row's artifact root (its usage row; stale rows show their last scan)."""
    usage = StorageUsage.objects.filter(kind=kind, owner_id=OuterRef("pk")).values("bytes")[:1]
    return Subquery(usage)


def run_column(description: str = "Run", field: str = "run_id") -> Callable[[Any], str]:
    """A column linking to the run whose id a row holds in ``field`` (no join: the id is enough for the link)."""

    @admin.display(description=description, ordering=field)
    def column(obj: Any) -> str:
        return id_link(Run, getattr(obj, field))

    return column


@admin.display(description="Experiment", ordering="experiment_id")
def experiment_column(obj: Any) -> str:
    """A link to the experiment of a row (selected with it), showing its name."""
    return id_link(Experiment, obj.experiment_id, obj.experiment.name)
