"""The tracking API's routes, mounted under both ``/api/2.0/mlflow/`` and ``/ajax-api/2.0/mlflow/``.

Each endpoint module owns its ``urlpatterns``; this file only concatenates them.
"""

from __future__ import annotations

from tracking.api import artifacts, experiments, inputs, logged_models, metrics, runs, search

urlpatterns = [
    *experiments.urlpatterns,
    *runs.urlpatterns,
    *search.urlpatterns,
    *metrics.urlpatterns,
    *logged_models.urlpatterns,
    *inputs.urlpatterns,
    *artifacts.urlpatterns,
]
