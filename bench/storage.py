"""The storage page against the issue's target: storage usage of 10,000 runs renders in under 200 ms.

Seeds a fresh SQLite file or PostgreSQL database in-process with ``bulk_create``: ``--experiments`` experiments holding
``--runs`` runs between them, each run with a measured usage row (1 to 50 files of random sizes, and its largest files
as ``StoredFile`` rows, as a rescan leaves them: 50 at most per root), plus a tenth as many logged models and a
fiftieth as many registered versions' copies, and a few hundred stale rows. Then times, through Django's test client
(the whole request: middleware, the queries, the template), ``GET /storage/`` and ``GET /storage/?experiment=<id>``
of the largest experiment, ``--reps`` times each after a warm-up, and checks the page's total against the seeded one.
Also times ``tracking.store.storage.record_change`` on a path inside a root that has its row (the call the artifact
proxy makes after every upload) and inside one that does not yet (its first upload).

    .venv/bin/python bench/storage.py                        # SQLite and PostgreSQL (127.0.0.1:5432, user postgres)
    .venv/bin/python bench/storage.py --db sqlite --runs 1000 --reps 10   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_TARGET_MS = 200.0
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_MS = 1_700_000_000_000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pg_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def seed(runs: int, experiments: int, rng: random.Random) -> dict[str, int]:
    """The experiments, runs, logged models and usage rows; returns the expected totals and the largest experiment."""
    from tracking.models import Experiment, LifecycleStage, Run, StorageKind, StorageUsage, StoredFile

    exp_ids = []
    for i in range(experiments):
        exp = Experiment.objects.create(name=f"bench-{i}", creation_time=START_MS, last_update_time=START_MS)
        Experiment.objects.filter(pk=exp.pk).update(artifact_location=f"mlflow-artifacts:/{exp.pk}")
        exp_ids.append(exp.pk)
    # Experiments of uneven sizes, the first the largest, as in real stores.
    weights = [1 / (i + 1) for i in range(experiments)]
    run_rows, usage_rows, owners = [], [], []
    for i in range(runs):
        exp_id = rng.choices(exp_ids, weights)[0]
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        deleted = i % 20 == 0
        run_rows.append(Run(run_uuid=run_id, experiment_id=exp_id, name=f"run-{i}", start_time=START_MS + i,
                            artifact_uri=f"mlflow-artifacts:/{exp_id}/{run_id}/artifacts",
                            lifecycle_stage=LifecycleStage.DELETED if deleted else LifecycleStage.ACTIVE))  # fmt: skip
        owners.append((StorageKind.RUN, run_id, exp_id, f"{exp_id}/{run_id}/artifacts", f"run-{i}"))
    for i in range(runs // 10):
        exp_id = rng.choice(exp_ids)
        model_id = "m-" + uuid.UUID(int=rng.getrandbits(128)).hex
        owners.append((StorageKind.LOGGED_MODEL, model_id, exp_id, f"{exp_id}/models/{model_id}/artifacts", f"m{i}"))
    for i in range(max(1, runs // 50)):
        owners.append((StorageKind.MODEL_VERSION, str(i + 1), None, f"registry/{i + 1}/{uuid.uuid4().hex}", f"v{i}"))
    Run.objects.bulk_create(run_rows, batch_size=2000)
    sizes = {}
    for n, (kind, owner_id, exp_id, path, label) in enumerate(owners):
        files = sorted((int(rng.lognormvariate(10, 2.5)) for _ in range(rng.randint(1, 50))), reverse=True)
        sizes[path] = files
        usage_rows.append(StorageUsage(path=path, kind=kind, owner_id=owner_id, experiment_id=exp_id, label=label,
                                       bytes=sum(files), files=len(files), stale=n % 40 == 0,
                                       scanned_at=START_MS))  # fmt: skip
    StorageUsage.objects.bulk_create(usage_rows, batch_size=2000)
    stored = []
    for pk, path, exp_id in StorageUsage.objects.values_list("pk", "path", "experiment_id").iterator():
        stored.extend(StoredFile(usage_id=pk, path=f"file-{j}.bin", size=size, experiment_id=exp_id)
                      for j, size in enumerate(sizes[path][:50]))  # fmt: skip
        if len(stored) >= 20_000:
            StoredFile.objects.bulk_create(stored, batch_size=5000)
            stored = []
    StoredFile.objects.bulk_create(stored, batch_size=5000)
    total = sum(sum(files) for files in sizes.values())
    return {"total": total, "experiment": exp_ids[0], "roots": len(owners), "stored": StoredFile.objects.count()}


def timed(call: Callable[[], object], reps: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1] if len(samples) > 1 else samples[0]


def measure_page(url: str, expected_total: int | None, reps: int) -> tuple[list[float], int]:
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    reset_queries()  # the log holds 9,000 queries at most: full after seeding, it would count nothing

    def get() -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")
        if expected_total is not None and f'data-total-bytes="{expected_total}"' not in response.content.decode():
            raise SystemExit(f"GET {url}: the total is not the seeded {expected_total} bytes")

    with CaptureQueriesContext(connection) as queries:
        get()
    count = len(queries)  # now: the next request's start empties the log
    return timed(get, reps), count


def measure_record_change(reps: int, rng: random.Random) -> tuple[list[float], list[float], int, int]:
    """record_change inside a root with a row, and inside one without a row yet (its first upload), and the queries
    of each."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from tracking.models import Run, StorageKind, StorageUsage
    from tracking.store import storage

    with_row = list(StorageUsage.objects.filter(kind=StorageKind.RUN).values_list("path", flat=True)[: reps + 3])
    hot = timed(lambda: storage.record_change(f"{rng.choice(with_row)}/model/weights.bin"), reps)
    fresh_runs = list(Run.objects.order_by("?").values_list("run_uuid", "artifact_uri")[: reps + 4])
    StorageUsage.objects.filter(kind=StorageKind.RUN, owner_id__in=[r for r, _ in fresh_runs]).delete()
    uris = iter(uri.removeprefix("mlflow-artifacts:/") for _, uri in fresh_runs)
    first = timed(lambda: storage.record_change(f"{next(uris)}/metrics.json"), reps)
    reset_queries()
    with CaptureQueriesContext(connection) as hot_queries:
        storage.record_change(f"{with_row[0]}/model/weights.bin")
    with CaptureQueriesContext(connection) as first_queries:
        storage.record_change(f"{next(uris)}/metrics.json")
    return hot, first, len(hot_queries), len(first_queries)


