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
