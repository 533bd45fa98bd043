"""The admin of tracking: read-only (MLflow data is immutable or validated by the store), with the trash as bulk
actions through the store and the purge jobs, and an experiment's retention rule as its one editable field.

Each module registers its admins when imported; Django's admin autodiscovery imports this package.
"""

from __future__ import annotations

from tracking.admin import experiments, logged_models, runs, storage

__all__ = ["experiments", "logged_models", "runs", "storage"]
