"""Metric writes and history reads.

Writes keep three tables in step inside the caller's transaction (see ``tracking.models``): the points, the series
row with the latest value, and the summary buckets. A bucket of level L covers steps ``[b * 8**L, (b + 1) * 8**L)``
and keeps min, max and the last value, so a chart of any range reads at most a few thousand bucket rows
(``tracking.store.metric_sampling``). Re-logging a point exactly (same step, timestamp and value, NaN included) is a
no-op everywhere, as in MLflow.

Histories are read in (step, timestamp, logging order) order: whole, streamed in chunks, or in pages that resume
after the last point sent (keyset pagination, never OFFSET).
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson
from django.db import connection, transaction

from studio.errors import invalid, not_found
from tracking import validation
from tracking.models import LoggedModelMetric, MetricBucket, MetricPoint, MetricSeries, Run

BUCKET_BITS = 3  # buckets grow by 8x per level
LEVELS = 8  # the coarsest bucket spans 8**8 = 16.7M steps
_ROWS_PER_STATEMENT = 500


class MetricIn(NamedTuple):
    """One metric value to log; ``value`` None is NaN."""

    key: str
    value: float | None
    timestamp: int
    step: int = 0
    model_id: str = ""
    dataset_name: str = ""
    dataset_digest: str = ""


def validate_metrics(metrics: list[MetricIn]) -> None:
    """MLflow's rules for metric keys and timestamps; keys are checked once per distinct key."""
    for key in {m.key for m in metrics}:
        validation.metric_name(key)
    for index, metric in enumerate(metrics):
        if metric.timestamp < 0:
            raise invalid(
                f"Invalid value {metric.timestamp} for parameter 'metrics[{index}].timestamp' supplied: metric "
                f"'{metric.key}' (value={metric.value}). Timestamp must be a nonnegative long (64-bit integer) "
            )


def write_metrics(run: Run, metrics: list[MetricIn]) -> None:
    """Append metric values to a run (inside the caller's transaction)."""
    by_key: dict[str, list[MetricIn]] = {}
    for metric in metrics:
        by_key.setdefault(metric.key, []).append(metric)
    with connection.cursor() as cursor:
        for key, points in by_key.items():
            series_id = _series_id(cursor, run.pk, key, points[0])
            inserted = _insert_points(cursor, series_id, points)
            # Only new points count: re-logging a point exactly is a no-op, for the latest value and the buckets too.
            if inserted:
                _update_series(cursor, series_id, inserted)
                _upsert_buckets(cursor, series_id, inserted)
    linked = [m for m in metrics if m.model_id]
    if linked:
        LoggedModelMetric.objects.bulk_create(
            [
                LoggedModelMetric(
                    model_id=m.model_id,
                    run_id=run.pk,
                    key=m.key,
                    value=m.value,
                    timestamp=m.timestamp,
                    step=m.step,
                    dataset_name=m.dataset_name,
                    dataset_digest=m.dataset_digest,
                )
                for m in linked
            ],
            ignore_conflicts=True,
        )


_SERIES = MetricSeries._meta.db_table
_POINTS = MetricPoint._meta.db_table
_BUCKETS = MetricBucket._meta.db_table

_SERIES_ID = f"SELECT id FROM {_SERIES} WHERE run_id = %s AND key = %s"
# A concurrent first write of the same key makes this a no-op (PostgreSQL waits for it), and the SELECT then sees it.
_SERIES_CREATE = f"""
INSERT INTO {_SERIES} (run_id, key, value, timestamp, step, count, min_step, max_step)
VALUES (%s, %s, %s, %s, %s, 0, %s, %s) ON CONFLICT (run_id, key) DO NOTHING
"""
# The newer value wins: higher step, then later (or equal, i.e. later-logged) timestamp.
_NEWER = "%(step)s > step OR (%(step)s = step AND %(timestamp)s >= timestamp)"
_SERIES_UPDATE = f"""
UPDATE {_SERIES} SET
  value = CASE WHEN {_NEWER} THEN %(value)s ELSE value END,
  timestamp = CASE WHEN {_NEWER} THEN %(timestamp)s ELSE timestamp END,
  step = CASE WHEN %(step)s > step THEN %(step)s ELSE step END,
  min_step = CASE WHEN %(min_step)s < min_step THEN %(min_step)s ELSE min_step END,
  max_step = CASE WHEN %(max_step)s > max_step THEN %(max_step)s ELSE max_step END,
  count = count + %(count)s
WHERE id = %(id)s
"""


