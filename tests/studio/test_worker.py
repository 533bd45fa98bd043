"""A real ``studio worker`` runs ``studio.tasks.ping`` from the embedded SQLite broker and from Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from celery import Celery
from django.db import connection

STUDIO = Path(sys.executable).with_name("studio")
# Generous: a cold child imports Django, Celery and mlflow, which takes minutes on an overloaded 2-core machine;
# the bound is there to catch a hang, not to measure speed.
STARTUP_TIMEOUT = 300.0
# Variables that would make a child share state with the developer's own server or another test.
SHARED_STATE_VARIABLES = {
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "REDIS_URL",
    "CELERY_RESULT_BACKEND",
    "STUDIO_ARTIFACT_ROOT",
}


def database_url(db: dict[str, Any]) -> str:
    """The ``DATABASE_URL`` of a Django database (SQLite or PostgreSQL), so a child process opens the same one."""
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    assert db["ENGINE"] == "django.db.backends.postgresql", db["ENGINE"]
    user = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    host = (db["HOST"] or "") + (f":{db['PORT']}" if db["PORT"] else "")
    return f"postgres://{user}@{host}/{quote(db['NAME'], safe='')}"


def child_env(data_dir: Path, **variables: str) -> dict[str, str]:
    """Environment of a Studio child process: its own data dir, on this test session's database."""
    env = {k: v for k, v in os.environ.items() if k not in SHARED_STATE_VARIABLES}
    env.update(STUDIO_DATA_DIR=str(data_dir), DATABASE_URL=database_url(connection.settings_dict), **variables)
    return env


def stop(process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    """SIGTERM a child started in its own session and wait; kill its whole group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise


def tail(log: Path) -> str:
    """The end of a child's log, for assertion messages."""
    return log.read_text(errors="replace")[-4000:] if log.exists() else "(no log)"


def ping_through_worker(
    data_dir: Path, broker: str, backend: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Start ``studio worker`` on a queue of its own, send ``ping`` through ``broker``, return the reply."""
    # A queue and node name of our own: other workers on a shared Redis must not take this test's task.
    queue = f"studio-test-{uuid.uuid4().hex[:12]}"
    log = data_dir / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [STUDIO, "worker", "-Q", queue, "-n", f"{queue}@%h"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    # Celery lets these variables win over an app's own broker and backend; CI sets them for the Redis run.
    for name in ("CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CELERY_BROKER_URL", broker)
    monkeypatch.setenv("CELERY_RESULT_BACKEND", backend)
    app = Celery("studio-test", broker=broker, backend=backend)
    try:
        result = app.send_task("studio.tasks.ping", queue=queue)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not result.ready():
            assert worker.poll() is None, f"worker exited with {worker.returncode}:\n{tail(log)}"
            assert time.monotonic() < deadline, f"no reply within {STARTUP_TIMEOUT}s:\n{tail(log)}"
            time.sleep(0.2)
        reply = result.get(timeout=10)
    finally:
        app.close()
        returncode = stop(worker)
    assert returncode == 0, tail(log)  # SIGTERM is Celery's warm shutdown: finish, then exit 0
    assert reply["hostname"].startswith(f"{queue}@")
    return reply


def redis_url() -> str:
    """The Redis of this environment (``CELERY_BROKER_URL``/``REDIS_URL`` when they name one), else the local one."""
    for name in ("CELERY_BROKER_URL", "REDIS_URL"):
        if os.environ.get(name, "").startswith("redis"):
            return os.environ[name]
    return "redis://127.0.0.1:6379/0"


def test_worker_runs_ping_from_embedded_sqlite_broker(
    tmp_path: Path, django_db_setup: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite3'}"
    backend = f"db+sqlite:///{tmp_path / 'celery-results.sqlite3'}"
    # No broker variable: the worker must find the embedded default in its data dir by itself.
    reply = ping_through_worker(tmp_path, broker, backend, child_env(tmp_path), monkeypatch)
    assert reply["vendor"] == connection.vendor
    assert reply["database"] == str(connection.settings_dict["NAME"])


def test_worker_runs_ping_from_redis(tmp_path: Path, django_db_setup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {url} is not reachable in CI: {error}")
        pytest.skip(f"Redis at {url} is not reachable: {error}")
    reply = ping_through_worker(tmp_path, url, url, child_env(tmp_path, CELERY_BROKER_URL=url), monkeypatch)
    assert reply["vendor"] == connection.vendor
    assert reply["database"] == str(connection.settings_dict["NAME"])
