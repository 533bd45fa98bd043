"""The experiments page's query: one bounded page of experiments found by name, with their run counts and last
activity computed in SQL, so that sorting 10,000 experiments by either never loads them into Python."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.db.models import Count, Expression, F, IntegerField, Max, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest, Lower

from studio.auth.permissions import EVERYTHING, Visibility
from tracking.models import Experiment, LifecycleStage, Run, RunStatus
from tracking.store.experiments import DEFAULT_EXPERIMENT_ID

PAGE_SIZE = 50
VIEWS = ("active", "deleted")
# Sort keys per view, each with the direction a first click on its column gives.
SORTS = {
    "active": {"name": False, "created": True, "activity": True, "runs": True},
    "deleted": {"name": False, "created": True, "deleted": True, "runs": True},
}
DEFAULT_SORT = {"active": "activity", "deleted": "deleted"}


@dataclass(frozen=True)
class ExperimentListing:
    """What the experiments page shows, as the query string says it: search, view, sort and page."""

    q: str = ""
    view: str = "active"
    sort: str = "activity"
    descending: bool = True
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ExperimentListing:
        """The listing a query string asks for; a value it cannot use falls back to the default, never an error."""
        view = params.get("view", "active")
        view = view if view in VIEWS else "active"
        sort = params.get("sort", "")
        sort = sort if sort in SORTS[view] else DEFAULT_SORT[view]
        order = params.get("order", "")
        descending = order == "desc" if order in ("asc", "desc") else SORTS[view][sort]
        try:
            page = max(1, int(params.get("page", "1")))
        except ValueError:
            page = 1
        return cls(q=params.get("q", "").strip(), view=view, sort=sort, descending=descending, page=page)

    @property
    def deleted(self) -> bool:
        """Whether this is the view of the deleted experiments."""
        return self.view == "deleted"

    def query_string(self, **changes: object) -> str:
        """The query string of this listing with some fields changed, leaving out what is the default."""
        listing = replace(self, **changes)
        params = {"q": listing.q}
        if listing.view != "active":
            params["view"] = listing.view
        if listing.sort != DEFAULT_SORT[listing.view] or listing.descending != SORTS[listing.view][listing.sort]:
            params["sort"] = listing.sort
            params["order"] = "desc" if listing.descending else "asc"
        if listing.page > 1:
            params["page"] = str(listing.page)
        return urlencode({k: v for k, v in params.items() if v})

    def sort_link(self, sort: str) -> str:
        """The query string a click on a column header leads to: that column, flipped if it is the current one."""
        descending = not self.descending if sort == self.sort else SORTS[self.view][sort]
        return self.query_string(sort=sort, descending=descending, page=1)

    def view_link(self, view: str) -> str:
        """The query string of another view (active or deleted) with the same search, in that view's default order."""
        sort = DEFAULT_SORT[view]
        return self.query_string(view=view, sort=sort, descending=SORTS[view][sort], page=1)


@dataclass(frozen=True)
class SortHeader:
    """A sortable column header: where a click leads and its ``aria-sort`` (None unless it is the sorted column)."""

    link: str
    aria_sort: str | None


def sort_headers(listing: ExperimentListing) -> dict[str, SortHeader]:
    """The headers of the columns the listing's view can sort by, keyed by sort name."""
    headers = {}
    for sort in SORTS[listing.view]:
        aria_sort = None
        if sort == listing.sort:
            aria_sort = "descending" if listing.descending else "ascending"
        headers[sort] = SortHeader(link=listing.sort_link(sort), aria_sort=aria_sort)
    return headers


@dataclass(frozen=True)
class ExperimentPage:
    """One page of experiments (each annotated with ``run_count``, ``running_count`` and ``last_activity``)."""

    listing: ExperimentListing
    experiments: list[Experiment]
    total: int
    page: int
    pages: int

    @property
    def summary(self) -> str:
        """Which rows are shown, for people: ``51-100 of 10,001`` (with an en dash)."""
        return f"{self.first_index:,}\N{EN DASH}{self.last_index:,} of {self.total:,}"

    @property
    def first_index(self) -> int:
        """The 1-based position of the first row shown."""
        return (self.page - 1) * PAGE_SIZE + 1 if self.experiments else 0

    @property
    def last_index(self) -> int:
        """The 1-based position of the last row shown."""
        return self.first_index + len(self.experiments) - 1 if self.experiments else 0

    @property
    def pager_links(self) -> dict[str, str | None]:
        """Query strings of the first, previous, next and last pages; previous and next are None where there is none."""
        link = self.listing.query_string
        return {
            "first": link(page=1),
            "previous": link(page=self.page - 1) if self.page > 1 else None,
            "next": link(page=self.page + 1) if self.page < self.pages else None,
            "last": link(page=self.pages),
        }


