"""Studio's own Celery tasks: ``ping`` proves that a worker is up and reaches the same database as the web side."""

from __future__ import annotations

from celery import Task, shared_task
from django.db import connection


@shared_task(bind=True, name="studio.tasks.ping")
def ping(self: Task) -> dict[str, str]:
    """Answer with the worker's node name and the database it is connected to, after a real round trip to it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {
        "hostname": self.request.hostname or "",
        "vendor": connection.vendor,
        "database": str(connection.settings_dict["NAME"]),
    }


@shared_task(name="studio.run_purge_job")
def run_purge_job(job_id: int) -> int | None:
    """Work through a purge job (a duplicate or late delivery finds it claimed or done and does nothing)."""
    from studio.cleanup import jobs

    job = jobs.run_job(job_id)
    return job.pk if job else None


@shared_task(name="studio.recover_purge_jobs")
def recover_purge_jobs() -> list[int]:
    """Re-enqueue purge jobs that no worker holds any more."""
    from studio.cleanup import jobs

    return jobs.recover_stale_jobs()


@shared_task(name="studio.purge_expired")
def purge_expired() -> int | None:
    """The retention rules: purge what stayed in the trash longer than its experiment (or the default) allows."""
    from studio.cleanup import jobs

    job = jobs.purge_expired()
    return job.pk if job else None
