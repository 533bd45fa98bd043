"""The runs table's state, as the query string holds it: filter, picked columns, sort, keyset cursor, deleted-runs
toggle, selected and expanded runs. Anything a query string holds that the table cannot use falls back to the
default, never an error: a link from an older page or a hand-edited one still opens."""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import orjson

from studio.errors import StudioError
from tracking import search

MAX_COLUMNS = 50
# The compare page stays usable with 200 runs; a longer selection is cut there.
MAX_SELECTED = 200
MAX_EXPANDED = 50

# Column prefixes in the URL, and the key type MLflow's order_by parser gives each.
PREFIXES = {"metrics": "metric", "params": "parameter", "tags": "tag"}
KIND_NAMES = {"metrics": "metric", "params": "param", "tags": "tag"}
# The run's own columns, always shown: (column id, header, sort direction of a first click).
ATTRIBUTE_COLUMNS = (
    ("attributes.run_name", "Run name", True),
    ("attributes.status", "Status", True),
    ("attributes.start_time", "Started", False),
    ("attributes.duration", "Duration", False),
    ("attributes.user_id", "User", True),
)
NUMERIC_ATTRIBUTES = ("attributes.start_time", "attributes.duration")
_ATTRIBUTE_FIRST_ASCENDING = {column: ascending for column, _, ascending in ATTRIBUTE_COLUMNS}


@dataclass(frozen=True)
class Column:
    """A picked column: one metric, param or tag key, named ``metrics.<key>`` (or ``params.``, ``tags.``)."""

    prefix: str
    key: str

    @property
    def id(self) -> str:
        """The column's name in the URL (``cols``, ``sort``)."""
        return f"{self.prefix}.{self.key}"

    @property
    def numeric(self) -> bool:
        """Metrics are numbers (right-aligned, first sorted descending); params and tags are text."""
        return self.prefix == "metrics"

    @classmethod
    def parse(cls, text: str) -> Column | None:
        """The column a ``prefix.key`` names, None for anything else."""
        prefix, _, key = text.strip().partition(".")
        if prefix not in PREFIXES or not key or len(key) > 250:
            return None
        return cls(prefix, key)


def parse_columns(text: str) -> tuple[Column, ...]:
    """The columns of a ``cols`` value: comma-separated (MLflow's keys cannot hold commas), unknown ones dropped."""
    columns: dict[str, Column] = {}
    for part in text.split(","):
        column = Column.parse(part)
        if column is not None and len(columns) < MAX_COLUMNS:
            columns.setdefault(column.id, column)
    return tuple(columns.values())


def columns_param(columns: Iterable[Column]) -> str:
    """The ``cols`` value of some columns."""
    return ",".join(c.id for c in columns)


@dataclass(frozen=True)
class Sort:
    """The sorted column (an attribute or a picked column's id) and the direction."""

    column: str = "attributes.start_time"
    ascending: bool = False

    @property
    def order_by(self) -> str:
        """The sort as an MLflow ``order_by`` clause (keys quoted, so that any valid key parses)."""
        prefix, _, key = self.column.partition(".")
        name = key if prefix == "attributes" else f"`{key}`"
        return f"{prefix}.{name} {'ASC' if self.ascending else 'DESC'}"

    @classmethod
    def parse(cls, column: str, order: str) -> Sort:
        """The sort a query string asks for; one it cannot use is the default (newest first), never an error."""
        if column in _ATTRIBUTE_FIRST_ASCENDING:
            first_ascending = _ATTRIBUTE_FIRST_ASCENDING[column]
        elif (picked := Column.parse(column)) is not None and "`" not in picked.key:
            column, first_ascending = picked.id, not picked.numeric
        else:
            return cls()
        ascending = order == "asc" if order in ("asc", "desc") else first_ascending
        sort = cls(column, ascending)
        if column == "attributes.duration":  # Studio's own column, unknown to MLflow
            return sort
        try:
            search.parse_run_order_by((sort.order_by,))  # the query reads it with MLflow's parser: it must parse
        except StudioError:
            return cls()
        return sort


DEFAULT_SORT = Sort()


