"""Studio: a self-hosted machine-learning studio speaking MLflow's protocol."""

from __future__ import annotations

from studio.celery import app as celery_app

__all__ = ["celery_app"]
