"""Search endpoints of MLflow's tracking API: ``runs/search`` and ``experiments/search``."""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import path

from studio.api import Args, api_view, page_payload, to_int
from studio.auth import permissions
from studio.auth.access import SIGNED_IN, access
from studio.errors import invalid
from tracking.api.serializers import experiment_to_wire, runs_to_wire
from tracking.store import searching as store

# ViewType enum numbers, for clients that send proto enums as numbers (GET query strings, proto3 JSON).
_VIEW_TYPE_NUMBERS = {"1": "ACTIVE_ONLY", "2": "DELETED_ONLY", "3": "ALL"}


def _view_type(args: Args, name: str) -> str:
    """A ViewType by name or by number; absent means ACTIVE_ONLY."""
    raw = args.data.get(name)
    if isinstance(raw, list):  # query strings repeat keys; the last wins, as for every scalar field
        raw = raw[-1] if raw else None
    if raw is None or raw == "":
        return "ACTIVE_ONLY"
    value = _VIEW_TYPE_NUMBERS.get(str(raw), raw)
    if not isinstance(value, str) or value not in store.VIEW_TYPES:
        raise invalid(f"Invalid value {raw!r} for parameter '{name}': expected one of {sorted(store.VIEW_TYPES)}.")
    return value


def _string_ids(args: Args, name: str) -> list[str]:
    # Proto3 JSON says string, but int ids are harmless and some scripts send them.
    return [str(to_int(name, v)) if not isinstance(v, str) else v for v in args.list(name)]


@access(SIGNED_IN)  # the results are filtered to the experiments the caller may read
@api_view("POST")
def SearchRunsApi(request: HttpRequest, args: Args) -> dict:
    runs, token = store.search_runs(
        experiment_ids=_string_ids(args, "experiment_ids"),
        filter_string=args.str("filter", default=""),
        run_view_type=_view_type(args, "run_view_type"),
        max_results=args.int("max_results", default=store.SEARCH_MAX_RESULTS_DEFAULT),
        order_by=args.str_list("order_by"),
        page_token=args.str("page_token"),
        visible=permissions.visibility(request.user, "experiment"),
    )
    return page_payload("runs", runs_to_wire(runs), token)


@access(SIGNED_IN)  # the results are filtered to the experiments the caller may read
@api_view("GET", "POST")
def SearchExperimentsApi(request: HttpRequest, args: Args) -> dict:
    experiments, token = store.search_experiments(
        view_type=_view_type(args, "view_type"),
        max_results=args.int("max_results", default=store.SEARCH_MAX_RESULTS_DEFAULT),
        filter_string=args.str("filter", default=""),
        order_by=args.str_list("order_by"),
        page_token=args.str("page_token"),
        visible=permissions.visibility(request.user, "experiment"),
    )
    return page_payload("experiments", [experiment_to_wire(e) for e in experiments], token)


urlpatterns = [
    path("runs/search", SearchRunsApi),
    path("experiments/search", SearchExperimentsApi),
]