def first_ascending(column: str) -> bool:
    """The direction a first click on a column's header sorts in: text A to Z, numbers and times largest first."""
    if column in _ATTRIBUTE_FIRST_ASCENDING:
        return _ATTRIBUTE_FIRST_ASCENDING[column]
    picked = Column.parse(column)
    return picked is not None and not picked.numeric


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the row's rank (0: has a sort value, 1: NaN or NULL, 2: lacks the key), its sort value
    and its run id. Encoded with the sort it belongs to, so that a cursor is never applied to another sort."""

    rank: int
    value: Any
    run_id: str

    def encode(self, sort: Sort) -> str:
        """The cursor as an opaque URL-safe token."""
        value = repr(self.value) if isinstance(self.value, float) else self.value
        kind = "f" if isinstance(self.value, float) else "v"
        raw = orjson.dumps([sort.column, sort.ascending, self.rank, kind, value, self.run_id])
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, sort: Sort) -> Cursor | None:
        """The cursor a token holds, or None for a token that is malformed, of another sort, or of the wrong type."""
        if not token:
            return None
        try:
            raw = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            column, ascending, rank, kind, value, run_id = raw
            if kind == "f":
                value = float(value)
                if math.isnan(value):
                    return None
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
            return None
        if [column, ascending] != [sort.column, sort.ascending] or not isinstance(run_id, str) or len(run_id) > 64:
            return None
        if rank not in (0, 1, 2) or isinstance(rank, bool):
            return None
        if rank == 0 and (isinstance(value, bool) or not isinstance(value, _value_type(sort))):
            return None  # a value of another type than the column's could not be compared in SQL
        return cls(rank, value if rank == 0 else None, run_id)


def _value_type(sort: Sort) -> type:
    if sort.column in NUMERIC_ATTRIBUTES:
        return int
    if sort.column.startswith("metrics."):
        return float
    return str


def _ids(text: str, limit: int) -> tuple[str, ...]:
    """Run ids from a comma-separated list, in order, without duplicates or anything that is not an id."""
    ids: dict[str, None] = {}
    for part in text.split(","):
        part = part.strip()
        if part and len(part) <= 64 and part.isalnum() and len(ids) < limit:
            ids[part] = None
    return tuple(ids)


@dataclass(frozen=True)
class RunTableState:
    """What the runs table shows, as the query string says it. ``columns`` is None when the URL names none (the view
    then uses the remembered choice, or the table its default)."""

    filter: str = ""
    columns: tuple[Column, ...] | None = None
    sort: Sort = DEFAULT_SORT
    after: str = ""
    before: str = ""
    deleted: bool = False
    selected: tuple[str, ...] = ()
    expanded: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> RunTableState:
        """The state a query string asks for; values it cannot use fall back to the defaults, never an error."""
        cols = params.get("cols")
        return cls(
            filter=params.get("filter", "").strip(),
            columns=None if cols is None else parse_columns(cols),
            sort=Sort.parse(params.get("sort", ""), params.get("order", "")),
            after=params.get("after", "")[:2000],
            before="" if params.get("after") else params.get("before", "")[:2000],
            deleted=params.get("deleted") in ("1", "true", "on"),
            selected=_ids(params.get("sel", ""), MAX_SELECTED),
            expanded=_ids(params.get("open", ""), MAX_EXPANDED),
        )

    @property
    def flat(self) -> bool:
        """A filter lists matching runs flat, since a match's parent may not match."""
        return bool(self.filter)

    def query_string(self, **changes: Any) -> str:
        """The query string of this state with some fields changed, leaving out what is the default."""
        state = replace(self, **changes)
        params: dict[str, str] = {}
        if state.filter:
            params["filter"] = state.filter
        if state.columns is not None:
            params["cols"] = columns_param(state.columns)
        if state.sort != DEFAULT_SORT:
            params["sort"] = state.sort.column
            params["order"] = "asc" if state.sort.ascending else "desc"
        for name in ("after", "before"):
            if value := getattr(state, name):
                params[name] = value
        if state.deleted:
            params["deleted"] = "1"
        if state.selected:
            params["sel"] = ",".join(state.selected)
        if state.expanded and not state.flat:
            params["open"] = ",".join(state.expanded)
        return urlencode(params, safe=",.`")

    def sort_link(self, column: str) -> str:
        """Where a click on a column's header leads: sorted by it, flipped if it is the sorted one, first page."""
        ascending = not self.sort.ascending if column == self.sort.column else first_ascending(column)
        return self.query_string(sort=Sort(column, ascending), after="", before="")


@dataclass(frozen=True)
class Header:
    """A column header: its label, whether it is right-aligned, where a click sorts to and its ``aria-sort``."""

    column: str
    label: str
    kind: str  # "attribute", "metric", "param" or "tag"
    numeric: bool
    link: str
    aria_sort: str | None
