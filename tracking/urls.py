"""The tracking pages, namespace ``tracking``: each page module lists its own routes."""

from __future__ import annotations

from tracking.views import artifacts, compare, experiment, experiments, run, storage

app_name = "tracking"

urlpatterns = [
    *experiments.urlpatterns,
    *experiment.urlpatterns,
    *run.urlpatterns,
    *artifacts.urlpatterns,
    *compare.urlpatterns,
    *storage.urlpatterns,
]
