"""Run and experiment search: MLflow's ``search_runs`` and ``search_experiments``, with Studio's OR and parentheses.

The filter grammar and its translation into queries live in ``tracking.search``; this module applies view types,
caps and pagination. Pages are offsets in an opaque token, as in MLflow; one extra row is read to know whether a
next page exists.
"""

from __future__ import annotations

from collections.abc import Sequence

from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import invalid
from tracking import search
from tracking.models import Experiment, LifecycleStage, Run

SEARCH_MAX_RESULTS_DEFAULT = 1000
# MLflow's SEARCH_MAX_RESULTS_THRESHOLD, the cap of both searches.
SEARCH_MAX_RESULTS_THRESHOLD = 50000

VIEW_TYPES = {
    "ACTIVE_ONLY": (LifecycleStage.ACTIVE,),
    "DELETED_ONLY": (LifecycleStage.DELETED,),
    "ALL": (LifecycleStage.ACTIVE, LifecycleStage.DELETED),
}


def _stages(view_type: str) -> tuple[str, ...]:
    try:
        return VIEW_TYPES[view_type]
    except KeyError:
        raise invalid(f"Invalid view type '{view_type}'. Valid values are {sorted(VIEW_TYPES)}") from None


def _check_max_results(max_results: int) -> None:
    """MLflow's ``_validate_max_results_param``: a positive integer of at most 50,000."""
    if max_results < 1:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer"
        )
    if max_results > SEARCH_MAX_RESULTS_THRESHOLD:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at most "
            f"{SEARCH_MAX_RESULTS_THRESHOLD}"
        )


def _experiment_ids(experiment_ids: Sequence[str | int]) -> list[int]:
    ids = []
    for experiment_id in experiment_ids:
        try:
            ids.append(int(experiment_id))
        except (TypeError, ValueError):
            raise invalid(f"Invalid experiment ID '{experiment_id}'. Experiment ID must be a valid integer.") from None
    # An id beyond 64 bits names no experiment, and SQLite's driver refuses to bind it.
    return [i for i in ids if -(2**63) <= i < 2**63]


def search_runs(
    *,
    experiment_ids: Sequence[str | int],
    filter_string: str | None = None,
    run_view_type: str = "ACTIVE_ONLY",
    max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
    order_by: Sequence[str] = (),
    page_token: str | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[Run], str | None]:
    """One page of the runs of these experiments that match the filter, and the token of the next page (None on the
    last). Order: the ``order_by`` keys, then ``start_time DESC``, then run id. Experiments that ``visible`` hides are
    left out before paging, so the offsets of the tokens count readable runs only."""
    _check_max_results(max_results)
    stages = _stages(run_view_type)
    ids = visible.ids(_experiment_ids(experiment_ids))
    condition = search.run_filter(filter_string)
    annotations, ordering = search.run_ordering(tuple(order_by))
    offset = search.page_offset(page_token)
    if not ids:
        return [], None
    runs = list(
        Run.objects.filter(experiment_id__in=ids, lifecycle_stage__in=stages)
        .filter(condition)
        .annotate(**annotations)
        .order_by(*ordering)[offset : offset + max_results + 1]
    )
    return search.cut_page(runs, offset, max_results)


def search_experiments(
    *,
    view_type: str = "ACTIVE_ONLY",
    max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
    filter_string: str | None = None,
    order_by: Sequence[str] = (),
    page_token: str | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[Experiment], str | None]:
    """One page of the experiments that match the filter (tags prefetched), and the next page's token. Default
    order: ``creation_time DESC``, then ``experiment_id``. Only those ``visible`` allows, filtered before paging."""
    _check_max_results(max_results)
    stages = _stages(view_type)
    condition = search.experiment_filter(filter_string)
    ordering = search.experiment_ordering(tuple(order_by))
    offset = search.page_offset(page_token)
    experiments = list(
        visible.filter(Experiment.objects.filter(lifecycle_stage__in=stages))
        .filter(condition)
        .order_by(*ordering)
        .prefetch_related("tags")[offset : offset + max_results + 1]
    )
    return search.cut_page(experiments, offset, max_results)
