"""Studio's pages against the issue's targets: the experiment page over 10,000 runs, and the run page's chart data.

Starts ``studio run`` alone (there is no official server to compare with: MLflow's UI renders in the browser) on a
fresh SQLite file or PostgreSQL database, seeds through the REST API as the ``mlflow`` client would, and times what a
browser asks for:

* one experiment of ``--runs`` runs (``runs/create`` + ``log-batch`` with 10 params, 10 metrics and 5 tags +
  ``runs/update``, ``--seed-threads`` threads); a tenth of them are nested, ten children under each of ``--runs``/100
  parents, so that the page's top level is not every run. Then GET of the experiment page's first page with the
  default columns, with 5 param + 5 metric columns, sorted by a metric, with a filter, and a later keyset page
  (the fifth, following the Next links); the table fragment the page's script swaps in on a sort; and a parent's
  children fragment. Target: under 150 ms.
* one run with a ``--steps``-step metric (``log-batch`` of 1,000 points, 4 threads), then the request the run page's
  chart makes (``GET /ajax-api/2.0/studio/metrics/sample`` with ``--points`` points, 500 as
  ``static/tracking/metric_chart.js`` asks) over the whole history and over a zoomed range. Target: under 100 ms.

Timings are client-side on a kept-alive connection over loopback, the body read whole: server time plus well under a
millisecond. Shares its server handling and measuring with ``bench/tracking.py``; only loopback traffic.

    .venv/bin/python bench/ui.py --db both
    .venv/bin/python bench/ui.py --db sqlite --runs 1000 --steps 100000 --wait-quiet 0   # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib.util
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

_spec = importlib.util.spec_from_file_location("bench_tracking", Path(__file__).with_name("tracking.py"))
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_tracking"] = bench
_spec.loader.exec_module(bench)

Api, Row, Sample, Server = bench.Api, bench.Row, bench.Sample, bench.Server
PAGE_TARGET_MS = 150.0
CHART_TARGET_MS = 100.0
PAGE_ROWS = 50  # tracking.store.run_table.PAGE_SIZE
PICKED = ",".join([f"params.p{k}" for k in range(1, 6)] + [f"metrics.m{k}" for k in range(1, 6)])
FILTER = bench.SEARCH_FILTER  # "metrics.m1 > 0.5 and params.p1 = 'x'": about 5% of the runs
START_MS = 1_700_000_000_000
ROW = re.compile(r'<tr data-run-id="(\w+)"')
NEXT = re.compile(r'<a class="button" href="\?([^"]*)" data-table-link rel="next">')
SCENARIOS = ("page", "chart")


@contextlib.contextmanager
def studio_server(engine: str, stack: contextlib.ExitStack, rev: str | None) -> Iterator[Server]:
    """``studio run`` on fresh storage of one engine; stopped and its storage dropped afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"studio-ui-bench-{engine}-"))
    stack.callback(shutil.rmtree, root, ignore_errors=True)
    env = dict(os.environ, STUDIO_DATA_DIR=str(root / "studio"))
    database = None
    if engine == "postgres":
        database = f"studio_ui_bench_{os.getpid()}"
        bench.pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        bench.pg_execute(f'CREATE DATABASE "{database}"')
        stack.callback(bench.pg_execute, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        env["DATABASE_URL"] = f"postgres://postgres@{bench.HOST}:5432/{database}"
    source = bench.studio_source(rev, root)
    port = bench.free_port()
    cmd, how = bench.studio_command(port, source)
    if how != "studio run":
        raise bench.BenchError("bench/ui.py needs studio run (studio/cli.py)")
    server = Server("studio", cmd, env, source, port, root / "studio.log")
    server.database = database
    stack.callback(server.stop)
    server.start()
    server.wait_healthy()
    bench.log(f"studio up at {server.url} on {engine} (code from {rev or 'the working tree'})")
    yield server


# ------------------------------------------------------------------------------------------------------ seeding


def parent_index(i: int, runs: int) -> int | None:
    """Run i's parent: the last tenth of the runs are nested, ten under each of the first runs/100."""
    first_child = runs - runs // 10
    return (i - first_child) // 10 if i >= first_child else None


def seed_runs(server: Server, runs: int, threads: int) -> tuple[str, list[str], Sample]:
    """The experiment of ``runs`` runs; the parents go in before their children."""
    experiment_id = Api(server.url).create_experiment(f"ui-{time.time_ns()}")
    ids: list[str] = [""] * runs
    local = threading.local()

    def task(i: int) -> None:
        api = getattr(local, "api", None) or Api(server.url)
        local.api = api
        start = START_MS + i * 1000
        tags = [{"key": "mlflow.runName", "value": f"run-{i:05d}"}]
        if (parent := parent_index(i, runs)) is not None:
            tags.append({"key": "mlflow.parentRunId", "value": ids[parent]})
        body = {"experiment_id": experiment_id, "user_id": f"user-{i % 7}", "start_time": start, "tags": tags}
        run_id = orjson.loads(bench.with_retries(lambda: api.post("runs/create", body)))["run"]["info"]["run_id"]
        ids[i] = run_id
        batch = orjson.dumps({"run_id": run_id, **bench.search_run_payload(i)})
        bench.with_retries(lambda: api.post("runs/log-batch", batch))
        end = {"run_id": run_id, "status": "FAILED" if i % 50 == 0 else "FINISHED", "end_time": start + 1000 + i % 997}
        bench.with_retries(lambda: api.post("runs/update", end))

    first_child = runs - runs // 10
    bench.log(f"    seeding {runs:,} runs ({runs // 10:,} nested) with {threads} threads")
    wall = bench.run_parallel(task, first_child, threads, budget=3600)
    wall += bench.run_parallel(lambda j: task(first_child + j), runs - first_child, threads, budget=3600)
    return experiment_id, ids, Sample(latencies=[wall / runs] * runs, wall=wall, units_per_call=1)


# ------------------------------------------------------------------------------------------------------ measuring


def get_page(api: Any, url: str, params: dict[str, Any] | None = None) -> bytes:
    response = api.session.get(url, params=params, timeout=600)
    if response.status_code != 200:
        raise bench.BenchError(f"HTTP {response.status_code} on {url}: {response.text[:300]}")
    return response.content


def timed_page(server: Server, path: str, params: dict[str, Any], rows: int | None, reps: int) -> Sample:
    """GET ``path`` ``reps`` times on a fresh session (no remembered columns), after checking its rows."""
    api = Api(server.url)
    url = server.url + path
    body = get_page(api, url, params).decode()
    found = len(ROW.findall(body))
    if rows is not None and found != rows:
        raise bench.BenchError(f"{path} {params} shows {found} rows, expected {rows}")
    sample = bench.measure(lambda t: lambda i: get_page(api, url, params), threads=1, count=reps, warmup=3, budget=300)
    sample.info = f"({found} rows, {len(body) / 1000:.0f} kB)"
    return sample


def keyset_params(server: Server, path: str, params: dict[str, Any], pages: int) -> dict[str, str]:
    """The query string of page ``pages`` + 1, reached through the Next links as a person would."""
    api, query = Api(server.url), dict(params)
    for _ in range(pages):
        match = NEXT.search(get_page(api, server.url + path, query).decode())
        if not match:
            raise bench.BenchError(f"no Next link on {path} {query}")
        query = dict(urllib.parse.parse_qsl(html.unescape(match.group(1)), keep_blank_values=True))
    return query


def page_rows(server: Server, args: argparse.Namespace, engine: str) -> list[Row]:
    bench.wait_quiet({"studio": server})
    experiment_id, ids, seeded = seed_runs(server, args.runs, args.seed_threads)
    bench.analyze({"studio": server})
    page = f"/experiments/{experiment_id}/"
    fragment = f"{page}runs/"
    by_metric = {"cols": PICKED, "sort": "metrics.m1", "order": "desc"}
    parent = ids[0]
    cases: list[tuple[str, str, dict[str, Any], int | None]] = [
        ("experiment page · first page, default columns", page, {}, PAGE_ROWS),
        ("experiment page · first page, 5 param + 5 metric columns", page, {"cols": PICKED}, PAGE_ROWS),
        ("experiment page · first page, sorted by metrics.m1 desc", page, by_metric, PAGE_ROWS),
        (f"experiment page · first page, filter {FILTER}", page, {"cols": PICKED, "filter": FILTER}, PAGE_ROWS),
        ("experiment page · 5th keyset page, sorted by metrics.m1", page, None, PAGE_ROWS),
        (
            "table fragment (script's swap) · sorted by params.p2 asc",
            fragment,
            {"cols": PICKED, "sort": "params.p2"},
            PAGE_ROWS,
        ),
        ("children fragment · 10 child runs of a parent", f"{fragment}{parent}/children/", {"cols": PICKED}, 10),
    ]
    rows = [
        Row(
            f"seed {args.runs:,} runs (create + log-batch + update, {args.seed_threads} threads)",
            "runs/s",
            None,
            seeded,
            stat="rate",
        )
    ]
    for label, path, params, expect in cases:
        if params is None:
            params = keyset_params(server, path, by_metric, 4)
        rows.append(
            measure_row(
                server, label, lambda p=path, q=params, e=expect: timed_page(server, p, q, e, args.reps), PAGE_TARGET_MS
            )
        )
    return rows


def chart_rows(server: Server, args: argparse.Namespace, engine: str) -> list[Row]:
    bench.wait_quiet({"studio": server})
    run_id, seeded = bench.seed_history(server, args.steps, threads=4)
    bench.analyze({"studio": server})
    path = "/ajax-api/2.0/studio/metrics/sample"
    whole = {"run_ids": run_id, "metric_keys": bench.HISTORY_KEY, "points": args.points}
    middle = args.steps * 2 // 5
    zoomed = {**whole, "start_step": middle, "end_step": middle + args.steps // 100}

    def timed(params: dict[str, Any]) -> Callable[[], Sample]:
        def one() -> Sample:
            api = Api(server.url)
            first = orjson.loads(get_page(api, server.url + path, params))
            sample = bench.measure(
                lambda t: lambda i: get_page(api, server.url + path, params),
                threads=1,
                count=args.reps,
                warmup=3,
                budget=300,
            )
            sample.info = f"({bench.count_points(first)} points)"
            return sample

        return one

    zoom_label = f"steps {zoomed['start_step']:,}-{zoomed['end_step']:,}"
    return [
        Row(
            f"seed {args.steps:,}-step metric (log-batch 1000 points, 4 threads)", "points/s", None, seeded, stat="rate"
        ),
        measure_row(
            server, f"run page chart data · {args.points} points of {args.steps:,} steps", timed(whole), CHART_TARGET_MS
        ),
        measure_row(
            server,
            f"run page chart data · zoomed to {zoom_label}, {args.points} points",
            timed(zoomed),
            CHART_TARGET_MS,
        ),
    ]


def measure_row(server: Server, label: str, one: Callable[[], Sample], target: float) -> Row:
    """One measurement as a table row; a failure is reported in its row and the rest goes on."""
    bench.wait_quiet({"studio": server})
    bench.log(f"  {label}")
    try:
        sample = one()
    except Exception as exc:
        bench.log(f"    failed: {exc}")
        sample = Sample(first_error=str(exc)[:300], errors=1)
    return Row(f"{label} · p50", "ms", None, sample, target=target)


SCENARIO_FUNCS = {"page": page_rows, "chart": chart_rows}


def print_table(engine: str, rows: list[Row]) -> str:
    """The table of one engine: scenario, Studio's p50 (p95), the target and whether it is met."""
    lines = [f"### {engine}", "", "| scenario | studio | target | |", "|---|---|---|---|"]
    for row in rows:
        wanted, met = bench.target_text(row)
        lines.append(f"| {row.scenario} | {bench.fmt_cell(row, row.studio)} | {wanted} | {met} |")
    text = "\n".join(lines)
    print(text, "\n", flush=True)
    return text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the experiment (default 10,000)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="steps of the long metric (default 1,000,000)")
    parser.add_argument("--points", type=int, default=500, help="points the chart asks for (metric_chart.js: 500)")
    parser.add_argument("--reps", type=int, default=30, help="timed requests per scenario")
    parser.add_argument("--seed-threads", type=int, default=4)
    parser.add_argument("--wait-quiet", type=float, default=120, metavar="SECONDS")
    parser.add_argument("--studio-rev", help="run Studio from a clean export of this commit (default: working tree)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {sorted(SCENARIOS)}")
    if args.runs < 100:
        parser.error("--runs must be at least 100 (a page of 50 top-level runs, and parents with ten children)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, bench._interrupt)
    signal.signal(signal.SIGHUP, bench._interrupt)
    bench.QUIET["max_wait"] = args.wait_quiet
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(bench.header(args).replace("bench/tracking.py", "bench/ui.py"), "\n", flush=True)
    try:
        for engine in engines:
            with contextlib.ExitStack() as stack, studio_server(engine, stack, args.studio_rev) as server:
                rows: list[Row] = []
                for scenario in args.scenarios:
                    bench.log(f"[{engine}] {scenario}")
                    rows += SCENARIO_FUNCS[scenario](server, args, engine)
                print_table(engine, rows)
    except KeyboardInterrupt:
        bench.STOP.set()
        return 130
    if bench.QUIET["busy_runs"]:
        print(f"{bench.QUIET['busy_runs']} measurements started while other work kept the CPUs over 15% busy.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
