"""The run page: overview (status, times, source, parent and child runs, sections other apps add such as the model
versions registered from the run), params, tags, datasets and logged models; a chart per metric key; and the
artifacts component. The tab and the charts' settings are in the query string, so a link shows the same view."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_safe

from studio.auth import permissions
from studio.auth.access import access
from studio.errors import StudioError
from tracking import run_sections
from tracking.access import RUN_READ
from tracking.store import run_page
from tracking.store.common import now_ms
from tracking.views.artifacts import run_artifacts_context

X_AXIS_LABELS = {"step": "Step", "wall": "Wall time", "relative": "Relative time"}


@access(RUN_READ)
@require_safe
def RunDetailView(request: HttpRequest, run_id: str) -> HttpResponse:
    """One run, on the tab the query string names."""
    try:
        page = run_page.run_page(run_id, visible=permissions.visibility(request.user, "experiment"))
    except StudioError as exc:
        raise Http404(exc.message) from None
    context = {
        "nav": "experiments",
        "page": page,
        "run": page.run,
        "state": run_page.RunPageState.from_params(request.GET),
        "sections": run_sections.sections_for(page.run, request.user),
        "now_ms": now_ms(),
        "tabs": run_page.tab_links(request.GET),
        "x_axis_labels": X_AXIS_LABELS,
        "max_smoothing": run_page.MAX_SMOOTHING,
        **run_artifacts_context(page.run),
    }
    return render(request, "tracking/run_detail.html", context)


urlpatterns = [
    path("runs/<str:run_id>/", RunDetailView, name="run-detail"),
]
