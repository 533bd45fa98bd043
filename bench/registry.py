"""Studio against the official ``mlflow server``: registry search and registration, side by side.

Seeds ``--models`` registered models with ``--versions`` versions each on both servers (the same names, tags and
sources), then times what the client does most: ``search_registered_models`` (its page of 100, with the prompt
filter the 3.x client appends), one page of every model, a name filter, ``search_model_versions`` of one model,
``registered-models/get`` (the prompt guard before most registry writes) and ``get_model_version_by_alias``; and the
latency of registering a version from a logged model, where Studio copies the files and MLflow does not.
Shares its server handling and measuring with ``bench/tracking.py``; only loopback traffic.

    .venv/bin/python bench/registry.py --db both
    .venv/bin/python bench/registry.py --db sqlite --models 200 --wait-quiet 0   # a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson

_spec = importlib.util.spec_from_file_location("bench_tracking", Path(__file__).with_name("tracking.py"))
bench = importlib.util.module_from_spec(_spec)
sys.modules["bench_tracking"] = bench
_spec.loader.exec_module(bench)

Api, Row, Sample, Server = bench.Api, bench.Row, bench.Sample, bench.Server
PROMPT_FILTER = "tags.`mlflow.prompt.is_prompt` != 'true'"
MODEL_FILES = {
    "MLmodel": b"flavors:\n  python_function: {loader_module: mlflow.sklearn}\n",
    "model.pkl": bytes(random.Random(1).randbytes(200_000)),
    "conda.yaml": b"name: m\n",
    "python_env.yaml": b"python: 3.11\n",
    "requirements.txt": b"scikit-learn\n",
}


def model_name(i: int) -> str:
    return f"model-{i:05d}"


def seed(server: Server, models: int, versions: int, threads: int) -> Sample:
    """``models`` models, each with ``versions`` versions from external sources (no copy), two tags and an alias."""
    local = threading.local()

    def task(i: int) -> None:
        api = getattr(local, "api", None) or Api(server.url)
        local.api = api
        name = model_name(i)
        tags = [{"key": "team", "value": f"team-{i % 10}"}, {"key": "owner", "value": f"user-{i % 37}"}]
        bench.with_retries(lambda: api.post("registered-models/create", {"name": name, "tags": tags}))
        for v in range(versions):
            body = {"name": name, "source": f"s3://bench-bucket/{name}/{v}", "tags": [{"key": "v", "value": str(v)}]}
            bench.with_retries(lambda b=body: api.post("model-versions/create", b))
        body = {"name": name, "alias": "champion", "version": str(versions)}
        bench.with_retries(lambda: api.post("registered-models/alias", body))

    bench.log(f"    seeding {models:,} models x {versions} versions on {server.name} with {threads} threads")
    wall = bench.run_parallel(task, models, threads, budget=3600)
    return Sample(latencies=[wall / models] * models, wall=wall, units_per_call=1 + versions)


def search_rows(servers: dict[str, Server], args: argparse.Namespace, engine: str) -> list[Row]:
    seeds = {}
    bench.wait_quiet(servers)
    for name, server in servers.items():
        with bench.alone(servers, name):
            seeds[name] = seed(server, args.models, args.versions, args.seed_threads)
    bench.analyze(servers)
    counts = {"count": args.reps, "warmup": 3, "budget": 300}
    probe = model_name(args.models // 2)

    def timed(path: str, params: dict[str, Any], expect: int, key: str) -> Any:
        def one(server: Server) -> Sample:
            api = Api(server.url)
            found = orjson.loads(api.get(path, params)).get(key, [])
            found = found if isinstance(found, list) else [found]
            if len(found) != expect:
                raise bench.BenchError(f"{server.name}: {path} {params} gave {len(found)} results, expected {expect}")
            return bench.measure(lambda t: lambda i: api.get(path, params), threads=1, **counts)

        return one

    page = min(100, args.models)
    scenarios = [
        (
            f"search_registered_models · page of {page} (client's size, prompt filter) · p50",
            "registered-models/search",
            {"max_results": 100, "filter": PROMPT_FILTER},
            page,
            "registered_models",
        ),
        (
            f"search_registered_models · all {args.models:,} in one page · p50",
            "registered-models/search",
            {"max_results": 1000, "filter": PROMPT_FILTER},
            min(args.models, 1000),
            "registered_models",
        ),
        (
            "search_registered_models · name LIKE 'model-001%' AND tags.team = 'team-3' · p50",
            "registered-models/search",
            {"filter": f"name LIKE 'model-001%' AND tags.team = 'team-3' AND {PROMPT_FILTER}"},
            sum(1 for i in range(100, min(200, args.models)) if i % 10 == 3),
            "registered_models",
        ),
        (
            f"search_model_versions · name = '{probe}' · p50",
            "model-versions/search",
            {"filter": f"name = '{probe}'"},
            args.versions,
            "model_versions",
        ),
        (
            "get_registered_model (the client's prompt guard) · p50",
            "registered-models/get",
            {"name": probe},
            1,
            "registered_model",
        ),
        (
            "get_model_version_by_alias · p50",
            "registered-models/alias",
            {"name": probe, "alias": "champion"},
            1,
            "model_version",
        ),
    ]
    rows = [
        Row(
            f"seed {args.models:,} models x {args.versions} versions ({args.seed_threads} threads)",
            "calls/s",
            seeds["official"],
            seeds["studio"],
            stat="rate",
        )
    ]
    for index, (label, path, params, expect, key) in enumerate(scenarios):
        target = 50.0 if index < 3 else None
        rows.append(Row(label, "ms", *bench.both(servers, label, timed(path, params, expect, key)), target=target))
    return rows


def register_rows(servers: dict[str, Server], args: argparse.Namespace, engine: str) -> list[Row]:
    """create_model_version from a READY logged model of five files (200 KB): Studio copies them, MLflow does not."""

    def one(server: Server) -> Sample:
        api = Api(server.url)
        experiment_id = api.create_experiment(f"register-{time.time_ns()}")
        name = f"register-{time.time_ns()}"
        api.post("registered-models/create", {"name": name})
        sources = []
        for _ in range(args.reps + 3):
            info = orjson.loads(api.post("logged-models", {"experiment_id": experiment_id, "name": "model"}))
            info = info["model"]["info"]
            root = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
            for file_name, data in MODEL_FILES.items():
                url = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{root}/{file_name}"
                api.session.put(url, data=data, timeout=60).raise_for_status()
            api.session.patch(
                f"{server.url}/api/2.0/mlflow/logged-models/{info['model_id']}",
                data=orjson.dumps({"model_id": info["model_id"], "status": "LOGGED_MODEL_READY"}),
                headers=bench.JSON_HEADERS,
                timeout=60,
            ).raise_for_status()
            sources.append(info["model_id"])

        def op(i: int) -> Any:
            model_id = sources[i]
            return api.post(
                "model-versions/create", {"name": name, "source": f"models:/{model_id}", "model_id": model_id}
            )

        return bench.measure(lambda t: op, threads=1, count=args.reps, warmup=3, budget=300)

    label = f"create_model_version from a logged model ({len(MODEL_FILES)} files, 200 KB) · p50"
    return [Row(label, "ms", *bench.both(servers, "register", one))]


SCENARIOS = {"search": search_rows, "register": register_rows}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--reps", type=int, default=50, help="timed calls per measurement")
    parser.add_argument("--seed-threads", type=int, default=8)
    parser.add_argument("--wait-quiet", type=float, default=120, metavar="SECONDS")
    parser.add_argument("--studio-rev", help="run Studio from a clean export of this commit (default: working tree)")
    args = parser.parse_args(argv)
    args.scenarios = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {sorted(SCENARIOS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench.QUIET["max_wait"] = args.wait_quiet
    engines = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    print(bench.header(args).replace("bench/tracking.py", "bench/registry.py"), "\n", flush=True)
    try:
        for engine in engines:
            with contextlib.ExitStack() as stack, bench.servers(engine, stack, args.studio_rev) as running:
                rows: list[Row] = []
                for scenario in args.scenarios:
                    bench.log(f"[{engine}] {scenario}")
                    rows += SCENARIOS[scenario](running, args, engine)
                bench.print_table(engine, rows)
    except KeyboardInterrupt:
        bench.STOP.set()
        return 130
    print("ratio = official time / Studio time (for rates: Studio rate / official rate); > 1 means Studio is faster.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
