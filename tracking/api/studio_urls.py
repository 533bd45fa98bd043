"""Studio extensions to the tracking API, mounted under /api/2.0/studio/ and /ajax-api/2.0/studio/."""

from __future__ import annotations

from tracking.api import artifact_deletion, experiments, metrics

urlpatterns = [
    *metrics.studio_urlpatterns,
    *artifact_deletion.studio_urlpatterns,
    *experiments.studio_urlpatterns,
]
