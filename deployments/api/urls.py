"""Studio's deployments API, mounted under ``/api/2.0/studio/`` and ``/ajax-api/2.0/studio/``."""

from __future__ import annotations

from deployments.api import views

urlpatterns = [*views.urlpatterns]
