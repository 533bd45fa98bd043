"""The models page's and the model page's queries: bounded pages of registered models (found by name and tag, with
their latest versions and aliases) and of a model's versions and alias history, each in a fixed number of queries."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Lower

from registry.models import ModelVersion, RegisteredModel, RegisteredModelTag, RegistryEvent, Stage
from registry.store import events
from registry.store.models import ModelDetails, get_model_row, load_details, with_details
from registry.store.search import model_filter
from studio.auth.permissions import EVERYTHING, Visibility
from tracking.models import Run

PAGE_SIZE = 50
VERSIONS_PAGE_SIZE = 50
HISTORY_PAGE_SIZE = 25
# Sort keys, each with the direction a first click on its column gives.
SORTS = {"name": False, "updated": True, "created": True}
DEFAULT_SORT = "name"
# Names sort without regard to case, as people read them; the id breaks ties so pages never overlap.
ORDER_KEYS = {"name": Lower("name"), "updated": F("last_updated_timestamp"), "created": F("creation_timestamp")}
DESCRIPTION_PREVIEW_LINES = 3
DESCRIPTION_PREVIEW_CHARS = 280


def _page_number(value: str | None) -> int:
    """A 1-based page number from the query string; anything else is page 1."""
    try:
        return min(max(1, int(value or "1")), 10**9)
    except ValueError:
        return 1


@dataclass(frozen=True)
class TagCondition:
    """The tag box: ``key=value`` (that value exactly) or ``key`` alone (any value); ``error`` when unusable."""

    key: str = ""
    value: str | None = None
    error: str = ""

    @classmethod
    def parse(cls, text: str) -> TagCondition:
        """Split what was typed at the first ``=``; surrounding spaces of the key and value do not count."""
        text = text.strip()
        if not text:
            return cls()
        key, sep, value = text.partition("=")
        key = key.strip().strip("`")
        if not key:
            return cls(error="Type a tag as key=value, or a key alone for any value.")
        return cls(key=key, value=value.strip() if sep else None)

    def q(self) -> Q:
        """A condition on ``RegisteredModel``: it has the tag (with that value)."""
        if not self.key or self.error:
            return Q()
        tags = RegisteredModelTag.objects.filter(registered_model=OuterRef("pk"), key=self.key)
        if self.value is not None:
            tags = tags.filter(value=self.value)
        return Q(Exists(tags))


@dataclass(frozen=True)
class ModelListing:
    """What the models page shows, as the query string says: name search, tag, sort and page."""

    q: str = ""
    tag: str = ""
    sort: str = DEFAULT_SORT
    descending: bool = False
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ModelListing:
        """The listing a query string asks for; a value it cannot use falls back to the default, never an error."""
        sort = params.get("sort", "")
        sort = sort if sort in SORTS else DEFAULT_SORT
        order = params.get("order", "")
        descending = order == "desc" if order in ("asc", "desc") else SORTS[sort]
        return cls(
            q=params.get("q", "").strip()[:500],
            tag=params.get("tag", "").strip()[:1000],
            sort=sort,
            descending=descending,
            page=_page_number(params.get("page")),
        )

    def query_string(self, **changes: object) -> str:
        """The query string of this listing with some fields changed, leaving out what is the default."""
        listing = replace(self, **changes)
        params = {"q": listing.q, "tag": listing.tag}
        if listing.sort != DEFAULT_SORT or listing.descending != SORTS[listing.sort]:
            params["sort"] = listing.sort
            params["order"] = "desc" if listing.descending else "asc"
        if listing.page > 1:
            params["page"] = str(listing.page)
        return urlencode({k: v for k, v in params.items() if v})

    def sort_link(self, sort: str) -> str:
        """The query string a click on a column header leads to: that column, flipped if it is the current one."""
        descending = not self.descending if sort == self.sort else SORTS[sort]
        return self.query_string(sort=sort, descending=descending, page=1)

    def headers(self) -> dict[str, dict[str, str | None]]:
        """Each sortable column's link and ``aria-sort`` (None unless it is the sorted column)."""
        sorted_as = "descending" if self.descending else "ascending"
        headers: dict[str, dict[str, str | None]] = {}
        for sort in SORTS:
            headers[sort] = {"link": self.sort_link(sort), "aria_sort": sorted_as if sort == self.sort else None}
        return headers


@dataclass
class ModelRow:
    """A model of the list with what its row shows."""

    details: ModelDetails
    newest_version: int | None
    description_preview: str
    description_cut: bool


def description_preview(text: str) -> tuple[str, bool]:
    """The first few lines of a description (to render as Markdown) and whether anything was left out."""
    lines = text.strip().splitlines()
    kept = "\n".join(lines[:DESCRIPTION_PREVIEW_LINES])
    cut = len(lines) > DESCRIPTION_PREVIEW_LINES
    if len(kept) > DESCRIPTION_PREVIEW_CHARS:
        kept = kept[:DESCRIPTION_PREVIEW_CHARS].rsplit(" ", 1)[0] + "…"
        cut = True
    return kept, cut


@dataclass(frozen=True)
class ModelPage:
    """One page of models."""

    listing: ModelListing
    rows: list[ModelRow]
    total: int
    page: int
    pages: int
    tag_error: str = ""

    @property
    def summary(self) -> str:
        """Which rows are shown, for people: ``51-100 of 1,001`` (with an en dash)."""
        if not self.rows:
            return ""
        first = (self.page - 1) * PAGE_SIZE + 1
        return f"{first:,}\N{EN DASH}{first + len(self.rows) - 1:,} of {self.total:,}"

    @property
    def pager_links(self) -> dict[str, str | None]:
        """Query strings of the first, previous, next and last pages (None where there is none)."""
        link = self.listing.query_string
        return {
            "first": link(page=1),
            "previous": link(page=self.page - 1) if self.page > 1 else None,
            "next": link(page=self.page + 1) if self.page < self.pages else None,
            "last": link(page=self.pages),
        }


