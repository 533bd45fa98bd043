"""Metric histories sampled to a resolution, read from the summary buckets instead of the points.

A series of a million steps drawn on a 320-pixel chart needs 320 groups of steps, each with the last value (what the
line goes through) and the min and max (the band that shows the noise). ``MetricBucket`` keeps exactly that per
power-of-8 step bucket, so a sample reads the finest level that has at most ``points * 8`` buckets in the range
(a few thousand rows, in index order) and merges them here.

Groups are aligned to the bucket grid: a group is a whole number of buckets of the level read, and a range's
ragged ends are covered with finer buckets and, below one bucket of level 1, with the points themselves. No bucket
ever straddles two groups or the range's ends, so every group's min, max, count and last point are exact, not
estimates, and each returned point is a point that was logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from studio.errors import invalid, not_found
from tracking.models import MetricBucket, MetricPoint, MetricSeries, Run
from tracking.store.metrics import BUCKET_BITS, LEVELS, PointRow

DEFAULT_POINTS = 320
# Read at most this many times the wanted points: fine enough for groups close to the wanted width, few enough
# rows (2,560 for a 320-point chart) to stay far below a millisecond of merging.
OVERSAMPLING = 8

_POINTS = MetricPoint._meta.db_table
_BUCKETS = MetricBucket._meta.db_table


@dataclass(frozen=True)
class Bucket:
    """A group of steps of a sampled series: its last point (step, timestamp, value) and min, max and count of its
    values; NaN values (None) count but never make a min or max."""

    step: int
    timestamp: int
    value: float | None
    min: float | None
    max: float | None
    count: int


@dataclass(frozen=True)
class SampledSeries:
    """One (run, key) series: its total point count and step extent, and its buckets over the asked range."""

    run_id: str
    key: str
    count: int
    min_step: int
    max_step: int
    sampled: bool
    buckets: list[Bucket]


def sample_metric_series(
    *,
    run_ids: list[str],
    keys: list[str],
    points: int = DEFAULT_POINTS,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[SampledSeries]:
    """At most ``points`` buckets per (run, key) series over steps ``[start_step, end_step]`` (either end open),
    ordered as the runs and keys were given; series that were never logged are left out."""
    if points < 1:
        raise invalid(f"Invalid value {points} for parameter 'points' supplied. It must be a positive integer.")
    _check_step_range(start_step, end_step)
    _check_runs_exist(run_ids)
    found = {(s.run_id, s.key): s for s in MetricSeries.objects.filter(run_id__in=run_ids, key__in=keys)}
    result = []
    for run_id in dict.fromkeys(run_ids):
        for key in dict.fromkeys(keys):
            series = found.get((run_id, key))
            if series is None:
                continue
            lo, hi = _clip(series, start_step, end_step)
            buckets, sampled = sample_series(series, points=points, lo=lo, hi=hi)
            result.append(SampledSeries(run_id, key, series.count, series.min_step, series.max_step, sampled, buckets))
    return result


def sample_series(series: MetricSeries, *, points: int, lo: int, hi: int) -> tuple[list[Bucket], bool]:
    """The buckets of one series over steps ``[lo, hi]`` and whether they are a sample; a range holding at most
    ``points`` points comes back as those points, one bucket each."""
    if lo > hi:
        return [], False
    budget = points * OVERSAMPLING
    with connection.cursor() as cursor:
        level = _choose_level(cursor, series, lo, hi, budget)
        if level == 0:
            rows = _read_points(cursor, series.pk, [(lo, hi)])
            if len(rows) <= points:
                return [Bucket(s, t, v, v, v, 1) for s, t, v in rows], False
            pieces: Iterable[tuple] = ((s, t, v, v, v, 1) for s, t, v in rows)
        else:
            # No points lie beyond the series' first and last steps, so buckets may stick out there: a range that
            # reaches an end of the series reads no points at that end. That matters when many points share a step
            # (log_metric's default step is 0).
            shift = level * BUCKET_BITS
            tile_lo = (lo >> shift) << shift if lo <= series.min_step else lo
            tile_hi = (((hi >> shift) + 1) << shift) - 1 if hi >= series.max_step else hi
            bucket_ranges, step_ranges = tiles(tile_lo, tile_hi, level)
            pieces = _read_buckets(cursor, series.pk, bucket_ranges)
            pieces += [(s, t, v, v, v, 1) for s, t, v in _read_points(cursor, series.pk, step_ranges)]
    return merge(pieces, *step_groups(lo, hi, points, 1 << (level * BUCKET_BITS))), True


def _check_step_range(start_step: int | None, end_step: int | None) -> None:
    if start_step is not None and end_step is not None and start_step > end_step:
        raise invalid(
            f"end_step must be greater than start_step. Found start_step={start_step} and end_step={end_step}."
        )


def _check_runs_exist(run_ids: list[str]) -> None:
    known = set(Run.objects.filter(pk__in=run_ids).values_list("pk", flat=True))
    for run_id in run_ids:
        if run_id not in known:
            raise not_found(f"Run with id={run_id} not found")


def _clip(series: MetricSeries, start_step: int | None, end_step: int | None) -> tuple[int, int]:
    lo = series.min_step if start_step is None else max(start_step, series.min_step)
    hi = series.max_step if end_step is None else min(end_step, series.max_step)
    return lo, hi


def _choose_level(cursor, series: MetricSeries, lo: int, hi: int, budget: int) -> int:
    """The finest level (0 = the points) with at most ``budget`` rows in the range. The step span bounds the
    bucket count of a level for free; only when the span is too wide (sparse steps) does a count, LIMITed to
    ``budget + 1`` index entries, tell."""
    whole = lo <= series.min_step and hi >= series.max_step
    if series.count <= budget or (not whole and _count_points(cursor, series.pk, lo, hi, budget + 1) <= budget):
        return 0
    for level in range(1, LEVELS + 1):
        shift = level * BUCKET_BITS
        first, last = lo >> shift, hi >> shift
        if last - first + 1 <= budget or _count_buckets(cursor, series.pk, level, first, last, budget + 1) <= budget:
            return level
    return LEVELS


def _count_points(cursor, series_id: int, lo: int, hi: int, limit: int) -> int:
    cursor.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {_POINTS} WHERE series_id = %s AND step BETWEEN %s AND %s LIMIT %s) t",
        [series_id, lo, hi, limit],
    )
    return cursor.fetchone()[0]


def _count_buckets(cursor, series_id: int, level: int, first: int, last: int, limit: int) -> int:
    cursor.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {_BUCKETS} WHERE series_id = %s AND level = %s "
        "AND bucket BETWEEN %s AND %s LIMIT %s) t",
        [series_id, level, first, last, limit],
    )
    return cursor.fetchone()[0]


def tiles(lo: int, hi: int, level: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    """Cover steps ``[lo, hi]`` exactly with whole buckets, as ``(level, first bucket, last bucket)`` ranges of
    ``level`` and finer, plus the step ranges (under 16 steps wide) left for the points themselves."""
    bucket_ranges: list[tuple[int, int, int]] = []
    step_ranges: list[tuple[int, int]] = []
    pending = [(lo, hi, level)]
    while pending:
        lo, hi, level = pending.pop()
        if lo > hi:
            continue
        if level == 0:
            step_ranges.append((lo, hi))
            continue
        shift = level * BUCKET_BITS
        first = -(-lo >> shift)  # the first bucket starting at or after lo (ceiling division)
        last = ((hi + 1) >> shift) - 1  # the last bucket ending at or before hi
        if first > last:
            pending.append((lo, hi, level - 1))
            continue
        bucket_ranges.append((level, first, last))
        pending += [(lo, (first << shift) - 1, level - 1), ((last + 1) << shift, hi, level - 1)]
    return bucket_ranges, step_ranges


def _read_buckets(cursor, series_id: int, ranges: list[tuple[int, int, int]]) -> list[tuple]:
    if not ranges:
        return []
    # One index range per branch: an OR of ranges would make SQLite scan all the series' buckets.
    branch = (
        f"SELECT last_step, last_timestamp, last_value, min_value, max_value, count FROM {_BUCKETS} "
        "WHERE series_id = %s AND level = %s AND bucket BETWEEN %s AND %s"
    )
    cursor.execute(" UNION ALL ".join([branch] * len(ranges)), [v for r in ranges for v in (series_id, *r)])
    return cursor.fetchall()


def _read_points(cursor, series_id: int, ranges: list[tuple[int, int]]) -> list[PointRow]:
    if not ranges:
        return []
    branch = f"SELECT step, timestamp, value, id FROM {_POINTS} WHERE series_id = %s AND step BETWEEN %s AND %s"
    # Logging order (id) breaks ties of equal step and timestamp, as the buckets' "last" does.
    cursor.execute(
        " UNION ALL ".join([branch] * len(ranges)) + " ORDER BY step, timestamp, id",
        [v for r in ranges for v in (series_id, *r)],
    )
    return [row[:3] for row in cursor.fetchall()]


def step_groups(lo: int, hi: int, points: int, unit: int) -> tuple[int, int]:
    """The grid of at most ``points`` equal-width step groups over ``[lo, hi]``: group ``(step - origin) // width``.
    Origin and width are multiples of ``unit`` (the bucket width read), so that no bucket straddles two groups."""
    origin = lo // unit * unit
    width = -(-(hi - origin + 1) // points)  # ceiling division
    return origin, -(-width // unit) * unit


def merge(pieces: Iterable[tuple], origin: int, width: int) -> list[Bucket]:
    """Merge (last step, last timestamp, last value, min, max, count) pieces into the groups of a grid, keeping the
    min of mins, the max of maxes, the last of lasts and the sum of counts; pieces whose step and timestamp tie
    must come in logging order."""
    groups: dict[int, list] = {}
    for step, timestamp, value, low, high, count in pieces:
        index = (step - origin) // width
        group = groups.get(index)
        if group is None:
            groups[index] = [step, timestamp, value, low, high, count]
            continue
        if low is not None and (group[3] is None or low < group[3]):
            group[3] = low
        if high is not None and (group[4] is None or high > group[4]):
            group[4] = high
        if (step, timestamp) >= (group[0], group[1]):
            group[0], group[1], group[2] = step, timestamp, value
        group[5] += count
    return [Bucket(*groups[index]) for index in sorted(groups)]


def get_metric_history_bulk_interval(
    *,
    run_ids: list[str],
    key: str,
    max_results: int,
    start_step: int | None = None,
    end_step: int | None = None,
) -> list[tuple[str, PointRow]]:
    """MLflow's ``get-history-bulk-interval``: per run at most ``max_results`` logged points of the range, all of
    them when they fit, else the first point and the last point of each of ``max_results - 1`` groups (only the
    last point of the range when ``max_results`` is 1); ordered by run, then step."""
    if (start_step is None) != (end_step is None):
        raise invalid("If either start step or end step are specified, both must be specified.")
    _check_step_range(start_step, end_step)
    _check_runs_exist(run_ids)
    result: list[tuple[str, PointRow]] = []
    for series in MetricSeries.objects.filter(run_id__in=run_ids, key=key).order_by("run_id"):
        lo, hi = _clip(series, start_step, end_step)
        result += [(series.run_id, row) for row in _interval_sample(series, lo, hi, max_results)]
    return result


def _interval_sample(series: MetricSeries, lo: int, hi: int, max_results: int) -> list[PointRow]:
    if lo > hi:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT step, timestamp, value FROM {_POINTS} WHERE series_id = %s AND step BETWEEN %s AND %s "
            "ORDER BY step, timestamp, id LIMIT %s",
            [series.pk, lo, hi, max_results + 1],
        )
        head = cursor.fetchall()
    if len(head) <= max_results:
        return head
    buckets, _ = sample_series(series, points=max(max_results - 1, 1), lo=lo, hi=hi)
    lasts = [(b.step, b.timestamp, b.value) for b in buckets]
    if max_results == 1:
        return lasts
    # The first group's last point is the range's first point when that group holds only it.
    return [head[0], *lasts[1:]] if lasts[0] == head[0] else [head[0], *lasts]