def run_engine(engine: str, args: argparse.Namespace) -> None:
    """One engine, in this process: fresh storage, seed, measure, print a table, drop the storage."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"studio-storage-bench-{engine}-"))
    os.environ["STUDIO_DATA_DIR"] = str(data_dir)
    database = None
    if engine == "postgres":
        database = f"studio_storage_bench_{os.getpid()}"
        pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        pg_execute(f'CREATE DATABASE "{database}"')
        os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{database}"
    else:
        os.environ.pop("DATABASE_URL", None)
    try:
        measure_engine(engine, args)
    finally:
        from django.db import connections

        connections.close_all()
        if database:
            pg_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        shutil.rmtree(data_dir, ignore_errors=True)


def measure_engine(engine: str, args: argparse.Namespace) -> None:
    import django

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    rng = random.Random(7)
    log(f"{engine}: seeding {args.runs} runs in {args.experiments} experiments")
    start = time.perf_counter()
    seeded = seed(args.runs, args.experiments, rng)
    log(f"{engine}: seeded {seeded['roots']} roots, {seeded['stored']} largest-file rows in "
        f"{time.perf_counter() - start:.1f} s")  # fmt: skip
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would after a bulk load
    whole, whole_queries = measure_page("/storage/", seeded["total"], args.reps)
    one, one_queries = measure_page(f"/storage/?experiment={seeded['experiment']}", None, args.reps)
    hot, first, hot_queries, first_queries = measure_record_change(args.reps * 10, rng)
    print(f"\n### {engine}: {args.runs} runs, {seeded['roots']} roots, {seeded['stored']} StoredFile rows\n")
    print("| scenario | p50 ms | p95 ms | queries | target | met |")
    print("|---|---|---|---|---|---|")
    for name, samples, queries, target in (
        ("GET /storage/", whole, whole_queries, PAGE_TARGET_MS),
        ("GET /storage/?experiment=<largest>", one, one_queries, PAGE_TARGET_MS),
        ("record_change, root has its row", hot, hot_queries, None),
        ("record_change, first write to a root", first, first_queries, None),
    ):
        met = "" if target is None else ("yes" if p95(samples) < target else "NO")
        target_text = "" if target is None else f"< {target:.0f} ms"
        print(f"| {name} | {statistics.median(samples):.2f} | {p95(samples):.2f} | {queries} | {target_text} | {met} |")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--experiments", type=int, default=5)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--engine-only", help=argparse.SUPPRESS)  # the child process of one engine
    args = parser.parse_args()
    if args.engine_only:
        run_engine(args.engine_only, args)
        return
    # Each engine in a process of its own: Django's settings are read once per process.
    for engine in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        child = [sys.executable, __file__, "--engine-only", engine, "--runs", str(args.runs),
                 "--experiments", str(args.experiments), "--reps", str(args.reps)]  # fmt: skip
        if subprocess.run(child, check=False).returncode:
            raise SystemExit(f"{engine}: failed")


if __name__ == "__main__":
    main()