def _series_id(cursor, run_id: str, key: str, first: MetricIn) -> int:
    cursor.execute(_SERIES_ID, [run_id, key])
    row = cursor.fetchone()
    if row is None:
        # Created with a placeholder latest value and no points; _update_series sets both.
        cursor.execute(_SERIES_CREATE, [run_id, key, first.value, first.timestamp, first.step, first.step, first.step])
        cursor.execute(_SERIES_ID, [run_id, key])
        row = cursor.fetchone()
    return row[0]


def _update_series(cursor, series_id: int, inserted: list[tuple[int, int, float | None]]) -> None:
    # Among ties the later-logged point wins, as in the SQL: max() keeps the first maximum it meets.
    step, timestamp, value = max(reversed(inserted), key=lambda p: (p[0], p[1]))
    steps = [p[0] for p in inserted]
    cursor.execute(
        _SERIES_UPDATE,
        {
            "step": step,
            "timestamp": timestamp,
            "value": value,
            "min_step": min(steps),
            "max_step": max(steps),
            "count": len(inserted),
            "id": series_id,
        },
    )


def _insert_points(cursor, series_id: int, points: list[MetricIn]) -> list[tuple[int, int, float | None]]:
    """Insert, skipping exact duplicates as MLflow does; returns the (step, timestamp, value) of the new points."""
    points = _without_logged_nans(cursor, series_id, points)
    # RETURNING lists only the rows actually inserted (SQLite >= 3.35 and PostgreSQL), in no promised order.
    inserted = _insert_rows(
        cursor,
        f"INSERT INTO {_POINTS} (series_id, step, timestamp, value)",
        [(series_id, m.step, m.timestamp, m.value) for m in points],
        ("bigint", "bigint", "bigint", "float8"),
        " ON CONFLICT DO NOTHING RETURNING id, step, timestamp, value",
        returning=True,
    )
    # Id order is logging order, which decides the "last" value among points of equal step and timestamp.
    inserted.sort()
    return [row[1:] for row in inserted]


def _insert_rows(cursor, head: str, rows: list[tuple], types: tuple[str, ...], tail: str, returning: bool) -> list:
    """``head`` (INSERT INTO table and columns) with the rows, then ``tail``; what RETURNING gives, if asked.

    PostgreSQL gets one statement with an array per column: psycopg parses the placeholders of a long statement
    anew on every call (it caches only short ones), which was half the time of a 1,000-point log-batch."""
    if not rows:
        return []
    if connection.vendor == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        columns = [list(column) for column in zip(*rows, strict=True)]
        cursor.execute(f"{head} SELECT * FROM unnest({arrays}){tail}", columns)
        return cursor.fetchall() if returning else []
    result = []
    placeholders = f"({', '.join(['%s'] * len(types))})"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        values = ", ".join([placeholders] * len(chunk))
        cursor.execute(f"{head} VALUES {values}{tail}", [field for row in chunk for field in row])
        if returning:
            result += cursor.fetchall()
    return result


def _without_logged_nans(cursor, series_id: int, points: list[MetricIn]) -> list[MetricIn]:
    """Drop NaN points already logged at the same step and timestamp: NaN is stored as NULL, and a unique constraint
    never finds two NULLs equal, so the constraint that dedupes other values lets these through."""
    nan_at = list({(m.step, m.timestamp) for m in points if m.value is None})
    if not nan_at:
        return points
    seen: set[tuple[int, int]] = set()
    for start in range(0, len(nan_at), _ROWS_PER_STATEMENT):
        chunk = nan_at[start : start + _ROWS_PER_STATEMENT]
        cursor.execute(
            f"SELECT step, timestamp FROM {_POINTS} WHERE series_id = %s AND value IS NULL AND ("
            + " OR ".join(["(step = %s AND timestamp = %s)"] * len(chunk))
            + ")",
            [series_id, *(v for pair in chunk for v in pair)],
        )
        seen.update(cursor.fetchall())
    kept = []
    for m in points:
        if m.value is None:
            if (m.step, m.timestamp) in seen:
                continue
            seen.add((m.step, m.timestamp))
        kept.append(m)
    return kept


