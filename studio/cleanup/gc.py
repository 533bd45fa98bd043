"""``studio gc``: ``mlflow gc`` for Studio, through the same plan and purge job as the trash page.

``--older-than 1d2h3m4s`` (mlflow's format, floats allowed), ``--experiment-ids 1,2``, ``--run-ids a,b``, and
``--dry-run`` to print what would go without changing anything. The job runs in this process (no worker needed) and
is recorded like any other: it shows on the trash page and in the audit log.
"""

from __future__ import annotations

import re
import sys
from typing import TextIO

from studio.cleanup import jobs
from studio.errors import StudioError, invalid

_AGE = re.compile(
    r"^(?:(?P<d>\d+(?:\.\d+)?)d)?(?:(?P<h>\d+(?:\.\d+)?)h)?(?:(?P<m>\d+(?:\.\d+)?)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$"
)
_SECONDS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_age(text: str) -> float:
    """``#d#h#m#s`` (as ``mlflow gc --older-than``) in days."""
    match = _AGE.match(text.strip())
    if not text.strip() or match is None:
        raise invalid(f"--older-than must look like 1d2h3m4s (days, hours, minutes, seconds), not {text!r}")
    seconds = sum(float(value) * _SECONDS[unit] for unit, value in match.groupdict().items() if value)
    return seconds / 86_400


def _ids(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def selection(*, older_than: str | None, experiment_ids: str | None, run_ids: str | None) -> jobs.Selection:
    """The selection of ``studio gc``'s options."""
    return jobs.Selection(
        older_than_days=parse_age(older_than) if older_than else None,
        experiment_ids=_ids(experiment_ids),
        run_ids=_ids(run_ids),
    )


def _size(n: int) -> str:
    value, unit = float(n), "bytes"
    for bigger in ("KB", "MB", "GB", "TB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit}"


def run(
    *,
    older_than: str | None = None,
    experiment_ids: str | None = None,
    run_ids: str | None = None,
    dry_run: bool = False,
    user: str = "studio gc",
    out: TextIO | None = None,
) -> int:
    """Plan, print, and (unless a dry run) purge; exit status 1 when something could not be purged."""
    out = out or sys.stdout
    try:
        chosen = selection(older_than=older_than, experiment_ids=experiment_ids, run_ids=run_ids)
        planned = jobs.plan(chosen)
    except StudioError as exc:
        print(f"error: {exc.message}", file=out)
        return 2
    _print_plan(planned, out)
    if dry_run or not planned.items:
        print("Dry run: nothing was removed." if dry_run else "Nothing to purge.", file=out)
        return 0
    job = jobs.create_job_from_plan(
        planned, description=f"studio gc: {chosen.describe()}", selection=chosen, user=user, enqueue=False
    )
    jobs.run_job(job.pk, on_item=lambda item: print(f"  purged {item.kind} {item.name}", file=out, flush=True))
    totals = jobs.summary(job.pk)
    print(
        f"Purge job {job.pk}: {totals['done']} purged, {totals['failed']} failed, {totals['skipped']} skipped; "
        f"{totals['files']} files, {_size(totals['bytes'])} freed.",
        file=out,
    )
    return 1 if totals["failed"] else 0


def _print_plan(planned: jobs.Plan, out: TextIO) -> None:
    for item in planned.items:
        where = f" in {item.parent}" if item.parent else ""
        print(
            f"{item.kind:<14} {item.object_id:<34} {item.name}{where}  {item.files} files, {_size(item.bytes)}",
            file=out,
        )
    for item in planned.blocked:
        print(f"kept {item.kind} {item.object_id} {item.name}: {item.blocked}", file=out)
    for kind, object_id in planned.missing:
        print(f"not in the trash: {kind} {object_id}", file=out)
    print(f"Total: {len(planned.items)} items, {planned.files} files, {_size(planned.bytes)}.", file=out)
