"""The deployments pages, namespace ``deployments``."""

from __future__ import annotations

from deployments.views import pages

app_name = "deployments"

urlpatterns = [*pages.urlpatterns]
