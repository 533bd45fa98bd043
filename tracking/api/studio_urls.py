"""Studio extensions to the tracking API, mounted under /api/2.0/studio/ and /ajax-api/2.0/studio/."""

from __future__ import annotations

from tracking.api import metrics

urlpatterns = [
    *metrics.studio_urlpatterns,
]
