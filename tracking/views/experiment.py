"""The experiment page: the runs table, with picked columns, a filter, sort on any column, keyset pages, nested runs
under their parent and a selection to compare. The table's state is in the query string; the picked columns are
also remembered per experiment in the session, so opening the experiment again shows the last choice. The page's
script swaps the table (``experiment-runs``), a parent's children (``experiment-run-children``) and the column
picker's keys (``experiment-columns``) in as server-rendered fragments."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST, require_safe

from studio.auth.access import access, on
from studio.auth.permissions import MANAGE, READ
from studio.errors import StudioError
from tracking.access import EXPERIMENT, experiment_kwarg
from tracking.models import Experiment
from tracking.store import experiments as experiment_store
from tracking.store import run_table
from tracking.store.common import now_ms

_READ = on(EXPERIMENT, READ, experiment_kwarg())

# session[COLUMNS_SESSION_KEY] = {experiment id: cols}; the most recently chosen last, the oldest dropped past a limit.
COLUMNS_SESSION_KEY = "run_table_columns"
REMEMBERED_EXPERIMENTS = 100


def _experiment(experiment_id: int) -> Experiment:
    """The experiment of the URL, or a 404 (also for an id no database column can hold)."""
    if not -(2**63) <= experiment_id < 2**63:
        raise Http404(f"No Experiment with id={experiment_id} exists")
    try:
        return experiment_store.get_experiment(experiment_id, with_tags=False)
    except StudioError as exc:
        raise Http404(exc.message) from None


def _state(request: HttpRequest, experiment_id: int) -> run_table.RunTableState:
    """The table's state from the query string; without ``cols``, the columns last chosen for this experiment."""
    state = run_table.RunTableState.from_params(request.GET)
    key = str(experiment_id)
    remembered: dict[str, str] = request.session.get(COLUMNS_SESSION_KEY, {})
    if state.columns is None:
        if key in remembered:
            state = replace(state, columns=run_table.parse_columns(remembered[key]))
    elif remembered.get(key) != (chosen := run_table.columns_param(state.columns)):
        remembered.pop(key, None)
        remembered[key] = chosen
        request.session[COLUMNS_SESSION_KEY] = dict(list(remembered.items())[-REMEMBERED_EXPERIMENTS:])
    return state


def _table_context(experiment: Experiment, page: run_table.RunTablePage) -> dict[str, Any]:
    """What the table's templates read: the page, its state with the columns shown, and the selection."""
    return {
        "experiment": experiment,
        "page": page,
        "state": page.shown_state,
        "selected": set(page.state.selected),
        "now_ms": now_ms(),
        "depth": 0,
        "column_count": len(page.headers) + 1,
    }


def _table(request: HttpRequest, experiment_id: int, template: str) -> HttpResponse:
    """The table of the state the request asks for, in a page or alone; a filter that does not parse is a 400
    that shows MLflow's message next to the box."""
    experiment = _experiment(experiment_id)
    page = run_table.run_table_page(experiment_id=experiment.pk, state=_state(request, experiment.pk))
    context = {"nav": "experiments", **_table_context(experiment, page)}
    return render(request, template, context, status=400 if page.error else 200)


@access(_READ)
@require_safe
def ExperimentDetailView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """The experiment's page: the filter box, the column picker and the runs table."""
    return _table(request, experiment_id, "tracking/experiment_detail.html")


@access(on(EXPERIMENT, MANAGE, experiment_kwarg()))
@require_POST
def ExperimentRetentionView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """Set or remove the experiment's trash retention rule (the form under its title), then back to its page."""
    raw = request.POST.get("days", "").strip()
    try:
        days = int(raw) if raw else None
        experiment = experiment_store.set_trash_retention(experiment_id=experiment_id, days=days)
    except ValueError:
        messages.error(request, f"“{raw}” is not a whole number of days.")
    except StudioError as error:
        if error.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise Http404(error.message) from None
        messages.error(request, error.message)
    else:
        kept = f"{days} days after their deletion" if days else "until someone purges them"
        messages.success(request, f"Deleted runs and models of {experiment.name} are now kept {kept}.")
    return HttpResponseRedirect(reverse("tracking:experiment-detail", args=[experiment_id]))


@access(_READ)
@require_safe
def ExperimentRunsView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """The runs table alone, which the page's script fetches on a filter, sort, page or column change."""
    return _table(request, experiment_id, "tracking/experiment_detail_results.html")


@access(_READ)
@require_safe
def ExperimentRunChildrenView(request: HttpRequest, experiment_id: int, run_id: str) -> HttpResponse:
    """One keyset page of a run's child runs, as table rows to put under the parent's row."""
    experiment = _experiment(experiment_id)
    state = _state(request, experiment.pk)
    page = run_table.run_table_page(experiment_id=experiment.pk, state=state, parent_id=run_id)
    try:
        depth = min(max(int(request.GET.get("depth", "1")), 1), 20)
    except ValueError:
        depth = 1
    context = {**_table_context(experiment, page), "depth": depth, "parent_id": run_id}
    return render(request, "tracking/experiment_detail_children.html", context)


@access(_READ)
@require_safe
def ExperimentColumnsView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """The column picker's choices: every metric, param and tag key of the experiment's runs."""
    experiment = _experiment(experiment_id)
    chosen = run_table.parse_columns(request.GET.get("cols", ""))
    context = {"groups": run_table.experiment_keys(experiment.pk), "chosen": {c.id for c in chosen}}
    return render(request, "tracking/experiment_detail_columns.html", context)


urlpatterns = [
    path("experiments/<int:experiment_id>/", ExperimentDetailView, name="experiment-detail"),
    path("experiments/<int:experiment_id>/runs/", ExperimentRunsView, name="experiment-runs"),
    path("experiments/<int:experiment_id>/retention/", ExperimentRetentionView, name="experiment-retention"),
    path(
        "experiments/<int:experiment_id>/runs/<str:run_id>/children/",
        ExperimentRunChildrenView,
        name="experiment-run-children",
    ),
    path("experiments/<int:experiment_id>/columns/", ExperimentColumnsView, name="experiment-columns"),
]
