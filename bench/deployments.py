"""Deployments against the issue's targets: Deploy → healthy, cold and with a cached environment, on the local runtime
(goal with the cache: under 15 s), and the scoring gateway's overhead over calling the scoring server directly (goal:
under 2 ms p50) and its throughput with 8 clients.

Starts ``studio run`` (gunicorn, 2 processes, and its Celery worker) on a fresh data dir, logs and registers a
scikit-learn LogisticRegression through the real ``mlflow`` client, then:

* **cold**: deploys it to a new endpoint: Studio's environment cache is empty, so uv creates a virtualenv and
  installs the model's requirements (from uv's own package cache, as on any machine that has built once; pass
  ``--cold-uv`` for an empty uv cache too, which downloads everything) and the scoring server starts;
* **cached**: deploys the same version to a second endpoint: the environment is reused, only the server starts;
* **overhead**: the same one-row ``dataframe_split`` request ``--requests`` times over one kept-alive connection,
  straight to the scoring server (its port read from the runtime's folder) and through
  ``/endpoints/<name>/invocations`` with a key, interleaved in blocks so that drift hits both alike;
* **throughput**: 8 client threads, each on its own kept-alive connection, for ``--seconds`` seconds, through the
  gateway and straight to the servers (the deployment has 2 instances; the direct clients split between them).

Times are client-side over loopback, the body read whole.

    .venv/bin/python bench/deployments.py
    .venv/bin/python bench/deployments.py --requests 500 --seconds 3     # a smoke run
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STUDIO = Path(sys.executable).with_name("studio")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
HEALTHY_TARGET_S = 15.0
OVERHEAD_TARGET_MS = 2.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Studio:
    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.log_path = data_dir / "studio.log"
        command = [str(STUDIO), "run", "--port", str(self.port), "--workers", "2"]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"studio run exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with NO_PROXY.open(f"{self.url}/health", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("studio run did not answer /health") from None
                time.sleep(0.25)

    def call(self, method: str, path: str, payload: dict | None = None, **params: str) -> dict:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}/api/2.0/studio/{path}{query}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with NO_PROXY.open(request, timeout=60) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise SystemExit(f"{method} {path}: {error.code} {error.read()[:500]!r}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def log_model(url: str) -> tuple[Any, Any]:
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    model = LogisticRegression().fit(frame, (frame["a"] + frame["b"] > 0).astype(int))
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench-deployments")
    with mlflow.start_run():
        mlflow.sklearn.log_model(model, name="model", registered_model_name="bench", input_example=frame.head(2))
    return model, frame


def deploy(studio: Studio, endpoint: str, instances: int) -> tuple[float, dict]:
    """Create an endpoint and deploy version 1 into it; seconds from the request to healthy, and the keys."""
    keys = studio.call("POST", "endpoints/create", {"name": endpoint})
    began = time.perf_counter()
    studio.call("POST", "deployments/create", {"endpoint": endpoint, "name": "blue", "model_name": "bench",
                                               "version": "1", "instances": instances})  # fmt: skip
    while True:
        deployment = studio.call("GET", "deployments/get", endpoint=endpoint, name="blue")["deployment"]
        if deployment["status"] == "healthy":
            return time.perf_counter() - began, keys
        if deployment["status"] == "failed":
            events = studio.call("GET", "deployments/events", endpoint=endpoint, name="blue")["events"]
            raise SystemExit(f"deployment failed: {deployment['status_message']}\n{events[-3:]}")
        time.sleep(0.05)


def instance_ports(data_dir: Path, endpoint: str) -> list[int]:
    """The scoring servers' ports, from the local runtime's config of the deployment."""
    [folder] = (data_dir / "runtimes" / "deployments").glob(f"*-{endpoint}--blue")
    return json.loads((folder / "config.json").read_text())["ports"]


class Caller:
    """One kept-alive connection posting the same body."""

    def __init__(self, port: int, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.path, self.body, self.headers = path, body, headers

    def __call__(self) -> float:
        began = time.perf_counter()
        self.connection.request("POST", self.path, self.body, self.headers)
        response = self.connection.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise SystemExit(f"{self.path}: {response.status} {data[:300]!r}")
        return elapsed


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "mean": statistics.fmean(ordered) * 1000}


def overhead(studio_port: int, server_port: int, endpoint: str, key: str, body: bytes, requests: int) -> dict:
    headers = {"Content-Type": "application/json"}
    direct = Caller(server_port, "/invocations", body, headers)
    gateway = Caller(studio_port, f"/endpoints/{endpoint}/invocations", body,
                     {**headers, "Authorization": f"Bearer {key}"})  # fmt: skip
    for _ in range(100):  # warm both: connections, the routing table, the model's first calls
        direct(), gateway()
    times: dict[str, list[float]] = {"direct": [], "gateway": []}
    block = 50
    for _ in range(max(1, requests // block)):
        times["direct"] += [direct() for _ in range(block)]
        times["gateway"] += [gateway() for _ in range(block)]
    result = {name: percentiles(values) for name, values in times.items()}
    result["overhead_p50_ms"] = result["gateway"]["p50"] - result["direct"]["p50"]
    return result


def throughput(make_caller: Any, clients: int, seconds: float) -> dict:
    counts = [0] * clients
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = threading.Event()

    def client(index: int) -> None:
        caller = make_caller(index)
        while not stop.is_set():
            latencies[index].append(caller())
            counts[index] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    merged = [value for values in latencies for value in values]
    return {"requests_per_s": sum(counts) / wall, **percentiles(merged)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="sequential requests per path (overhead)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each throughput run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cold-uv", action="store_true", help="an empty uv cache too (downloads every package)")
    parser.add_argument("--database-url", default="", help="a PostgreSQL URL instead of the embedded SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the data dir")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="studio-bench-deploy-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DATABASE_URL", "REDIS_URL"))}
    env.update(STUDIO_DATA_DIR=str(data_dir), MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", STUDIO_LOG_LEVEL="WARNING")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    if args.cold_uv:
        env["UV_CACHE_DIR"] = str(data_dir / "uv-cache")
    studio = Studio(data_dir, env)
    results: dict[str, Any] = {}
    try:
        log(f"Studio at {studio.url}, data in {data_dir}")
        os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
        _, frame = log_model(studio.url)
        cold, keys = deploy(studio, "bench-cold", instances=2)
        log(f"cold deploy → healthy: {cold:.2f} s")
        cached, _ = deploy(studio, "bench-cached", instances=1)
        log(f"cached deploy → healthy: {cached:.2f} s")
        results["deploy_to_healthy_s"] = {"cold": round(cold, 2), "cached": round(cached, 2)}

        body = json.dumps({"dataframe_split": frame.head(1).to_dict(orient="split")}).encode()
        ports = instance_ports(data_dir, "bench-cold")
        key = keys["primary_key"]
        time.sleep(2)  # let the supervisor's first probes and the worker settle
        results["overhead"] = overhead(studio.port, ports[0], "bench-cold", key, body, args.requests)
        log(f"overhead: {json.dumps(results['overhead'])}")
        headers = {"Content-Type": "application/json"}
        scoring_headers = {**headers, "Authorization": f"Bearer {key}"}
        through_gateway = lambda i: Caller(studio.port, "/endpoints/bench-cold/invocations", body, scoring_headers)  # noqa: E731
        results["throughput_gateway"] = throughput(through_gateway, args.clients, args.seconds)
        results["throughput_direct"] = throughput(
            lambda i: Caller(ports[i % len(ports)], "/invocations", body, headers), args.clients, args.seconds
        )
        log(f"throughput: gateway {results['throughput_gateway']['requests_per_s']:.0f}/s, direct "
            f"{results['throughput_direct']['requests_per_s']:.0f}/s")  # fmt: skip
    finally:
        studio.stop()
        # The deployments' servers run under detached supervisors: stop them before the data dir goes.
        for folder in (data_dir / "runtimes" / "deployments").glob("*"):
            stop_folder(folder)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(results, indent=2))
    cached_ok = results["deploy_to_healthy_s"]["cached"] < HEALTHY_TARGET_S
    overhead_ok = results["overhead"]["overhead_p50_ms"] < OVERHEAD_TARGET_MS
    print(f"cached deploy under {HEALTHY_TARGET_S:g} s: {'yes' if cached_ok else 'NO'}; gateway overhead p50 under "
          f"{OVERHEAD_TARGET_MS:g} ms: {'yes' if overhead_ok else 'NO'}")  # fmt: skip


def stop_folder(folder: Path) -> None:
    """Stop a deployment's supervisor and instances as the local runtime does."""
    sys.path.insert(0, str(ROOT))
    from deployments.runtimes.local import LocalRuntime

    LocalRuntime(root=folder.parents[1]).stop({"dir": str(folder)})


if __name__ == "__main__":
    main()
