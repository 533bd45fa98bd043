"""The registry pages, namespace ``registry``: each page module lists its own routes."""

from __future__ import annotations

from registry.views import models, versions

app_name = "registry"

urlpatterns = [
    *models.urlpatterns,
    *versions.urlpatterns,
]
