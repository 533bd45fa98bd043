"""Studio extensions of the registry, mounted under ``/api/2.0/studio/`` and ``/ajax-api/2.0/studio/``."""

from __future__ import annotations

from registry.api import studio

urlpatterns = [
    *studio.urlpatterns,
]
