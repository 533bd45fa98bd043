"""The tracking API's routes, mounted under both ``/api/2.0/mlflow/`` and ``/ajax-api/2.0/mlflow/``.

Each endpoint module owns its ``urlpatterns``; this file only concatenates them.
"""

from __future__ import annotations

from tracking.api import experiments, runs

urlpatterns = [*experiments.urlpatterns, *runs.urlpatterns]
