"""Deployment tasks: each takes a deployment id and calls the service that claims the row and does the work, so a
duplicated or retried task does no harm."""

from __future__ import annotations

from celery import shared_task

from deployments import services


@shared_task(name="deployments.run_deployment", acks_late=True)
def run_deployment_task(deployment_id: int) -> str | None:
    """Build and start a deployment."""
    return services.run_deployment(deployment_id=deployment_id)


@shared_task(name="deployments.stop_deployment", acks_late=True)
def stop_deployment_task(deployment_id: int) -> str | None:
    """Stop a deployment's servers."""
    return services.stop_deployment_now(deployment_id=deployment_id)


@shared_task(name="deployments.delete_deployment", acks_late=True)
def delete_deployment_task(deployment_id: int) -> bool:
    """Remove a deployment's servers, then its row."""
    return services.delete_deployment_now(deployment_id=deployment_id)


@shared_task(name="deployments.recover_stale_deployments")
def recover_stale_deployments_task() -> list[int]:
    """Re-enqueue deployments whose worker died or whose task was lost (run it periodically)."""
    return services.recover_stale_deployments()


@shared_task(name="deployments.probe_deployments")
def probe_deployments_task() -> dict[str, int]:
    """Follow the health of the running deployments (run periodically)."""
    return services.probe_deployments()


@shared_task(name="deployments.prune_environments")
def prune_environments_task() -> dict[str, list[str]]:
    """Delete model environments that nothing uses any more (run daily)."""
    return services.prune_environments()


@shared_task(name="deployments.prune_request_log")
def prune_request_log_task() -> int:
    """Delete the gateway's request log records older than STUDIO_REQUEST_LOG_DAYS (run daily)."""
    return services.prune_request_log()
