"""Metric writes and reads.

Writes keep three tables in step inside the caller's transaction (see ``tracking.models``): the points, the series
row with the latest value, and the summary buckets. A bucket of level L covers steps ``[b * 8**L, (b + 1) * 8**L)``
and keeps min, max and the last value, so a chart of any range reads at most a few thousand bucket rows.
"""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection

from studio.errors import invalid
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
            series_id = _upsert_series(cursor, run.pk, key, points)
            inserted = _insert_points(cursor, series_id, points)
            if inserted:
                cursor.execute(f"UPDATE {_SERIES} SET count = count + %s WHERE id = %s", [inserted, series_id])
            _upsert_buckets(cursor, series_id, points)
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

# The newer value wins: higher step, then later (or equal, i.e. later-logged) timestamp.
_SERIES_UPSERT = f"""
INSERT INTO {_SERIES} (run_id, key, value, timestamp, step, count, min_step, max_step)
VALUES (%s, %s, %s, %s, %s, 0, %s, %s)
ON CONFLICT (run_id, key) DO UPDATE SET
  value = CASE WHEN excluded.step > {_SERIES}.step
    OR (excluded.step = {_SERIES}.step AND excluded.timestamp >= {_SERIES}.timestamp)
    THEN excluded.value ELSE {_SERIES}.value END,
  timestamp = CASE WHEN excluded.step > {_SERIES}.step
    OR (excluded.step = {_SERIES}.step AND excluded.timestamp >= {_SERIES}.timestamp)
    THEN excluded.timestamp ELSE {_SERIES}.timestamp END,
  step = CASE WHEN excluded.step > {_SERIES}.step THEN excluded.step ELSE {_SERIES}.step END,
  min_step = CASE WHEN excluded.min_step < {_SERIES}.min_step THEN excluded.min_step ELSE {_SERIES}.min_step END,
  max_step = CASE WHEN excluded.max_step > {_SERIES}.max_step THEN excluded.max_step ELSE {_SERIES}.max_step END
RETURNING id
"""


def _upsert_series(cursor, run_id: str, key: str, points: list[MetricIn]) -> int:
    latest = max(points, key=lambda m: (m.step, m.timestamp))
    steps = [m.step for m in points]
    cursor.execute(_SERIES_UPSERT, [run_id, key, latest.value, latest.timestamp, latest.step, min(steps), max(steps)])
    return cursor.fetchone()[0]


def _insert_points(cursor, series_id: int, points: list[MetricIn]) -> int:
    """Insert, skipping exact duplicates as MLflow does; returns how many were new."""
    inserted = 0
    for start in range(0, len(points), _ROWS_PER_STATEMENT):
        chunk = points[start : start + _ROWS_PER_STATEMENT]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        params: list = []
        for m in chunk:
            params += (series_id, m.step, m.timestamp, m.value)
        cursor.execute(
            f"INSERT INTO {_POINTS} (series_id, step, timestamp, value) VALUES {values} ON CONFLICT DO NOTHING",
            params,
        )
        inserted += max(cursor.rowcount, 0)
    return inserted


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


def _upsert_buckets(cursor, series_id: int, points: list[MetricIn]) -> None:
    rows: list[tuple] = []
    for level, buckets in enumerate(summarize([(m.step, m.timestamp, m.value) for m in points]), start=1):
        rows += ((series_id, level, bucket, *summary) for bucket, summary in buckets.items())
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        params = [field for row in chunk for field in row]
        cursor.execute(
            f"INSERT INTO {_BUCKETS} (series_id, level, bucket, min_value, max_value, last_step, last_timestamp, "
            f"last_value, count) VALUES {values}{_BUCKET_UPSERT_TAIL}",
            params,
        )