# A bucket summary: [min, max, last_step, last_timestamp, last_value, count]
_Summary = list


def summarize(points: list[tuple[int, int, float | None]]) -> list[dict[int, _Summary]]:
    """Bucket summaries of (step, timestamp, value) points for levels 1..LEVELS, each level built from the one
    below so that the work is proportional to the points, not points x levels."""
    levels: list[dict[int, _Summary]] = []
    current: dict[int, _Summary] = {}
    for step, timestamp, value in points:
        _merge(current, step >> BUCKET_BITS, [value, value, step, timestamp, value, 1])
    levels.append(current)
    for _ in range(LEVELS - 1):
        coarser: dict[int, _Summary] = {}
        for bucket, summary in current.items():
            _merge(coarser, bucket >> BUCKET_BITS, list(summary))
        levels.append(coarser)
        current = coarser
    return levels


def _merge(buckets: dict[int, _Summary], bucket: int, new: _Summary) -> None:
    old = buckets.get(bucket)
    if old is None:
        buckets[bucket] = new
        return
    if new[0] is not None and (old[0] is None or new[0] < old[0]):
        old[0] = new[0]
    if new[1] is not None and (old[1] is None or new[1] > old[1]):
        old[1] = new[1]
    if (new[2], new[3]) >= (old[2], old[3]):
        old[2], old[3], old[4] = new[2], new[3], new[4]
    old[5] += new[5]


_NEWER_BUCKET = (
    f"excluded.last_step > {_BUCKETS}.last_step OR (excluded.last_step = {_BUCKETS}.last_step "
    f"AND excluded.last_timestamp >= {_BUCKETS}.last_timestamp)"
)
_BUCKET_UPSERT_TAIL = f"""
ON CONFLICT (series_id, level, bucket) DO UPDATE SET
  min_value = CASE WHEN {_BUCKETS}.min_value IS NULL OR excluded.min_value < {_BUCKETS}.min_value
    THEN excluded.min_value ELSE {_BUCKETS}.min_value END,
  max_value = CASE WHEN {_BUCKETS}.max_value IS NULL OR excluded.max_value > {_BUCKETS}.max_value
    THEN excluded.max_value ELSE {_BUCKETS}.max_value END,
  last_value = CASE WHEN {_NEWER_BUCKET} THEN excluded.last_value ELSE {_BUCKETS}.last_value END,
  last_timestamp = CASE WHEN {_NEWER_BUCKET} THEN excluded.last_timestamp ELSE {_BUCKETS}.last_timestamp END,
  last_step = CASE WHEN excluded.last_step > {_BUCKETS}.last_step THEN excluded.last_step
    ELSE {_BUCKETS}.last_step END,
  count = {_BUCKETS}.count + excluded.count
"""


def _upsert_buckets(cursor, series_id: int, points: list[tuple[int, int, float | None]]) -> None:
    rows: list[tuple] = []
    for level, buckets in enumerate(summarize(points), start=1):
        rows += ((series_id, level, bucket, *summary) for bucket, summary in buckets.items())
    _insert_rows(
        cursor,
        f"INSERT INTO {_BUCKETS} (series_id, level, bucket, min_value, max_value, last_step, last_timestamp, "
        "last_value, count)",
        rows,
        ("bigint", "smallint", "bigint", "float8", "float8", "bigint", "bigint", "float8", "bigint"),
        _BUCKET_UPSERT_TAIL,
        returning=False,
    )


# --- Reads -------------------------------------------------------------------------------------------------------

# (step, timestamp, value); value None is NaN.
PointRow = tuple[int, int, float | None]
# Rows per fetch: large enough that per-fetch overhead vanishes, small enough to keep memory flat while streaming.
_FETCH_ROWS = 20_000
_INT64 = 2**63


