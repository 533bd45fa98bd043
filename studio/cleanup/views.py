"""The trash page: what is deleted, restore, the dry run of a purge, and the purge jobs at work."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from studio.auth.access import STAFF, access
from studio.cleanup import jobs
from studio.cleanup.api import job_to_json
from studio.cleanup.kinds import Filter, all_kinds
from studio.models import PurgeJob

LISTED = 200


def _older_than(request: HttpRequest) -> tuple[float | None, str]:
    raw = request.GET.get("older_than_days", "").strip()
    if not raw:
        return None, ""
    try:
        days = float(raw)
    except ValueError:
        return None, f"“{raw}” is not a number of days."
    return (days, "") if days >= 0 else (None, "The number of days cannot be negative.")


@access(STAFF)  # the trash holds everyone's deleted things: for staff, as purges are
@require_GET
def TrashView(request: HttpRequest) -> HttpResponse:
    """Deleted things of one kind at a time (tabs with counts), with restore and purge, and the recent purge jobs."""
    older, error = _older_than(request)
    where = Filter(older_than_ms=jobs.older_than_ms(older))
    tabs = [(kind, kind.count(where)) for kind in all_kinds()]
    names = [kind.kind for kind, _ in tabs]
    current = request.GET.get("kind") if request.GET.get("kind") in names else None
    current = current or next((kind.kind for kind, count in tabs if count), names[0] if names else "")
    kind = next((k for k, _ in tabs if k.kind == current), None)
    items = kind.list(where, limit=LISTED) if kind else []
    recent = [job_to_json(job) for job in PurgeJob.objects.order_by("-created_at", "-pk")[:10]]
    context = {
        "nav": "trash",
        "tabs": tabs,
        "kind": kind,
        "items": items,
        # Runs live in experiments, versions in models; experiments and registered models live in nothing.
        "with_parent": any(item.parent for item in items),
        "total": next((count for k, count in tabs if k.kind == current), 0),
        "listed": LISTED,
        "older_than_days": request.GET.get("older_than_days", ""),
        "filter_error": error,
        "jobs": recent,
        "default_retention": getattr(settings, "STUDIO_TRASH_RETENTION_DAYS", None),
    }
    return render(request, "studio/trash.html", context, status=400 if error else 200)
