"""The registry API's routes, mounted under ``/api/2.0/mlflow/`` and ``/ajax-api/2.0/mlflow/`` beside tracking's."""

from __future__ import annotations

from registry.api import models, versions

urlpatterns = [
    *models.urlpatterns,
    *versions.urlpatterns,
]
