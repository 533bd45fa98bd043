"""Metric storage and sampling against brute force: the write path's three tables, and samples read from buckets."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from studio.errors import StudioError
from tracking.models import MetricBucket, MetricPoint, MetricSeries
from tracking.store import experiments as experiment_store
from tracking.store import metric_sampling as sampling
from tracking.store import metrics as metric_store
from tracking.store import runs as run_store
from tracking.store.metrics import MetricIn

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_id() -> str:
    experiment_id = experiment_store.create_experiment(name="metrics")
    return run_store.create_run(experiment_id=str(experiment_id))[0].run_uuid


def log(run_id: str, points: list[tuple[int, int, float | None]], key: str = "m") -> None:
    """Log (step, timestamp, value) points in batches of MLflow's limit."""
    metrics = [MetricIn(key, value, timestamp, step) for step, timestamp, value in points]
    for start in range(0, len(metrics), 1000):
        run_store.log_batch(run_id=run_id, metrics=metrics[start : start + 1000])


def unique_points(logged: list[tuple[int, int, float | None]]) -> list[tuple[int, int, float | None, int]]:
    """What the history holds: logged points minus exact repeats (NaN included), with their logging order."""
    seen, kept = set(), []
    for order, (step, timestamp, value) in enumerate(logged):
        if (step, timestamp, value) not in seen:
            seen.add((step, timestamp, value))
            kept.append((step, timestamp, value, order))
    return kept


def history(run_id: str, key: str = "m", **kwargs) -> tuple[list[tuple[int, int, float | None]], str | None]:
    page = metric_store.get_metric_history(run_id=run_id, key=key, **kwargs)
    rows = [row for chunk in page.chunks() for row in chunk]
    return rows, page.next_page_token


