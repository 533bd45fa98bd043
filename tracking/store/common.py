"""Small helpers shared by the tracking store modules."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the epoch, MLflow's timestamp unit."""
    return int(time.time() * 1000)


def experiment_artifact_location(experiment_id: int) -> str:
    """Experiments get proxied artifact URIs, so clients never need storage credentials."""
    return f"mlflow-artifacts:/{experiment_id}"