class MetricHistory:
    """The points of one series in (step, timestamp, logging order) order, read lazily in chunks.

    ``chunks()`` runs one query on a server-side cursor (PostgreSQL) or a stepping SQLite cursor, so a million
    points stream in constant memory. When a page size was given, ``next_page_token`` is set once the chunks are
    exhausted; it holds the (step, timestamp, id) of the page's last point, so the next page starts with an index
    seek instead of an OFFSET that would rescan everything before it.
    """

    def __init__(self, series_id: int | None, max_results: int | None, after: tuple[int, int, int] | None) -> None:
        self.series_id = series_id
        self.max_results = max_results
        self.after = after
        self.next_page_token: str | None = None

    def chunks(self) -> Iterator[list[PointRow]]:
        """Lists of points, never empty."""
        if self.series_id is None:
            return
        paged = self.max_results is not None
        sql = f"SELECT step, timestamp, value{', id' if paged else ''} FROM {_POINTS} WHERE series_id = %s"
        params: list = [self.series_id]
        if self.after is not None:
            # The plain step bound lets both databases seek the (series, step, ...) index; the row comparison
            # then skips the equal-step points already sent.
            sql += " AND step >= %s AND (step, timestamp, id) > (%s, %s, %s)"
            params += [self.after[0], *self.after]
        sql += " ORDER BY step, timestamp, id"
        if paged:
            sql += f" LIMIT {int(self.max_results) + 1}"
        with _streaming_cursor() as cursor:
            cursor.execute(sql, params)
            if paged:
                yield from self._pages(cursor)
                return
            while rows := cursor.fetchmany(_FETCH_ROWS):
                yield rows

    def _pages(self, cursor) -> Iterator[list[PointRow]]:
        remaining = self.max_results
        last = None
        while rows := cursor.fetchmany(_FETCH_ROWS):
            # The query reads one row beyond the page: that row only proves that another page exists.
            beyond = len(rows) > remaining
            rows = rows[:remaining]
            if rows:
                remaining -= len(rows)
                last = rows[-1]
                yield [row[:3] for row in rows]
            if beyond:
                self.next_page_token = encode_page_token(last[0], last[1], last[3])
                return


@contextmanager
def _streaming_cursor() -> Iterator[Any]:
    """A cursor that reads rows as they are fetched. On PostgreSQL a server-side cursor, in binary format (int8 and
    float8 are copied instead of parsed from text: ~40% faster on a million rows), inside a transaction, since a
    cursor declared WITH HOLD (Django's choice in autocommit mode) is run to completion and stored before the first
    row comes. SQLite steps its statement lazily anyway."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    with transaction.atomic():
        connection.ensure_connection()
        with connection.connection.cursor(name=f"studio_points_{uuid.uuid4().hex}", binary=True) as cursor:
            yield cursor


def get_metric_history(
    *, run_id: str, key: str, max_results: int | None = None, page_token: str | None = None
) -> MetricHistory:
    """A metric's history, whole or one page of ``max_results`` points; a missing run is RESOURCE_DOES_NOT_EXIST,
    an unknown key an empty history."""
    if max_results is not None and max_results <= 0:
        raise invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be a positive integer."
        )
    after = decode_page_token(page_token) if page_token else None
    if not Run.objects.filter(pk=run_id).exists():
        raise not_found(f"Run with id={run_id} not found")
    series_id = MetricSeries.objects.filter(run_id=run_id, key=key).values_list("id", flat=True).first()
    return MetricHistory(series_id, max_results, after)


def encode_page_token(step: int, timestamp: int, point_id: int) -> str:
    """An opaque token for the point after which the next page starts."""
    return base64.urlsafe_b64encode(orjson.dumps([step, timestamp, point_id])).decode()


def decode_page_token(token: str) -> tuple[int, int, int]:
    """The (step, timestamp, id) a token points after; anything else is INVALID_PARAMETER_VALUE."""
    try:
        position = orjson.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        position = None
    valid = isinstance(position, list) and len(position) == 3
    if not (valid and all(type(v) is int and -_INT64 <= v < _INT64 for v in position)):
        raise invalid(f"Invalid page token {token!r}: it must be a next_page_token returned by this server.")
    return position[0], position[1], position[2]


def get_metric_history_bulk(*, run_ids: list[str], key: str, max_results: int) -> list[tuple[str, PointRow]]:
    """The first ``max_results`` points of a key over several runs, ordered by run, timestamp and step (the UI's
    ``get-history-bulk``, as MLflow orders it); unknown runs have no points."""
    rows = (
        MetricPoint.objects.filter(series__run_id__in=run_ids, series__key=key)
        .order_by("series__run_id", "timestamp", "step", "id")
        .values_list("series__run_id", "step", "timestamp", "value")[:max_results]
    )
    return [(run_id, (step, timestamp, value)) for run_id, step, timestamp, value in rows]
