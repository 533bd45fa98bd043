"""The gateway's request log: how long it is kept."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from deployments.models import RequestLog


def request_log_retention() -> timedelta:
    return timedelta(days=float(getattr(settings, "STUDIO_REQUEST_LOG_DAYS", 30)))


def prune_request_log(*, batch: int = 10_000) -> int:
    """Delete request log records older than the retention, a batch at a time (a large delete must not hold the
    table for long while the gateway's writer appends); how many went."""
    cutoff = timezone.now() - request_log_retention()
    total = 0
    while True:
        ids = list(RequestLog.objects.filter(time__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return total
        total += RequestLog.objects.filter(id__in=ids).delete()[0]
