"""Studio against the official ``mlflow server``: the same tracking workload on both, side by side.

Both servers run from this checkout's virtualenv (same MLflow version), each with its default settings, on the same
database engine: a fresh SQLite file each, or a fresh PostgreSQL database each on 127.0.0.1:5432. Every scenario is
measured on the official server first and on Studio right after, and the script prints one Markdown table per
engine. Only loopback traffic; both servers are stopped and their files and databases dropped on exit, Ctrl-C too.

    .venv/bin/python bench/tracking.py --db both              # the full benchmark (about 20 minutes on 2 cores)
    .venv/bin/python bench/tracking.py --db sqlite --quick    # a smoke run: 1,000 runs, 100,000 steps
    .venv/bin/python bench/tracking.py --only search,history --runs 5000

Scenarios (``--only``): ``crud`` (create_run and log_metric latency and throughput, raw HTTP and MlflowClient,
1 and 8 threads), ``batch`` (log_batch of 1,000 points), ``search`` (runs/search over one experiment of
``--runs`` runs) and ``history`` (a ``--steps``-step metric: whole, through the client, and 320-point samples).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Before anything imports mlflow: no telemetry calls leave the machine, and a failing request fails fast
# instead of the client's minutes of exponential backoff.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "600")

import orjson
import requests

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
HOST = "127.0.0.1"
PG_ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"
SCENARIOS = ("crud", "batch", "search", "history")
SEARCH_FILTER = "metrics.m1 > 0.5 and params.p1 = 'x'"
SEARCH_ORDER = "metrics.m1 DESC"
P1_VALUES = ("x", "a", "b", "c", "d", "e", "f", "g", "h", "i")
HISTORY_KEY = "loss"
JSON_HEADERS = {"Content-Type": "application/json"}
STOP = threading.Event()  # set on Ctrl-C: every worker loop checks it


class BenchError(Exception):
    """A server answered something other than 200, or never came up."""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_ms() -> int:
    return int(time.time() * 1000)


# --------------------------------------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class Server:
    """One server process group (the command and the workers it forks), logging to a file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, port: int, log_path: Path) -> None:
        self.name, self.cmd, self.env, self.cwd, self.port, self.log_path = name, cmd, env, cwd, port, log_path
        self.url = f"http://{HOST}:{port}"
        self.proc: subprocess.Popen | None = None
        self.database: str | None = None  # its PostgreSQL database, if any

    def start(self) -> None:
        log(f"starting {self.name}: {' '.join(self.cmd)}")
        with self.log_path.open("ab") as out:
            # A session of its own: Ctrl-C in the terminal reaches only us, and stop() ends the whole group.
            self.proc = subprocess.Popen(
                self.cmd, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not STOP.is_set():
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.25)
        raise BenchError(f"{self.name} not healthy after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def signal_group(self, signum: int) -> None:
        """Signal the server and every worker it forked: start_new_session made it the leader of its own group."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signum)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Freeze the server (SIGSTOP) while the other one is measured: idle, the official server still runs seven
        polling job consumers that would take CPU from the server under test on a 2-core machine."""
        self.signal_group(signal.SIGSTOP)
        try:
            yield
        finally:
            self.signal_group(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid
        self.signal_group(signal.SIGCONT)  # a stopped process would not act on SIGTERM
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Workers may outlive the master by a moment; make sure none of the group is left.
        time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        log(f"stopped {self.name}")


def pg_execute(sql: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}", autocommit=True) as conn:
        conn.execute(sql)


def analyze(servers: dict[str, Server]) -> None:
    """Refresh PostgreSQL's planner statistics after seeding, as autovacuum would within a minute or so.

    Without it a query right after a bulk load is planned for empty tables (nested loops over 10,000 runs: 10x
    slower for both servers), and this machine's PostgreSQL runs with autovacuum off. SQLite has no such daemon and
    neither server runs ANALYZE there, so SQLite is left as it is.
    """
    for server in servers.values():
        if server.database:
            pg_execute("ANALYZE", server.database)


def studio_command(port: int, source: Path) -> tuple[list[str], str]:
    """Studio's production command, ``studio run``; plain gunicorn as it would run it while there was no CLI."""
    if (source / "studio" / "cli.py").exists():
        script = VENV_BIN / "studio"
        # The installed script imports the editable checkout; an exported revision must be imported from its cwd.
        base = (
            [str(script)]
            if script.exists() and source == REPO
            else [str(VENV_BIN / "python"), "-c", "import sys; from studio.cli import main; sys.exit(main())"]
        )
        return [*base, "run", "--host", HOST, "--port", str(port), "--no-worker"], "studio run"
    gunicorn = [str(VENV_BIN / "gunicorn"), "studio.wsgi:application", "-k", "gthread", "--threads", "4", "-w", "2"]
    return [*gunicorn, "--keep-alive", "5", "-b", f"{HOST}:{port}"], "gunicorn (no studio/cli.py yet)"


def studio_source(rev: str | None, root: Path) -> Path:
    """The code Studio runs: this working tree, or a clean export of one commit (``--studio-rev``)."""
    if not rev:
        return REPO
    target = root / "studio-src"
    target.mkdir()
    archive = subprocess.run(["git", "archive", rev], cwd=REPO, capture_output=True, check=True, timeout=120).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True, timeout=120)
    return target


@contextlib.contextmanager
def servers(engine: str, stack: contextlib.ExitStack, rev: str | None) -> Iterator[dict[str, Server]]:
    """Start both servers on fresh storage of one engine; stop them and drop the storage afterwards."""
    root = Path(tempfile.mkdtemp(prefix=f"studio-bench-{engine}-"))
    stack.callback(shutil.rmtree, root, ignore_errors=True)
    env = dict(os.environ)
    official_env, studio_env = dict(env), dict(env, STUDIO_DATA_DIR=str(root / "studio"))
    if engine == "sqlite":
        backend = f"sqlite:///{root / 'official.db'}"
    else:
        names = {who: f"studio_bench_{os.getpid()}_{who}" for who in ("official", "studio")}
        for name in names.values():
            pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            pg_execute(f'CREATE DATABASE "{name}"')
            stack.callback(pg_execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # psycopg (3) is the PostgreSQL driver in this virtualenv (psycopg2 is not installed), as Studio uses it.
        backend = f"postgresql+psycopg://postgres@{HOST}:5432/{names['official']}"
        studio_env["DATABASE_URL"] = f"postgres://postgres@{HOST}:5432/{names['studio']}"
    official_dir = root / "official"
    official_dir.mkdir()
    official_port, studio_port = free_port(), free_port()
    official_cmd = [str(VENV_BIN / "mlflow"), "server", "--backend-store-uri", backend]
    official_cmd += ["--artifacts-destination", str(root / "official-artifacts"), "--host", HOST]
    official_cmd += ["--port", str(official_port)]
    official = Server("official", official_cmd, official_env, official_dir, official_port, root / "official.log")
    source = studio_source(rev, root)
    cmd, how = studio_command(studio_port, source)
    studio = Server("studio", cmd, studio_env, source, studio_port, root / "studio.log")
    if engine == "postgres":
        official.database, studio.database = names["official"], names["studio"]
    if how != "studio run":  # studio run migrates by itself
        log(f"migrating Studio's fresh {engine} database")
        migrate = subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", "migrate", "--no-input"],
            cwd=source,
            env=studio_env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if migrate.returncode:
            raise BenchError(f"Studio migrate failed:\n{migrate.stdout[-2000:]}{migrate.stderr[-2000:]}")
    for server in (official, studio):
        stack.callback(server.stop)
        server.start()
    for server in (official, studio):
        server.wait_healthy()
    log(f"both up: official {official.url}, studio {studio.url} ({how}, code from {rev or 'the working tree'})")
    yield {"official": official, "studio": studio}


# ------------------------------------------------------------------------------------------------------ HTTP client


class Api:
    """Raw MLflow REST calls on one kept-alive ``requests`` session, as the mlflow client makes them."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def post(self, path: str, body: dict[str, Any] | bytes, prefix: str = "/api/2.0/mlflow/") -> bytes:
        data = body if isinstance(body, bytes) else orjson.dumps(body)
        response = self.session.post(f"{self.base}{prefix}{path}", data=data, headers=JSON_HEADERS, timeout=600)
        return self._check(response)

    def get(self, path: str, params: dict[str, Any], prefix: str = "/api/2.0/mlflow/") -> bytes:
        response = self.session.get(f"{self.base}{prefix}{path}", params=params, timeout=600)
        return self._check(response)

    @staticmethod
    def _check(response: requests.Response) -> bytes:
        body = response.content  # the whole body is read: the timing includes the transfer
        if response.status_code != 200:
            path = response.url.split("?", 1)[0].split("/", 3)[-1]
            raise BenchError(f"HTTP {response.status_code} {body[:200].decode(errors='replace')} on {path}")
        return body

    def create_experiment(self, name: str) -> str:
        return orjson.loads(self.post("experiments/create", {"name": name}))["experiment_id"]

    def create_run(self, experiment_id: str) -> str:
        body = {"experiment_id": experiment_id, "user_id": "bench", "start_time": now_ms(), "tags": []}
        return orjson.loads(self.post("runs/create", body))["run"]["info"]["run_id"]


def mlflow_client(url: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=url)


def with_retries(call: Callable[[], Any], attempts: int = 5) -> Any:
    """For seeding only: SQLite under several writers may answer "database is locked"."""
    for attempt in range(attempts):
        try:
            return call()
        except (BenchError, requests.RequestException):
            if attempt == attempts - 1 or STOP.is_set():
                raise
            time.sleep(0.2 * (attempt + 1))
    return None


# ------------------------------------------------------------------------------------------------------ measuring


@dataclass
class Sample:
    """Latencies (seconds) of the timed calls and the wall time of the whole timed phase."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    errors: int = 0
    first_error: str = ""
    units_per_call: int = 1
    info: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.latencies)

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    @property
    def rate(self) -> float:
        return len(self.latencies) * self.units_per_call / self.wall if self.wall else 0.0


Op = Callable[[int], Any]


def measure(make_op: Callable[[int], Op], *, threads: int, count: int, warmup: int, budget: float) -> Sample:
    """Run ``count`` timed calls per thread (after ``warmup`` untimed ones) on ``threads`` threads started together.

    ``make_op(t)`` builds thread t's operation (its own session, run, ...) before any timing; ``op(i)`` gets a
    call index that keeps counting from the warm-up, so steps continue. A thread stops early at ``budget`` seconds.
    """
    ops = [make_op(t) for t in range(threads)]
    sample, lock = Sample(), threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def worker(op: Op) -> None:
        latencies, errors, first = [], 0, ""
        for i in range(warmup):
            with contextlib.suppress(Exception):
                op(i)
        barrier.wait()
        deadline = time.perf_counter() + budget
        for i in range(warmup, warmup + count):
            if STOP.is_set() or time.perf_counter() > deadline:
                break
            start = time.perf_counter()
            try:
                op(i)
            except Exception as exc:
                errors += 1
                first = first or str(exc)[:300]
                continue
            latencies.append(time.perf_counter() - start)
        with lock:
            sample.latencies += latencies
            sample.errors += errors
            sample.first_error = sample.first_error or first

    workers = [threading.Thread(target=worker, args=(op,), daemon=True) for op in ops]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    sample.wall = time.perf_counter() - start
    return sample


def run_parallel(task: Callable[[int], Any], total: int, threads: int, budget: float) -> float:
    """Seeding: ``task(i)`` for i in range(total) on ``threads`` threads; returns the wall time."""
    counter, lock, failures = iter(range(total)), threading.Lock(), []
    deadline = time.monotonic() + budget

    def worker() -> None:
        while not STOP.is_set() and not failures:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            if time.monotonic() > deadline:
                failures.append(BenchError(f"seeding exceeded its {budget:.0f} s budget"))
                return
            try:
                task(i)
            except Exception as exc:
                failures.append(exc)

    start = time.perf_counter()
    workers = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if failures:
        raise failures[0]
    if STOP.is_set():
        raise KeyboardInterrupt
    return time.perf_counter() - start


# ------------------------------------------------------------------------------------------------------ results


@dataclass
class Row:
    """One line of the table: the same measure on both servers."""

    scenario: str
    unit: str  # "ms", "s" (lower is better) or a rate "ops/s", "points/s", "runs/s" (higher is better)
    official: Sample | None
    studio: Sample | None
    stat: str = "p50"  # "p50" or "rate"
    target: float | None = None

    def value(self, sample: Sample | None) -> float | None:
        if sample is None or not sample.ok:
            return None
        if self.stat == "rate":
            return sample.rate
        return sample.pct(0.5) * (1000 if self.unit == "ms" else 1)

    @property
    def higher_is_better(self) -> bool:
        return self.stat == "rate"


def fmt_number(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_cell(row: Row, sample: Sample | None) -> str:
    if sample is None:
        return "n/a"
    if not sample.ok:
        return f"error ({sample.first_error[:60]})"
    text = f"{fmt_number(row.value(sample))} {row.unit}"
    if row.stat == "p50" and len(sample.latencies) >= 5:
        scale = 1000 if row.unit == "ms" else 1
        text += f" (p95 {fmt_number(sample.pct(0.95) * scale)})"
    if sample.errors:
        text += f" [{sample.errors} errors]"
    if sample.info:
        text += f" {sample.info}"
    return text


def ratio(row: Row) -> str:
    """How many times faster Studio is: official time / Studio time (for rates, Studio rate / official rate)."""
    official, studio = row.value(row.official), row.value(row.studio)
    if not official or not studio:
        return "-"
    return f"{(studio / official if row.higher_is_better else official / studio):.1f}x"


def target_text(row: Row) -> tuple[str, str]:
    if row.target is None:
        return "", ""
    wanted = f">= {fmt_number(row.target)} {row.unit}" if row.higher_is_better else f"< {row.target:g} {row.unit}"
    studio = row.value(row.studio)
    if studio is None:
        return wanted, "not met (no result)"
    met = studio >= row.target if row.higher_is_better else studio < row.target
    return wanted, "met" if met else "not met"


def print_table(engine: str, rows: list[Row]) -> str:
    lines = [
        f"### {engine}",
        "",
        "| scenario | official | studio | ratio | target (studio) | |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        wanted, met = target_text(row)
        official = fmt_cell(row, row.official)
        lines.append(f"| {row.scenario} | {official} | {fmt_cell(row, row.studio)} | {ratio(row)} | {wanted} | {met} |")
    text = "\n".join(lines)
    print(text, flush=True)
    print(flush=True)
    return text


# ------------------------------------------------------------------------------------------------------ scenarios


@dataclass
class Sizes:
    """How much each scenario does; ``--quick`` shrinks everything for a smoke run."""

    runs: int
    steps: int
    seq_calls: int
    thread_calls: int
    batch_seq_calls: int
    batch_thread_calls: int
    search_reps: int
    sample_reps: int
    whole_reps: int
    threads: int = 8
    seed_threads: int = 8

    @classmethod
    def make(cls, args: argparse.Namespace) -> Sizes:
        if args.quick:
            sizes = cls(1000, 100_000, 100, 25, 15, 4, 10, 10, 2)
        else:
            sizes = cls(10_000, 1_000_000, 500, 100, 50, 10, 20, 20, 3)
        sizes.runs = args.runs or sizes.runs
        sizes.steps = args.steps or sizes.steps
        return sizes


def cpu_busy(interval: float = 2.0) -> float:
    """The fraction of all CPUs busy over ``interval`` seconds, from /proc/stat."""

    def read() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    total0, idle0 = read()
    time.sleep(interval)
    total1, idle1 = read()
    return 1 - (idle1 - idle0) / max(1, total1 - total0)


QUIET = {"max_wait": 0.0, "busy_runs": 0}


def wait_quiet(servers: dict[str, Server]) -> None:
    """With both servers paused, wait (up to ``--wait-quiet`` seconds) until other work leaves the CPUs alone."""
    if QUIET["max_wait"] <= 0:
        return
    deadline = time.monotonic() + QUIET["max_wait"]
    with contextlib.ExitStack() as stack:
        for server in servers.values():
            stack.enter_context(server.paused())
        busy = cpu_busy()
        while busy > 0.15 and time.monotonic() < deadline and not STOP.is_set():
            log(f"    machine busy ({busy:.0%} of the CPUs): waiting")
            time.sleep(10)
            busy = cpu_busy()
    if busy > 0.15:
        QUIET["busy_runs"] += 1
        log(f"    machine still busy ({busy:.0%}); measuring anyway")


def alone(servers: dict[str, Server], name: str) -> contextlib.ExitStack:
    """Pause every server but ``name``."""
    stack = contextlib.ExitStack()
    for other in servers.values():
        if other.name != name:
            stack.enter_context(other.paused())
    return stack


def both(
    servers: dict[str, Server], label: str, measure_one: Callable[[Server], Sample | None]
) -> tuple[Sample | None, Sample | None]:
    """The same measurement on the official server, then on Studio."""
    results = []
    wait_quiet(servers)
    for name in ("official", "studio"):
        log(f"  {label} on {name}")
        try:
            with alone(servers, name):
                sample = measure_one(servers[name])
        except Exception as exc:  # a missing endpoint or a failed setup: report it, measure the rest
            log(f"    failed: {exc}")
            sample = Sample(first_error=str(exc)[:300], errors=1)
        if sample is not None and sample.errors:
            log(f"    {sample.errors} errors, first: {sample.first_error}")
        results.append(sample)
    return results[0], results[1]


CRUD_VIAS = {
    "raw": "raw requests.Session",
    "quickack": "raw http.client + TCP_QUICKACK",
    "client": "MlflowClient",
}


def crud_rows(servers: dict[str, Server], sizes: Sizes, engine: str) -> list[Row]:
    """create_run and log_metric: raw HTTP on a kept-alive session and through MlflowClient, 1 and 8 threads; and
    on a bare http.client connection that ACKs at once, which shows the servers' own time (see QuickAckApi)."""
    experiments = {n: Api(s.url).create_experiment(f"crud-{time.time_ns()}") for n, s in servers.items()}
    rows = []
    for op_name in ("create_run", "log_metric"):
        for via, via_label in CRUD_VIAS.items():
            shapes = [(1, sizes.seq_calls)] + ([] if via == "quickack" else [(sizes.threads, sizes.thread_calls)])
            for threads, count in shapes:
                label = f"{op_name} · {via_label} · {threads} thread{'s' if threads > 1 else ''}"

                def one(server: Server, op_name=op_name, via=via, threads=threads, count=count) -> Sample:
                    factory = crud_op(op_name, via, server, experiments[server.name])
                    warmup = 20 if threads == 1 else 5
                    return measure(factory, threads=threads, count=count, warmup=warmup, budget=90)

                official, studio = both(servers, label, one)
                target = 2.0 if via != "client" and threads == 1 else None
                rows.append(Row(f"{label} · p50", "ms", official, studio, target=target))
                if threads > 1:
                    rows.append(Row(f"{label} · throughput", "ops/s", official, studio, stat="rate"))
    return rows


class QuickAckApi:
    """POSTs on one kept-alive ``http.client`` connection that ACKs every segment at once (TCP_QUICKACK).

    uvicorn binds its socket with ``proto=0``, so asyncio never sets TCP_NODELAY on the official server's connections
    and Nagle holds each response's body until the client ACKs the headers, which a client delays by ~40 ms. An
    immediate ACK removes that stall; what remains is the server's own time, without ``requests``' overhead either.
    """

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=600)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        sock = self.conn.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)  # the kernel clears it again: set per request
        self.conn.request("POST", f"/api/2.0/mlflow/{path}", body=orjson.dumps(body), headers=JSON_HEADERS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise BenchError(f"HTTP {response.status} {data[:200].decode(errors='replace')} on {path}")
        return orjson.loads(data)


def crud_op(op_name: str, via: str, server: Server, experiment_id: str) -> Callable[[int], Op]:
    def make(thread: int) -> Op:
        if via == "client":
            client = mlflow_client(server.url)
            if op_name == "create_run":
                return lambda i: client.create_run(experiment_id)
            run_id = client.create_run(experiment_id).info.run_id
            return lambda i: client.log_metric(run_id, "m", i * 0.5, step=i)
        api = Api(server.url) if via == "raw" else QuickAckApi(server.port)
        create = {"experiment_id": experiment_id, "user_id": "bench", "tags": []}
        if op_name == "create_run":
            return lambda i: api.post("runs/create", {**create, "start_time": now_ms()})
        run_id = Api(server.url).create_run(experiment_id)
        return lambda i: api.post(
            "runs/log-metric",
            {"run_id": run_id, "run_uuid": run_id, "key": "m", "value": i * 0.5, "timestamp": now_ms(), "step": i},
        )

    return make


def batch_metrics(call: int, keys: int = 10, steps: int = 100) -> list[tuple[str, float, int, int]]:
    """Call ``call``'s 1,000 points: 10 keys x 100 steps, continuing the steps of the previous call."""
    ts = now_ms()
    first = call * steps
    return [(f"k{k}", (step % 997) * 0.001 + k, ts, step) for step in range(first, first + steps) for k in range(keys)]


def batch_rows(servers: dict[str, Server], sizes: Sizes, engine: str) -> list[Row]:
    """log_batch of 1,000 metric points per call, sequential and on 8 threads (each thread its own run)."""
    experiments = {n: Api(s.url).create_experiment(f"batch-{time.time_ns()}") for n, s in servers.items()}
    target = 60_000 if engine == "postgres" else 100_000
    rows = []
    for via in ("raw", "client"):
        for threads, count in ((1, sizes.batch_seq_calls), (sizes.threads, sizes.batch_thread_calls)):
            label = f"log_batch 1000 points · {via} · {threads} thread{'s' if threads > 1 else ''}"

            def one(server: Server, via=via, threads=threads, count=count) -> Sample:
                factory = batch_op(via, server.url, experiments[server.name], count + 2)
                sample = measure(factory, threads=threads, count=count, warmup=2, budget=120)
                sample.units_per_call = 1000
                if sample.ok:
                    sample.info = f"(p50 {sample.pct(0.5) * 1000:.0f} ms/call)"
                return sample

            official, studio = both(servers, label, one)
            rows.append(Row(label, "points/s", official, studio, stat="rate", target=target if via == "raw" else None))
    return rows


def batch_op(via: str, url: str, experiment_id: str, calls: int) -> Callable[[int], Op]:
    def make(thread: int) -> Op:
        if via == "raw":
            api = Api(url)
            run_id = api.create_run(experiment_id)
            bodies = [
                orjson.dumps(
                    {
                        "run_id": run_id,
                        "metrics": [
                            {"key": k, "value": v, "timestamp": ts, "step": s} for k, v, ts, s in batch_metrics(call)
                        ],
                    }
                )
                for call in range(calls)
            ]
            return lambda i: api.post("runs/log-batch", bodies[i])
        from mlflow.entities import Metric

        client = mlflow_client(url)
        run_id = client.create_run(experiment_id).info.run_id
        batches = [[Metric(k, v, ts, s) for k, v, ts, s in batch_metrics(call)] for call in range(calls)]
        return lambda i: client.log_batch(run_id, metrics=batches[i], synchronous=True)

    return make


def search_run_payload(index: int) -> dict[str, Any]:
    """Run ``index``'s data: p1 uniform over 10 values ('x' is one), m1 uniform in [0, 1), so ~5% match."""
    rng = random.Random(index)
    params = [{"key": "p1", "value": P1_VALUES[rng.randrange(len(P1_VALUES))]}]
    params += [{"key": f"p{k}", "value": f"v{rng.randrange(100)}"} for k in range(2, 11)]
    ts = now_ms()
    metrics = [{"key": f"m{k}", "value": rng.random(), "timestamp": ts, "step": 0} for k in range(1, 11)]
    tags = [{"key": f"t{k}", "value": f"tag-{rng.randrange(20)}"} for k in range(1, 6)]
    return {"params": params, "metrics": metrics, "tags": tags}


def expected_matches(runs: int) -> list[float]:
    """The m1 values search must return, best first (at most 1,000: the default page)."""
    values = []
    for i in range(runs):
        payload = search_run_payload(i)
        m1 = payload["metrics"][0]["value"]
        if payload["params"][0]["value"] == "x" and m1 > 0.5:
            values.append(m1)
    return sorted(values, reverse=True)[:1000]


def seed_search(server: Server, runs: int, threads: int) -> tuple[str, Sample]:
    """``runs`` runs in a fresh experiment, each one runs/create and one log-batch."""
    experiment_id = Api(server.url).create_experiment(f"search-{time.time_ns()}")
    local = threading.local()

    def task(i: int) -> None:
        api = getattr(local, "api", None) or Api(server.url)
        local.api = api
        run_id = with_retries(lambda: api.create_run(experiment_id))
        body = orjson.dumps({"run_id": run_id, **search_run_payload(i)})
        with_retries(lambda: api.post("runs/log-batch", body))

    log(f"    seeding {runs:,} runs on {server.name} with {threads} threads")
    wall = run_parallel(task, runs, threads, budget=3600)
    return experiment_id, Sample(latencies=[wall / runs] * runs, wall=wall)


def search_rows(servers: dict[str, Server], sizes: Sizes, engine: str) -> list[Row]:
    """runs/search with a metric and a param filter, ordered by the metric, over ``sizes.runs`` runs."""
    seeds, experiments = {}, {}
    wait_quiet(servers)
    for name, server in servers.items():
        with alone(servers, name):
            experiments[name], seeds[name] = seed_search(server, sizes.runs, sizes.seed_threads)
    analyze(servers)
    expected = expected_matches(sizes.runs)
    body = {"experiment_ids": None, "filter": SEARCH_FILTER, "order_by": [SEARCH_ORDER], "run_view_type": "ACTIVE_ONLY"}

    def raw(server: Server) -> Sample:
        api = Api(server.url)
        payload = orjson.dumps({**body, "experiment_ids": [experiments[server.name]]})
        check_search(server.name, orjson.loads(api.post("runs/search", payload)).get("runs", []), expected)
        return measure(lambda t: lambda i: api.post("runs/search", payload), threads=1, **search_counts(sizes))

    def client(server: Server) -> Sample:
        mc = mlflow_client(server.url)
        ids = [experiments[server.name]]

        def op(i: int) -> Any:
            return mc.search_runs(ids, filter_string=SEARCH_FILTER, order_by=[SEARCH_ORDER])

        return measure(lambda t: op, threads=1, **search_counts(sizes))

    target = 20.0 if engine == "postgres" else 50.0
    matches = f"{len(expected)} of {sizes.runs:,} runs match"
    return [
        Row(
            f"seed {sizes.runs:,} runs (create + log-batch each, {sizes.seed_threads} threads)",
            "runs/s",
            seeds["official"],
            seeds["studio"],
            stat="rate",
        ),
        Row(
            f"search_runs · raw POST runs/search ({matches}) · p50",
            "ms",
            *both(servers, "search raw", raw),
            target=target,
        ),
        Row("search_runs · MlflowClient.search_runs · p50", "ms", *both(servers, "search client", client)),
    ]


def search_counts(sizes: Sizes) -> dict[str, Any]:
    return {"count": sizes.search_reps, "warmup": 3, "budget": 300}


def check_search(name: str, runs: list[dict[str, Any]], expected: list[float]) -> None:
    """Both servers must return the same runs in the same order, or the timings compare different work."""
    got = []
    for run in runs:
        metrics = {m["key"]: m["value"] for m in run.get("data", {}).get("metrics", [])}
        got.append(metrics.get("m1"))
    if len(got) != len(expected) or any(abs(a - b) > 1e-9 for a, b in zip(got, expected, strict=False)):
        log(f"    WARNING: {name} returned {len(got)} runs, expected {len(expected)} in m1 order")


def seed_history(server: Server, steps: int, threads: int) -> tuple[str, Sample]:
    """One run with a ``steps``-step metric, logged 1,000 points per log-batch call."""
    api = Api(server.url)
    run_id = api.create_run(api.create_experiment(f"history-{time.time_ns()}"))
    local = threading.local()
    ts = now_ms()

    def task(call: int) -> None:
        thread_api = getattr(local, "api", None) or Api(server.url)
        local.api = thread_api
        first = call * 1000
        metrics = [
            {"key": HISTORY_KEY, "value": 1.0 / (1 + s * 1e-4) + (s % 89) * 1e-4, "timestamp": ts + s, "step": s}
            for s in range(first, min(first + 1000, steps))
        ]
        body = orjson.dumps({"run_id": run_id, "metrics": metrics})
        with_retries(lambda: thread_api.post("runs/log-batch", body))

    calls = (steps + 999) // 1000
    log(f"    seeding {steps:,} steps on {server.name} ({calls} log-batch calls, {threads} threads)")
    wall = run_parallel(task, calls, threads, budget=3600)
    return run_id, Sample(latencies=[wall / calls] * calls, wall=wall, units_per_call=steps / calls)


def history_rows(servers: dict[str, Server], sizes: Sizes, engine: str) -> list[Row]:
    """A long metric history: whole (raw and MlflowClient), and 320-point samples."""
    seeds, runs = {}, {}
    wait_quiet(servers)
    for name, server in servers.items():
        with alone(servers, name):
            runs[name], seeds[name] = seed_history(server, sizes.steps, threads=4)
    analyze(servers)
    steps = sizes.steps

    def whole_raw(server: Server) -> Sample:
        api = Api(server.url)
        params = {"run_id": runs[server.name], "run_uuid": runs[server.name], "metric_key": HISTORY_KEY}
        bodies: list[bytes] = []  # only the last one is kept: the official answer is ~100 MB

        def fetch(i: int) -> None:
            bodies[:] = [api.get("metrics/get-history", params)]

        sample = measure(
            lambda t: fetch,
            threads=1,
            count=sizes.whole_reps,
            warmup=0,
            budget=300,
        )
        if bodies:
            got = len(orjson.loads(bodies[-1]).get("metrics", []))
            sample.info = f"({got:,} points, {len(bodies[-1]) / 1e6:.0f} MB)"
            if got != steps:
                log(f"    WARNING: {server.name} returned {got:,} points of {steps:,}")
        return sample

    def paged_raw(server: Server) -> Sample:
        # The client's requests without its parsing: pages of 25,000 following next_page_token.
        api = Api(server.url)
        params = {"run_id": runs[server.name], "run_uuid": runs[server.name], "metric_key": HISTORY_KEY}

        def fetch_all(i: int) -> None:
            token, pages = None, 0
            while pages <= steps // 25_000 + 1:
                page = orjson.loads(
                    api.get("metrics/get-history", {**params, "max_results": 25_000, "page_token": token})
                )
                token, pages = page.get("next_page_token"), pages + 1
                if not token:
                    return
            raise BenchError("get-history kept answering next_page_token")

        return measure(lambda t: fetch_all, threads=1, count=max(1, sizes.whole_reps - 1), warmup=0, budget=300)

    def whole_client(server: Server) -> Sample:
        mc = mlflow_client(server.url)
        run_id = runs[server.name]
        return measure(
            lambda t: lambda i: mc.get_metric_history(run_id, HISTORY_KEY),
            threads=1,
            count=max(1, sizes.whole_reps - 1),
            warmup=0,
            budget=300,
        )

    def bulk_interval(server: Server) -> Sample:
        params = {"run_ids": runs[server.name], "metric_key": HISTORY_KEY, "max_results": 320}
        return sample_endpoint(server, "metrics/get-history-bulk-interval", params, "/ajax-api/2.0/mlflow/", sizes)

    def studio_sample(server: Server) -> Sample | None:
        if server.name != "studio":
            return None
        params = {"run_ids": runs[server.name], "metric_keys": HISTORY_KEY, "points": 320}
        return sample_endpoint(server, "metrics/sample", params, "/api/2.0/studio/", sizes)

    return [
        Row(
            f"seed {steps:,}-step metric (log-batch 1000 points, 4 threads)",
            "points/s",
            seeds["official"],
            seeds["studio"],
            stat="rate",
        ),
        Row(f"get-history whole {steps:,} steps · raw GET", "s", *both(servers, "whole raw", whole_raw), target=3.0),
        Row("get-history whole · raw GET pages of 25,000 (+ JSON parse)", "s", *both(servers, "paged raw", paged_raw)),
        Row("get-history whole · MlflowClient.get_metric_history", "s", *both(servers, "whole client", whole_client)),
        Row(
            "320-point sample · GET get-history-bulk-interval · p50",
            "ms",
            *both(servers, "bulk interval", bulk_interval),
            target=50.0,
        ),
        Row(
            "320-point sample · GET studio/metrics/sample · p50",
            "ms",
            *both(servers, "sample", studio_sample),
            target=50.0,
        ),
    ]


def sample_endpoint(server: Server, path: str, params: dict[str, Any], prefix: str, sizes: Sizes) -> Sample:
    api = Api(server.url)
    first = orjson.loads(api.get(path, params, prefix=prefix))
    sample = measure(
        lambda t: lambda i: api.get(path, params, prefix=prefix),
        threads=1,
        count=sizes.sample_reps,
        warmup=2,
        budget=120,
    )
    sample.info = f"({count_points(first)} points)"
    return sample


def count_points(payload: Any) -> int:
    """Points in a sample response, whatever its shape: lists of ``{step, ...}`` or series with a ``steps`` array."""
    if isinstance(payload, dict):
        if isinstance(payload.get("steps"), list):
            return len(payload["steps"])
        return sum(count_points(v) for v in payload.values())
    if isinstance(payload, list):
        if payload and all(isinstance(p, dict) and "step" in p for p in payload):
            return len(payload)
        return sum(count_points(v) for v in payload)
    return 0


SCENARIO_FUNCS = {"crud": crud_rows, "batch": batch_rows, "search": search_rows, "history": history_rows}


# ------------------------------------------------------------------------------------------------------ main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--runs", type=int, help="runs in the search experiment (default 10,000; quick 1,000)")
    parser.add_argument("--steps", type=int, help="steps of the long metric (default 1,000,000; quick 100,000)")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120,
        metavar="SECONDS",
        help="before each measurement, wait up to this long for other work to leave the CPUs (0: don't)",
    )
    parser.add_argument("--studio-rev", help="run Studio from a clean export of this commit (default: working tree)")
    parser.add_argument("--json", type=Path, help="also write every latency sample here")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {SCENARIOS}")
    return args


def header(args: argparse.Namespace) -> str:
    import mlflow

    def git(*cmd: str) -> str:
        return subprocess.run(["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()

    if args.studio_rev:
        code = f"Studio at {git('rev-parse', '--short', args.studio_rev)} (clean export)"
    else:
        dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
        code = f"Studio from the working tree at {git('rev-parse', '--short', 'HEAD')}{dirty}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC · {code} · mlflow {mlflow.__version__} · "
        f"Python {platform.python_version()} · {os.cpu_count()} CPUs · load at start {load}\n"
        f"command: .venv/bin/python bench/tracking.py {' '.join(sys.argv[1:])}"
    )


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    sizes = Sizes.make(args)
    if args.studio_rev:  # one commit for both engines, even if the branch moves meanwhile
        args.studio_rev = subprocess.run(
            ["git", "rev-parse", "--verify", f"{args.studio_rev}^{{commit}}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()[:12]
    QUIET["max_wait"] = args.wait_quiet
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    top = header(args)
    print(top, "\n", flush=True)
    report: dict[str, Any] = {"header": top, "engines": {}}
    tables = []
    try:
        for engine in engines:
            with contextlib.ExitStack() as stack, servers(engine, stack, args.studio_rev) as running:
                rows: list[Row] = []
                for scenario in args.scenarios:
                    log(f"[{engine}] {scenario}")
                    rows += SCENARIO_FUNCS[scenario](running, sizes, engine)
                tables.append(print_table(engine, rows))
                report["engines"][engine] = [row_json(row) for row in rows]
    except KeyboardInterrupt:
        STOP.set()
        log("interrupted: servers stopped, temporary files and databases dropped")
        return 130
    if QUIET["busy_runs"]:
        print(f"{QUIET['busy_runs']} measurements started while other work kept the CPUs over 15% busy.")
    print("ratio = official time / Studio time (for rates: Studio rate / official rate); > 1 means Studio is faster.")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def row_json(row: Row) -> dict[str, Any]:
    def sample_json(sample: Sample | None) -> dict[str, Any] | None:
        if sample is None:
            return None
        return {
            "value": row.value(sample),
            "latencies_ms": [round(x * 1000, 3) for x in sample.latencies][:2000],
            "wall_s": sample.wall,
            "errors": sample.errors,
            "first_error": sample.first_error,
            "info": sample.info,
        }

    wanted, met = target_text(row)
    return {
        "scenario": row.scenario,
        "unit": row.unit,
        "stat": row.stat,
        "official": sample_json(row.official),
        "studio": sample_json(row.studio),
        "ratio": ratio(row),
        "target": wanted,
        "met": met,
    }


if __name__ == "__main__":
    sys.exit(main())
