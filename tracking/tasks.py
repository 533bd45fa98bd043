"""Tracking's periodic tasks: keeping the storage usage of artifact roots current."""

from __future__ import annotations

import dataclasses

from celery import shared_task

from tracking.store import storage


@shared_task(name="tracking.refresh_storage_usage")
def refresh_storage_usage() -> int:
    """Rescan a bounded batch of the artifact roots written or deleted since their last scan (run every minute)."""
    return storage.refresh_stale(limit=storage.REFRESH_BATCH, seconds=50)


@shared_task(name="tracking.reconcile_storage_usage")
def reconcile_storage_usage() -> dict[str, int]:
    """Walk the whole artifact store once and measure every root afresh, catching what bypassed Studio (daily)."""
    return dataclasses.asdict(storage.reconcile())