def model_page(listing: ModelListing, *, visible: Visibility = EVERYTHING) -> ModelPage:
    """The ``visible`` models a listing asks for, prompts left out, in seven queries whatever their number: the
    count, the page's rows, and their tags, aliases, latest versions per stage and those versions' tags and
    aliases."""
    tag = TagCondition.parse(listing.tag)
    # model_filter("") is the REST search's own condition: every registered model that is not a prompt.
    matching = visible.filter(RegisteredModel.objects.filter(model_filter(""), tag.q()), "pk")
    if listing.q:
        matching = matching.filter(name__icontains=listing.q)
    total = matching.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = min(listing.page, pages)
    key = ORDER_KEYS[listing.sort]
    ordering = (key.desc(), F("pk").desc()) if listing.descending else (key.asc(), F("pk").asc())
    offset = (page - 1) * PAGE_SIZE
    models = list(matching.order_by(*ordering)[offset : offset + PAGE_SIZE]) if total else []
    rows = []
    for details in load_details(models):
        preview, cut = description_preview(details.model.description)
        # Every live version is in some stage, so the newest of the stages' newest is the model's newest.
        newest = max((v.version for v in details.latest_versions), default=None)
        rows.append(ModelRow(details, newest, preview, cut))
    return ModelPage(listing, rows, total, page, pages, tag_error=tag.error)


# --- a model's page --------------------------------------------------------------------------------------------


@dataclass
class VersionRow:
    """A version in the model page's table, with its source run if that run still exists."""

    version: ModelVersion
    run: Run | None


@dataclass(frozen=True)
class HistoryRow:
    """One alias change for people: ``champion`` moved from version 1 to 2 by alice."""

    event: RegistryEvent
    alias: str
    from_version: str | None
    to_version: str | None

    @property
    def change(self) -> str:
        """``set``, ``moved`` or ``removed``."""
        if self.to_version is None:
            return "removed"
        return "moved" if self.from_version is not None else "set"


@dataclass
class ModelDetailPage:
    """A model's page: the model with its tags, aliases and latest versions, a page of versions, alias history."""

    details: ModelDetails
    versions: list[VersionRow]
    version_total: int
    version_page: int
    version_pages: int
    history: list[HistoryRow]
    history_next: int | None

    @property
    def model(self) -> RegisteredModel:
        """The registered model row."""
        return self.details.model

    @property
    def newest_version(self) -> int | None:
        """The highest live version number."""
        return max((v.version for v in self.details.latest_versions), default=None)

    @property
    def uses_stages(self) -> bool:
        """Whether any latest version is in a stage other than None (stages are deprecated; shown where used)."""
        return any(v.current_stage != Stage.NONE for v in self.details.latest_versions)


@dataclass(frozen=True)
class DetailState:
    """The model page's query string: the page of versions and where the alias history starts."""

    version_page: int = 1
    history_before: int | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DetailState:
        """Pages from the query string; unusable values are the first page."""
        before = params.get("history_before", "")
        return cls(
            version_page=_page_number(params.get("versions_page")),
            history_before=int(before) if before.isdigit() and len(before) < 19 else None,
        )


def _version_rows(model: RegisteredModel, page: int) -> tuple[list[VersionRow], int, int, int]:
    """One page of a model's live versions, newest first, with tags, aliases and source runs (four queries)."""
    live = ModelVersion.objects.filter(registered_model=model).exclude(current_stage=Stage.DELETED)
    total = live.count()
    pages = max(1, math.ceil(total / VERSIONS_PAGE_SIZE))
    page = min(page, pages)
    offset = (page - 1) * VERSIONS_PAGE_SIZE
    versions = list(live.order_by("-version")[offset : offset + VERSIONS_PAGE_SIZE]) if total else []
    for version in versions:
        version.registered_model = model  # not joined again for every row
    versions = with_details(versions)
    run_ids = sorted({v.run_id for v in versions if v.run_id})
    runs = Run.objects.filter(pk__in_list=run_ids).only("run_uuid", "name").in_bulk() if run_ids else {}
    return [VersionRow(v, runs.get(v.run_id)) for v in versions], total, page, pages


def _history(name: str, before: int | None) -> tuple[list[HistoryRow], int | None]:
    """A page of the model's alias changes from the audit trail, newest first."""
    found, next_id = events.list_events(
        name=name,
        actions=[events.Action.ALIAS_SET, events.Action.ALIAS_DELETED],
        max_results=HISTORY_PAGE_SIZE,
        page_token=before,
    )
    rows = [
        HistoryRow(e, e.alias, e.old_value, e.new_value if e.action == events.Action.ALIAS_SET else None) for e in found
    ]
    return rows, next_id


def model_detail_page(name: str, state: DetailState) -> ModelDetailPage:
    """Everything the model page shows, in a fixed number of queries whatever the number of versions and events."""
    details = load_details([get_model_row(name)])[0]
    versions, total, page, pages = _version_rows(details.model, state.version_page)
    history, history_next = _history(details.model.name, state.history_before)
    return ModelDetailPage(details, versions, total, page, pages, history, history_next)
