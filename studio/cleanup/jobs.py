"""Purge jobs: a plan (``plans.py``, the dry run) saved as a job and removed item by item on a worker, resumably.

A job freezes its plan into ``PurgeItem`` rows, each with the bytes it held and the folders its purge deletes. The
worker claims the job with a conditional update and purges each pending item: its rows in one transaction (the kind's
``purge``), then its folders, then it marks the item done with an audit entry. Every step is idempotent, so a job
killed anywhere and run again finishes the work, and its totals (the planned bytes of its done items) come out the
same.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Concat
from django.utils import timezone

from studio import audit
from studio.cleanup.kinds import SkipItem, all_kinds, get_kind, remove_folders
from studio.cleanup.plans import Plan, Selection, expand, older_than_ms, plan
from studio.errors import StudioError, invalid, not_found
from studio.models import AuditEntry, PurgeItem, PurgeItemState, PurgeJob, PurgeJobStatus

__all__ = ["Plan", "Selection", "create_job", "expand", "older_than_ms", "plan", "restore", "run_job"]

log = logging.getLogger(__name__)
ACTIVE = (PurgeJobStatus.QUEUED, PurgeJobStatus.RUNNING)
LOGGED_ITEMS = 100  # a job's log names each of its first items; after that, every hundredth


def restore(*, kind: str, object_id: str, user: str = "") -> None:
    """Take one thing out of the trash, with an audit entry."""
    trash_kind = get_kind(kind)
    with transaction.atomic():
        trash_kind.restore(str(object_id), user=user)
        audit.record(action=AuditEntry.Action.RESTORE, user=user, kind=trash_kind.kind, object_id=str(object_id))


def create_job(
    *,
    selection: Selection | None = None,
    items: Sequence[tuple[str, str]] = (),
    user: str = "",
    enqueue: bool = True,
) -> PurgeJob:
    """Plan a purge and save it as a job (enqueued on commit unless the caller runs it): INVALID_PARAMETER_VALUE
    when nothing selected is in the trash or purgeable."""
    selection = selection or Selection(items=tuple((str(k), str(i)) for k, i in items))
    planned = plan(selection)
    return create_job_from_plan(
        planned, description=selection.describe(), selection=selection, user=user, enqueue=enqueue
    )


def create_job_from_plan(
    planned: Plan, *, description: str, selection: Selection | None = None, user: str = "", enqueue: bool = True
) -> PurgeJob:
    """Save a plan as a job."""
    if not planned.items:
        why = "; ".join(f"{item.kind} {item.name}: {item.blocked}" for item in planned.blocked[:5])
        raise invalid("Nothing to purge" + (f" (kept: {why})" if why else ": nothing selected is in the trash"))
    with transaction.atomic():
        job = PurgeJob.objects.create(
            description=description[:1024],
            selection=selection.as_json() if selection else {},
            created_by=user,
            total_items=len(planned.items),
            planned_bytes=planned.bytes,
            planned_files=planned.files,
            log=_kept_lines(planned),
        )
        PurgeItem.objects.bulk_create(
            [
                PurgeItem(
                    job=job,
                    position=n,
                    kind=item.kind,
                    object_id=item.object_id,
                    name=item.name[:1024],
                    parent=item.parent[:1024],
                    bytes=item.bytes,
                    files=item.files,
                    folders=item.folders,
                )
                for n, item in enumerate(planned.items)
            ],
            batch_size=1000,
        )
        if enqueue:
            from studio import tasks  # the task calls this module

            transaction.on_commit(lambda: tasks.run_purge_job.delay(job.pk))
    return job


def _kept_lines(planned: Plan) -> str:
    lines = [f"kept {item.kind} {item.name} ({item.object_id}): {item.blocked}\n" for item in planned.blocked]
    lines += [f"not in the trash: {kind} {object_id}\n" for kind, object_id in planned.missing]
    return "".join(lines)


def lease() -> timedelta:
    """How long a claim on a purge job holds without progress before another worker may take it over."""
    return timedelta(seconds=float(getattr(settings, "STUDIO_PURGE_LEASE_SECONDS", 300)))


def claim(job_id: int, worker: str = "") -> str | None:
    """Take a queued job, or a running one whose claim went stale (its worker died); the claim token or None."""
    token = worker or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    free = Q(claimed_by="") | Q(claimed_at__lt=now - lease())
    taken = PurgeJob.objects.filter(free, pk=job_id, status__in=ACTIVE).update(
        claimed_by=token, claimed_at=now, attempt=F("attempt") + 1
    )
    return token if taken else None


class LostClaim(Exception):
    """Another worker took the job over (this one was too slow): stop without touching it."""


def _append(job_id: int, token: str | None, line: str, **fields: Any) -> None:
    """Add a log line (and update fields) if the claim is still ours; renews the claim."""
    query = PurgeJob.objects.filter(pk=job_id)
    if token is not None:
        query = query.filter(claimed_by=token)
        fields["claimed_at"] = timezone.now()
    if line:
        fields["log"] = Concat(F("log"), Value(f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}\n"))
    if not query.update(**fields):
        raise LostClaim(job_id)


def run_job(job_id: int, *, worker: str = "", on_item: Any = None) -> PurgeJob | None:
    """Claim the job and purge its pending items; None when another worker holds it or it is done."""
    token = claim(job_id, worker)
    if token is None:
        return None
    job = PurgeJob.objects.get(pk=job_id)
    resumed = job.attempt > 1
    _append(
        job_id,
        token,
        "resumed" if resumed else "started",
        status=PurgeJobStatus.RUNNING,
        started_at=job.started_at or timezone.now(),
    )
    try:
        for item in PurgeItem.objects.filter(job_id=job_id, state=PurgeItemState.PENDING).order_by("position"):
            _purge_item(job, token, item)
            if on_item is not None:
                on_item(item)
    except LostClaim:
        log.warning("purge job %s was taken over by another worker", job_id)
        return None
    except Exception as exc:  # the job itself broke (not one item): it fails, its done items stay done
        log.exception("purge job %s failed", job_id)
        _append(job_id, token, f"failed: {exc}", status=PurgeJobStatus.FAILED, finished_at=timezone.now())
        raise
    return _finish(job, token)


def _purge_item(job: PurgeJob, token: str, item: PurgeItem) -> None:
    """Rows, then folders, then done (with its audit entry); a failure of this item is logged and the job goes on."""
    kind = get_kind(item.kind)
    label = f"{item.kind} {item.name} ({item.object_id})"
    try:
        existed = kind.purge(item.object_id)
        remove_folders(item.folders)
    except SkipItem as skipped:
        _mark(job, token, item, PurgeItemState.SKIPPED, f"skipped {label}: {skipped}", error=str(skipped))
        return
    except StudioError as exc:
        _mark(job, token, item, PurgeItemState.FAILED, f"failed {label}: {exc.message}", error=exc.message)
        return
    except Exception as exc:  # a storage error, a database hiccup: this item is retried by a re-run, not this one
        log.exception("purging %s failed", label)
        _mark(job, token, item, PurgeItemState.FAILED, f"failed {label}: {exc}", error=str(exc) or type(exc).__name__)
        return
    note = "" if existed else " (already gone: finished an interrupted purge)"
    line = f"purged {label}: {item.files} files, {item.bytes} bytes{note}"
    # Every item of a big job would make the log (rewritten whole at each line) grow quadratically: after the first
    # ones, only every hundredth and the unusual ones; each item's own row keeps its state either way.
    if item.position >= LOGGED_ITEMS and existed and (item.position + 1) % 100:
        line = ""
    elif item.position >= LOGGED_ITEMS:
        line += f" ({item.position + 1} of {job.total_items})"
    _mark(job, token, item, PurgeItemState.DONE, line)


def _mark(job: PurgeJob, token: str, item: PurgeItem, state: str, line: str, *, error: str = "") -> None:
    with transaction.atomic():
        _append(job.pk, token, line)
        PurgeItem.objects.filter(pk=item.pk).update(state=state, error=error[:4000], finished_at=timezone.now())
        if state == PurgeItemState.DONE:
            audit.record(
                action=AuditEntry.Action.PURGE,
                user=job.created_by,
                kind=item.kind,
                object_id=item.object_id,
                name=item.name,
                bytes=item.bytes,
                files=item.files,
                detail={"job": job.pk, "parent": item.parent, "folders": item.folders},
            )


def _finish(job: PurgeJob, token: str) -> PurgeJob:
    totals = summary(job.pk)
    line = (
        f"finished: {totals['done']} purged, {totals['failed']} failed, {totals['skipped']} skipped; "
        f"{totals['bytes']} bytes in {totals['files']} files freed"
    )
    with transaction.atomic():
        _append(job.pk, token, line, status=PurgeJobStatus.FINISHED, finished_at=timezone.now())
        PurgeJob.objects.filter(pk=job.pk).update(claimed_by="", claimed_at=None)
        audit.record(
            action=AuditEntry.Action.PURGE_JOB,
            user=job.created_by,
            kind="purge_job",
            object_id=str(job.pk),
            name=job.description,
            bytes=totals["bytes"],
            files=totals["files"],
            detail=totals,
        )
    return PurgeJob.objects.get(pk=job.pk)


def summary(job_id: int) -> dict[str, int]:
    """Progress and totals: items per state, and the bytes and files of the purged ones."""
    rows = (
        PurgeItem.objects.filter(job_id=job_id).values("state").annotate(n=Count("pk"), b=Sum("bytes"), f=Sum("files"))
    )
    by_state = {row["state"]: row for row in rows}
    done = by_state.get(PurgeItemState.DONE, {})
    return {
        "total": sum(row["n"] for row in rows),
        "done": done.get("n", 0),
        "failed": by_state.get(PurgeItemState.FAILED, {}).get("n", 0),
        "skipped": by_state.get(PurgeItemState.SKIPPED, {}).get("n", 0),
        "pending": by_state.get(PurgeItemState.PENDING, {}).get("n", 0),
        "bytes": done.get("b") or 0,
        "files": done.get("f") or 0,
    }


def get_job(job_id: int | str) -> PurgeJob:
    """A purge job by id."""
    try:
        job = PurgeJob.objects.filter(pk=int(job_id)).first()
    except (TypeError, ValueError):
        job = None
    if job is None:
        raise not_found(f"Purge job {job_id} not found")
    return job


def recover_stale_jobs() -> list[int]:
    """Re-enqueue jobs nobody works on: queued ones never picked up, running ones whose worker died."""
    from studio import tasks

    stale = timezone.now() - lease()
    ids = list(
        PurgeJob.objects.filter(status__in=ACTIVE)
        .filter(Q(claimed_by="", created_at__lt=timezone.now() - timedelta(seconds=60)) | Q(claimed_at__lt=stale))
        .values_list("pk", flat=True)
    )
    for job_id in ids:
        tasks.run_purge_job.delay(job_id)
    return ids


def purge_expired(*, now_ms: int | None = None, enqueue: bool = True) -> PurgeJob | None:
    """The retention rules' periodic purge: what is past its experiment's (or the default) retention goes, as one
    job; nothing while an earlier retention job still works."""
    if PurgeJob.objects.filter(status__in=ACTIVE, created_by=RETENTION_USER).exists():
        return None
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    default = getattr(settings, "STUDIO_TRASH_RETENTION_DAYS", None)
    selected = [item for kind in all_kinds() for item in kind.expired(now, default)]
    planned = expand(selected)
    if not planned.items:
        return None
    return create_job_from_plan(
        planned, description="retention: deleted items past their retention", user=RETENTION_USER, enqueue=enqueue
    )


RETENTION_USER = "retention"