def _per_experiment(runs: QuerySet, aggregate: Expression) -> Coalesce:
    """A correlated subquery of one aggregate over an experiment's runs, 0 when it has none."""
    grouped = runs.filter(experiment=OuterRef("pk")).order_by().values("experiment").annotate(value=aggregate)
    return Coalesce(Subquery(grouped.values("value"), output_field=IntegerField()), Value(0))


def _counted_runs(view: str) -> QuerySet:
    """The runs a row counts: active ones, or in the deleted view those deleted together with the experiment (the
    ones a restore brings back)."""
    if view == "deleted":
        return Run.objects.filter(lifecycle_stage=LifecycleStage.DELETED, deleted_time=OuterRef("deleted_time"))
    return Run.objects.filter(lifecycle_stage=LifecycleStage.ACTIVE)


def _annotations(view: str) -> dict[str, Expression]:
    """``run_count``, ``running_count`` and ``last_activity`` (the latest of the experiment's own update time and
    its runs' start and end times) as SQL expressions."""
    counted = _counted_runs(view)
    # Two subqueries rather than one MAX over both columns, so that each can be read from an index on its column.
    latest_start = _per_experiment(Run.objects.all(), Max("start_time"))
    latest_end = _per_experiment(Run.objects.all(), Max("end_time"))
    return {
        "run_count": _per_experiment(counted, Count("*")),
        "running_count": _per_experiment(counted.filter(status=RunStatus.RUNNING), Count("*")),
        "last_activity": Greatest(F("last_update_time"), latest_start, latest_end),
    }


# Names sort without regard to case, as people read them (SQLite's own order puts every capital first).
ORDER_KEYS = {"name": Lower("name"), "created": F("creation_time"), "deleted": F("deleted_time")}


def experiment_page(listing: ExperimentListing, *, visible: Visibility = EVERYTHING) -> ExperimentPage:
    """The page of experiments a listing asks for, in three queries whatever the number of experiments: the count
    of matches, the ids of the page in order, and the page's rows with their run figures. Only the experiments
    ``visible`` allows are counted and paged."""
    matching = visible.filter(Experiment.objects.filter(lifecycle_stage=listing.view))
    if listing.q:
        matching = matching.filter(name__icontains=listing.q)
    total = matching.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(listing.page, pages)
    annotations = _annotations(listing.view)
    # Only the sort key is computed over every match; the other figures are computed for the page's rows alone.
    if listing.sort in ORDER_KEYS:
        key = ORDER_KEYS[listing.sort]
    else:
        key = annotations["last_activity" if listing.sort == "activity" else "run_count"]
        matching = matching.alias(sort_key=key)
        key = F("sort_key")
    # The id breaks ties, so that a page boundary never shows a row twice or skips one.
    ordering = (key.desc(), F("pk").desc()) if listing.descending else (key.asc(), F("pk").asc())
    offset = (page - 1) * PAGE_SIZE
    ids = list(matching.order_by(*ordering).values_list("pk", flat=True)[offset : offset + PAGE_SIZE])
    rows = Experiment.objects.filter(pk__in=ids).annotate(**annotations).in_bulk()
    experiments = [rows[pk] for pk in ids if pk in rows]
    return ExperimentPage(listing=listing, experiments=experiments, total=total, page=page, pages=pages)


def only_default_experiment(*, visible: Visibility = EVERYTHING) -> bool:
    """Whether nobody has made an experiment yet (that the caller may see): the only active one is ``Default``."""
    others = Experiment.objects.filter(lifecycle_stage=LifecycleStage.ACTIVE).exclude(pk=DEFAULT_EXPERIMENT_ID)
    others = visible.filter(others)
    return not others.exists()