def random_points(seed: int, n: int) -> list[tuple[int, int, float | None]]:
    """Negative, dense, sparse and repeated steps; several timestamps per step; NaNs; exact re-logs."""
    rng = random.Random(seed)
    steps = (
        [rng.randint(-300, 300) for _ in range(n // 2)]
        + [rng.randint(-(10**9), 10**9) for _ in range(n // 4)]
        + [rng.choice([-4097, -4096, -1, 0, 7, 8, 4095, 4096, 2**40]) for _ in range(n // 4)]
    )
    points = []
    for step in steps:
        value = None if rng.random() < 0.05 else round(rng.gauss(0, 100), 3)
        points.append((step, rng.randint(0, 5), value))
    points += rng.sample(points, n // 20)  # logged again: kept once
    rng.shuffle(points)
    return points


def brute_groups(points, buckets):
    """Split the points of a range at the returned buckets' last steps: groups are contiguous step intervals, so
    this recovers exactly the points each bucket stands for."""
    groups, i = [], 0
    ordered = sorted(points, key=lambda p: (p[0], p[1], p[3]))
    for bucket in buckets:
        group = []
        while i < len(ordered) and ordered[i][0] <= bucket.step:
            group.append(ordered[i])
            i += 1
        groups.append(group)
    assert i == len(ordered), "points after the last bucket"
    return groups


def assert_exact(buckets, groups):
    for bucket, group in zip(buckets, groups, strict=True):
        values = [p[2] for p in group if p[2] is not None]
        last = max(group, key=lambda p: (p[0], p[1], p[3]))
        assert (bucket.step, bucket.timestamp) == (last[0], last[1])
        assert bucket.value == last[2] or (bucket.value is None and last[2] is None)
        assert bucket.min == (min(values) if values else None)
        assert bucket.max == (max(values) if values else None)
        assert bucket.count == len(group)


def test_write_keeps_points_series_and_buckets_in_step(run_id):
    logged = random_points(1, 3000)
    log(run_id, logged)
    kept = unique_points(logged)
    series = MetricSeries.objects.get(run_id=run_id, key="m")
    assert series.count == len(kept) == MetricPoint.objects.filter(series=series).count()
    assert (series.min_step, series.max_step) == (min(p[0] for p in kept), max(p[0] for p in kept))
    latest = max(kept, key=lambda p: (p[0], p[1], p[3]))
    assert (series.step, series.timestamp, series.value) == latest[:3]
    for level in range(1, metric_store.LEVELS + 1):
        buckets = MetricBucket.objects.filter(series=series, level=level)
        # Re-logged duplicates must not be counted twice in the summaries either.
        assert sum(b.count for b in buckets) == len(kept), level
        expected = {}
        for point in kept:
            expected.setdefault(point[0] >> (3 * level), []).append(point)
        assert {b.bucket for b in buckets} == set(expected)
        for bucket in buckets:
            assert_exact(
                [sampling.Bucket(bucket.last_step, bucket.last_timestamp, bucket.last_value, bucket.min_value,
                                 bucket.max_value, bucket.count)],
                [expected[bucket.bucket]],
            )  # fmt: skip


def test_nan_logged_twice_at_the_same_step_and_timestamp_is_kept_once(run_id):
    log(run_id, [(1, 10, None), (1, 10, None), (1, 11, None)])
    log(run_id, [(1, 10, None), (2, 10, 5.0)])
    assert history(run_id)[0] == [(1, 10, None), (1, 11, None), (2, 10, 5.0)]
    assert MetricSeries.objects.get(run_id=run_id).count == 3


def test_history_is_ordered_by_step_then_timestamp_then_logging_order(run_id):
    log(run_id, [(2, 5, 1.0), (1, 9, 2.0), (1, 3, 3.0), (2, 5, 0.5), (-4, 100, None)])
    assert history(run_id)[0] == [(-4, 100, None), (1, 3, 3.0), (1, 9, 2.0), (2, 5, 1.0), (2, 5, 0.5)]


def test_history_pages_by_keyset_across_equal_steps(run_id):
    logged = [(7, ts % 3, float(ts)) for ts in range(10)] + [(3, 0, 1.0), (9, 0, 2.0)]
    log(run_id, logged)
    whole, token = history(run_id)
    assert token is None and len(whole) == 12
    pages, token = [], None
    while True:
        rows, token = history(run_id, max_results=4, page_token=token)
        pages.append(rows)
        if token is None:
            break
    assert [len(p) for p in pages] == [4, 4, 4]
    assert [row for page in pages for row in page] == whole
    # A page that ends exactly at the end of the history says so.
    assert history(run_id, max_results=12)[1] is None
    assert history(run_id, max_results=11)[1] is not None


# Not base64; "[]"; '[1,2,"a"]'; "null"; an id beyond int64.
@pytest.mark.parametrize(
    "token", ["garbage", "W10=", "WzEsMiwiYSJd", "bnVsbA==", "WzEsMiw5MjIzMzcyMDM2ODU0Nzc1ODA4XQ=="]
)
def test_history_rejects_a_bad_page_token(run_id, token):
    log(run_id, [(1, 1, 1.0)])
    with pytest.raises(StudioError) as error:
        history(run_id, max_results=5, page_token=token)
    assert error.value.error_code == "INVALID_PARAMETER_VALUE"


def test_tiles_cover_a_range_exactly_with_whole_buckets():
    rng = random.Random(3)
    cases = [(0, 999_999), (-5, 5), (-4096, 4095), (123_457, 128_457), (7, 7)]
    cases += [tuple(sorted(rng.randint(-(10**7), 10**7) for _ in range(2))) for _ in range(200)]
    for lo, hi in cases:
        for level in range(metric_store.LEVELS + 1):
            bucket_ranges, step_ranges = sampling.tiles(lo, hi, level)
            spans = [(first << (3 * lv), ((last + 1) << (3 * lv)) - 1) for lv, first, last in bucket_ranges]
            spans = sorted(spans + step_ranges)
            assert spans[0][0] == lo and spans[-1][1] == hi
            assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))
            assert all(hi - lo < 15 for lo, hi in step_ranges) or level == 0
            assert all(lv <= level for lv, _, _ in bucket_ranges)


@pytest.mark.parametrize("seed", [11, 12])
def test_sample_matches_brute_force(run_id, seed):
    logged = random_points(seed, 4000)
    log(run_id, logged)
    kept = unique_points(logged)
    rng = random.Random(seed)
    ranges = [(None, None), (-300, 300), (-5000, 10**9), (0, 0), (-(10**9), -1), (4096, 2**40), (10**10, 10**11)]
    ranges += [tuple(sorted(rng.randint(-(10**9), 10**9) for _ in range(2))) for _ in range(6)]
    for start, end in ranges:
        in_range = [p for p in kept if (start is None or p[0] >= start) and (end is None or p[0] <= end)]
        for points in (1, 2, 7, 50, 320, 5000):
            [series] = sampling.sample_metric_series(
                run_ids=[run_id], keys=["m"], points=points, start_step=start, end_step=end
            )
            buckets = series.buckets
            assert len(buckets) <= points
            assert series.sampled == (len(in_range) > points)
            if series.sampled:
                assert [b.step for b in buckets] == sorted({b.step for b in buckets})
                assert_exact(buckets, brute_groups(in_range, buckets))
            else:
                assert [(b.step, b.timestamp, b.value, b.min, b.max, b.count) for b in buckets] == [
                    (*p[:3], p[2], p[2], 1) for p in sorted(in_range, key=lambda p: (p[0], p[1], p[3]))
                ]
            values = [p[2] for p in in_range if p[2] is not None]
            if values:  # the range's extremes survive any resolution
                assert min(b.min for b in buckets if b.min is not None) == min(values)
                assert max(b.max for b in buckets if b.max is not None) == max(values)
            assert (series.count, series.min_step, series.max_step) == (
                len(kept),
                min(p[0] for p in kept),
                max(p[0] for p in kept),
            )


def test_sample_of_a_long_series_reads_buckets_not_points(run_id):
    values = [math.sin(step / 50) * 100 + step % 7 for step in range(20_000)]
    log(run_id, [(step, step, value) for step, value in enumerate(values)])
    expected = sampling.sample_metric_series(run_ids=[run_id], keys=["m"], points=32)[0]
    # Without the points, a range aligned to buckets is still answered, exactly: only buckets were read.
    MetricPoint.objects.filter(series__run_id=run_id).delete()
    [series] = sampling.sample_metric_series(run_ids=[run_id], keys=["m"], points=32)
    assert series == expected and series.sampled
    assert 16 <= len(series.buckets) <= 32
    assert sum(b.count for b in series.buckets) == 20_000
    assert min(b.min for b in series.buckets) == min(values)
    assert max(b.max for b in series.buckets) == max(values)
    assert (series.buckets[-1].step, series.buckets[-1].value) == (19_999, values[-1])
    groups = brute_groups([(s, s, v, s) for s, v in enumerate(values)], series.buckets)
    assert_exact(series.buckets, groups)


def test_sample_of_points_all_logged_at_one_step_reads_one_bucket(run_id):
    # log_metric's default step is 0: a long series can sit on a single step.
    log(run_id, [(0, ts, float(ts % 10)) for ts in range(3000)])
    MetricPoint.objects.filter(series__run_id=run_id).delete()
    [series] = sampling.sample_metric_series(run_ids=[run_id], keys=["m"], points=50)
    assert series.buckets == [sampling.Bucket(0, 2999, 9.0, 0.0, 9.0, 3000)]


def test_sample_uses_few_queries(run_id, django_assert_max_num_queries):
    log(run_id, [(step, 0, float(step)) for step in range(5000)])
    log(run_id, [(step, 0, float(step)) for step in range(100)], key="other")
    with django_assert_max_num_queries(10):
        result = sampling.sample_metric_series(
            run_ids=[run_id], keys=["m", "other", "missing"], points=100, start_step=33, end_step=4321
        )
    assert [(s.key, s.sampled) for s in result] == [("m", True), ("other", False)]
    assert len(result[1].buckets) == 100 - 33


def test_sample_refuses_bad_arguments_and_unknown_runs(run_id):
    with pytest.raises(StudioError, match="positive"):
        sampling.sample_metric_series(run_ids=[run_id], keys=["m"], points=0)
    with pytest.raises(StudioError, match="end_step must be greater"):
        sampling.sample_metric_series(run_ids=[run_id], keys=["m"], start_step=5, end_step=4)
    with pytest.raises(StudioError) as error:
        sampling.sample_metric_series(run_ids=[run_id, "f" * 32], keys=["m"])
    assert error.value.error_code == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("max_results", [1, 2, 3, 10, 99, 2500])
def test_bulk_interval_keeps_first_and_last_and_returns_logged_points(run_id, max_results):
    logged = random_points(5, 2000)
    log(run_id, logged)
    kept = sorted(unique_points(logged), key=lambda p: (p[0], p[1], p[3]))
    for start, end in [(None, None), (-300, 300), (1, 2**40)]:
        in_range = [p[:3] for p in kept if start is None or start <= p[0] <= end]
        rows = sampling.get_metric_history_bulk_interval(
            run_ids=[run_id], key="m", max_results=max_results, start_step=start, end_step=end
        )
        sample = [row for _, row in rows]
        assert {r for r, _ in rows} <= {run_id}
        if len(in_range) <= max_results:
            assert sample == in_range
            continue
        assert len(sample) <= max_results
        assert sample[-1] == in_range[-1]
        if max_results > 1:
            assert sample[0] == in_range[0]
        assert [p[0] for p in sample] == sorted(p[0] for p in sample)
        assert all(p in set(in_range) for p in sample)
