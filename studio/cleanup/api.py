"""The trash and purge jobs over REST, under ``/api/2.0/studio/`` (and ``/ajax-api/2.0/studio/`` for the pages).

``trash/list``, ``trash/restore``, ``trash/plan`` (the dry run), ``purge-jobs/create``, ``purge-jobs/get`` and
``purge-jobs/list``. A selection is ``{"items": [{"kind", "id"}]}`` or any of ``older_than_days``, ``kinds``,
``experiment_ids`` and ``run_ids`` (``mlflow gc``'s options). Everything here is for staff: the trash lists and
restores everyone's deleted things, and purges cannot be undone.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view, request_user
from studio.auth.access import STAFF, access
from studio.cleanup import jobs
from studio.cleanup.kinds import Filter, TrashItem, all_kinds, get_kind
from studio.errors import invalid
from studio.models import PurgeItem, PurgeItemState, PurgeJob

MAX_LISTED = 1000
MAX_PLANNED = 500  # items a dry run lists in full; the counts and bytes always cover all of them


def item_to_json(item: TrashItem) -> dict[str, Any]:
    """A trash item as the API shows it."""
    payload = asdict(item)
    payload["id"] = payload.pop("object_id")
    return payload


def selection_from(args: Args) -> jobs.Selection:
    """A selection from a request body."""
    items = []
    for i, entry in enumerate(args.list("items")):
        item = args.sub(entry, f"items[{i}]")
        items.append((item.str("kind", required=True), item.str("id", required=True)))
    older = _older_than_days(args)
    return jobs.Selection(
        items=tuple(items),
        older_than_days=older,
        kinds=tuple(args.str_list("kinds")),
        experiment_ids=tuple(args.str_list("experiment_ids")),
        run_ids=tuple(args.str_list("run_ids")),
    )


def plan_to_json(planned: jobs.Plan) -> dict[str, Any]:
    """A dry run: counts and bytes of everything, the items themselves up to a limit."""
    return {
        "items": [item_to_json(item) for item in planned.items[:MAX_PLANNED]],
        "item_count": len(planned.items),
        "counts": planned.counts(),
        "bytes": planned.bytes,
        "files": planned.files,
        "blocked": [item_to_json(item) for item in planned.blocked[:MAX_PLANNED]],
        "missing": [{"kind": kind, "id": object_id} for kind, object_id in planned.missing],
    }


def job_to_json(job: PurgeJob, *, with_log: bool = False) -> dict[str, Any]:
    """A purge job with its progress and totals."""
    payload: dict[str, Any] = {
        "job_id": str(job.pk),
        "status": job.status,
        "description": job.description,
        "created_by": job.created_by,
        "created_at": job.created_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "planned_bytes": job.planned_bytes,
        "planned_files": job.planned_files,
        "progress": jobs.summary(job.pk),
    }
    if with_log:
        payload["log"] = job.log
        failed = PurgeItem.objects.filter(job=job, state=PurgeItemState.FAILED).order_by("position")[:100]
        payload["failed_items"] = [
            {"kind": i.kind, "id": i.object_id, "name": i.name, "error": i.error} for i in failed
        ]
    return payload


MAX_AGE_DAYS = 1_000_000  # beyond any timestamp in milliseconds that fits the columns


def _older_than_days(args: Args) -> float | None:
    """The age filter: a number of days from 0 up (NaN and infinities are no age, and refused)."""
    older = args.float("older_than_days")
    if older is not None and not 0 <= older <= MAX_AGE_DAYS:
        raise invalid(f"older_than_days must be a number of days from 0 to {MAX_AGE_DAYS:,}")
    return older


@access(STAFF)
@api_view("GET")
def ListTrashApi(request: HttpRequest, args: Args) -> dict:
    """Deleted things of one kind (or a count of each kind when no kind is given)."""
    kind_name = args.str("kind")
    older = _older_than_days(args)
    where = Filter(older_than_ms=jobs.older_than_ms(older))
    if not kind_name:
        return {"counts": {kind.kind: kind.count(where) for kind in all_kinds()}}
    kind = get_kind(kind_name)
    limit = args.int("max_results", default=200)
    if not 1 <= limit <= MAX_LISTED:
        raise invalid(f"max_results must be between 1 and {MAX_LISTED}")
    return {"items": [item_to_json(i) for i in kind.list(where, limit=limit)], "total": kind.count(where)}


@access(STAFF)
@api_view("POST")
def RestoreTrashApi(request: HttpRequest, args: Args) -> dict:
    """Take one thing out of the trash."""
    jobs.restore(
        kind=args.str("kind", required=True), object_id=args.str("id", required=True), user=request_user(request)
    )
    return {}


@access(STAFF)
@api_view("POST")
def PlanPurgeApi(request: HttpRequest, args: Args) -> dict:
    """The dry run: what a purge of this selection removes and how many bytes come back; nothing changes."""
    return plan_to_json(jobs.plan(selection_from(args)))


@access(STAFF)
@api_view("POST")
def CreatePurgeJobApi(request: HttpRequest, args: Args) -> dict:
    """Plan the selection again and queue it as a purge job for a worker."""
    job = jobs.create_job(selection=selection_from(args), user=request_user(request))
    return {"job": job_to_json(job)}


@access(STAFF)
@api_view("GET")
def GetPurgeJobApi(request: HttpRequest, args: Args) -> dict:
    """A purge job with its log and failed items."""
    return {"job": job_to_json(jobs.get_job(args.str("job_id", required=True)), with_log=True)}


@access(STAFF)
@api_view("GET")
def ListPurgeJobsApi(request: HttpRequest, args: Args) -> dict:
    """The most recent purge jobs."""
    limit = args.int("max_results", default=20)
    if not 1 <= limit <= 100:
        raise invalid("max_results must be between 1 and 100")
    return {"jobs": [job_to_json(job) for job in PurgeJob.objects.order_by("-created_at", "-pk")[:limit]]}


urlpatterns = [
    path("trash/list", ListTrashApi, name="list"),
    path("trash/restore", RestoreTrashApi, name="restore"),
    path("trash/plan", PlanPurgeApi, name="plan"),
    path("purge-jobs/create", CreatePurgeJobApi, name="create-job"),
    path("purge-jobs/get", GetPurgeJobApi, name="get-job"),
    path("purge-jobs/list", ListPurgeJobsApi, name="list-jobs"),
]
