"""The run comparison page: ``/compare/?runs=id1,id2,...`` (up to 200 runs from any experiments). Overlaid metric
curves, a parallel-coordinates plot, a scatter of two columns and a table of params and metrics with the
differences marked; every choice is in the query string. Ids that name no run are listed on the page, never a 500."""

from __future__ import annotations

import html

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_safe

from studio.auth.access import access, on
from studio.auth.permissions import READ
from tracking.access import EXPERIMENT, compared_runs
from tracking.store import run_compare, run_page
from tracking.store.common import now_ms
from tracking.views.run import X_AXIS_LABELS


@access(on(EXPERIMENT, READ, compared_runs))  # READ on every compared run
@require_safe
def RunCompareView(request: HttpRequest) -> HttpResponse:
    """The runs of ``?runs=`` side by side."""
    comparison = run_compare.compare_runs(request.GET.getlist("runs"))
    state = run_compare.CompareState.from_params(request.GET, comparison)
    context = {
        "nav": "experiments",
        "comparison": comparison,
        "state": state,
        "script_data": {**comparison.wire(), "state": state.wire()},
        "table_groups": [
            (legend, [(c, _cells_html(c)) for c in columns]) for legend, columns in comparison.column_groups
        ],
        "max_runs": run_compare.MAX_RUNS,
        "x_axis_labels": X_AXIS_LABELS,
        "max_smoothing": run_page.MAX_SMOOTHING,
        "now_ms": now_ms(),
    }
    return render(request, "tracking/run_compare.html", context)


def _cells_html(column: run_compare.Column) -> SafeString:
    """A key's cells, one per run, in one string: 200 runs by 100 keys are 20,000 cells, which a template loop
    renders about ten times slower."""
    align = "num" if column.numeric else "wrap"
    # html.escape is Django's escape without the per-call SafeString checks, which were most of the time here.
    cells = (f'<td class="{align}{" missing" if c.missing else ""}">{html.escape(c.text)}</td>' for c in column.cells)
    return mark_safe("".join(cells))  # every value in it is escaped


urlpatterns = [
    path("compare/", RunCompareView, name="run-compare"),
]
