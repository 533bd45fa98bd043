"""Real Studio processes for the deployments' end-to-end tests: ``studio run`` (gunicorn, and its worker with the
beat unless told not to) or a separate ``studio worker``, on the test database with their own data dir, and small
JSON helpers for Studio's REST API and the scoring gateway over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.studio.test_server import free_port, wait_for_health
from tests.studio.test_worker import STUDIO, child_env, stop, tail

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
API = "/api/2.0/studio/"


@dataclass
class Studio:
    """A running Studio: its URL, data dir, environment and processes (the web server, workers)."""

    url: str
    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def log(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        """Start ``studio <args>`` in its own session, its output in ``<name>.log``."""
        with self.log(name).open("ab") as out:
            process = subprocess.Popen([STUDIO, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        self.processes[name] = process
        return process

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        """A Celery worker with the beat of the periodic jobs (the recovery sweep), as ``studio run`` starts it."""
        return self.start(name, "worker", "--beat", "-n", f"{name}@%h")

    def kill(self, name: str) -> None:
        """SIGKILL a process's whole group: the worker and whatever it ran (uv), as a crash or an OOM kill would."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes.pop(name)
            if process.poll() is None:
                with contextlib.suppress(subprocess.TimeoutExpired):  # stop() killed its group
                    stop(process)

    def tails(self) -> str:
        return "\n".join(f"--- {path.name}\n{tail(path)}" for path in sorted(self.data_dir.glob("*.log")))

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def call(self, method: str, path: str, payload: dict | None = None, **params: Any) -> tuple[int, Any]:
        query = "?" + urllib.parse.urlencode(params) if params else ""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{self.url}{API}{path}{query}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        try:
            with NO_PROXY.open(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def post(self, path: str, payload: dict) -> Any:
        status, body = self.call("POST", path, payload)
        assert status == 200, (path, status, body)
        return body

    def get(self, path: str, **params: Any) -> Any:
        status, body = self.call("GET", path, **params)
        assert status == 200, (path, status, body)
        return body

    def wait_deployment(self, endpoint: str, name: str, until: Callable[[dict], bool], timeout: float) -> dict:
        """Poll the deployment until ``until(deployment)``; fails with its events and the logs on a timeout."""
        deadline = time.monotonic() + timeout
        while True:
            deployment = self.get("deployments/get", endpoint=endpoint, name=name)["deployment"]
            if until(deployment):
                return deployment
            if time.monotonic() > deadline:
                events = self.get("deployments/events", endpoint=endpoint, name=name)["events"]
                raise AssertionError(f"deployment {deployment} after {timeout} s; events {events}\n{self.tails()}")
            time.sleep(0.2)


def score(url: str, endpoint: str, key: str | None, body: bytes, content_type: str = "application/json",
          **headers: str) -> tuple[int, dict[str, str], Any]:  # fmt: skip
    """POST to the gateway; (status, headers, JSON body)."""
    headers = {"Content-Type": content_type, **headers}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(f"{url}/endpoints/{endpoint}/invocations", data=body, headers=headers)
    try:
        with NO_PROXY.open(request, timeout=60) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"{}")


def start_studio(data_dir: Path, *, worker: bool, **variables: str) -> Studio:
    """``studio run`` on a free port (with its worker and beat, or ``--no-worker``), healthy when it returns."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = child_env(data_dir, STUDIO_PORT=str(port), **variables)
    studio = Studio(url=f"http://127.0.0.1:{port}", data_dir=data_dir, env=env)
    args = ["run", "--port", str(port), "--workers", "2", *([] if worker else ["--no-worker"])]
    process = studio.start("studio", *args)
    try:
        wait_for_health(studio.url, process, studio.log("studio"))
    except BaseException:
        studio.stop_all()
        raise
    return studio


def log_model(url: str, name: str, seed: int = 1) -> tuple[Any, Any]:
    """Log a LogisticRegression and register it as the next version of ``name`` through the real mlflow client;
    the model and its input frame. Each ``seed`` gives another model (other predictions)."""
    import mlflow
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame(np.random.default_rng(seed).normal(size=(60, 3)), columns=["a", "b", "c"])
    target = (frame["a"] - frame["c"] > 0) if seed % 2 else (frame["b"] > 0)
    model = LogisticRegression().fit(frame, target.astype(int))
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    mlflow.set_tracking_uri(url)
    try:
        mlflow.set_experiment(f"deploy-{name}")
        with mlflow.start_run():
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=frame.head(3))
    finally:
        mlflow.set_tracking_uri("")
    return model, frame
