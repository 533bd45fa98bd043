"""``studio run`` for real: gunicorn and a Celery worker under one supervisor, driven over HTTP."""

from __future__ import annotations

import http.client
import logging
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from gunicorn.config import Config
from gunicorn.sock import create_sockets
from mlflow.tracking import MlflowClient

from studio import gunicorn_conf
from tests.studio.test_worker import STARTUP_TIMEOUT, STUDIO, child_env, stop, tail

pytestmark = pytest.mark.live


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited while we looked
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def command_line(pid: int) -> str:
    """The command line of ``pid``, readable."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/health`` until Studio answers, failing early if the process dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        assert process.poll() is None, f"studio run exited with {process.returncode}:\n{tail(log)}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"no /health within {STARTUP_TIMEOUT}s:\n{tail(log)}"
        time.sleep(0.3)


@pytest.fixture
def studio_run(tmp_path: Path, transactional_db: None) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """``studio run`` on a free port, with its own data dir and embedded broker, on the test database."""
    port, log = free_port(), tmp_path / "studio.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [STUDIO, "run", "--port", str(port), "--workers", "2"], env=child_env(tmp_path / "data"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            stop(process)


def test_run_serves_mlflow_over_kept_alive_connections_and_stops_cleanly(
    studio_run: tuple[subprocess.Popen[bytes], str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    process, url, log = studio_run
    wait_for_health(url, process, log)
    assert f'mlflow.set_tracking_uri("{url}")' in log.read_text()
    with urllib.request.urlopen(f"{url}/version", timeout=10) as response:
        assert response.read().decode() == mlflow.__version__

    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=10)
    connection.request("GET", "/health")
    first = connection.getresponse()
    assert (first.status, first.read(), first.will_close) == (200, b"OK", False)
    sock = connection.sock
    connection.request("GET", "/version")
    second = connection.getresponse()
    assert (second.status, second.read().decode()) == (200, mlflow.__version__)
    assert connection.sock is sock, "the second request needed a new connection"

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    client = MlflowClient(url)
    experiment_id = client.create_experiment("studio-run-e2e")
    assert client.get_experiment_by_name("studio-run-e2e").experiment_id == experiment_id

    children = {pid: command_line(pid) for pid in descendants(process.pid)}
    assert any("gunicorn" in line for line in children.values()), children
    assert any("celery" in line for line in children.values()), children
    # Both clients keep their connections open; stopping must not wait out keep-alive or graceful_timeout for them.
    started = time.monotonic()
    assert stop(process) == 0, tail(log)
    assert time.monotonic() - started < gunicorn_conf.graceful_timeout - 5, tail(log)
    connection.close()
    assert not [children[pid] for pid in children if alive(pid)]


def test_run_stops_everything_and_fails_when_the_web_server_dies(tmp_path: Path, transactional_db: None) -> None:
    log = tmp_path / "studio.log"
    with socket.socket() as taken, log.open("wb") as out:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [STUDIO, "run", "--port", str(port)], env=child_env(tmp_path / "data"), stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            returncode = process.wait(STARTUP_TIMEOUT)
        finally:
            stop(process)
    assert returncode != 0, tail(log)
    assert "web server exited" in tail(log)
    assert not alive(process.pid)


def test_gunicorn_listener_passes_tcp_nodelay_to_connections() -> None:
    config = Config()
    for name, value in vars(gunicorn_conf).items():
        if name in config.settings:
            config.set(name, value)
    config.set("bind", ["127.0.0.1:0"])
    [listener] = create_sockets(config, logging.getLogger("test"))
    try:
        with socket.create_connection(listener.getsockname()) as client:
            listener.sock.setblocking(True)
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                client.sendall(b"x")  # the connection is real
                assert accepted.recv(1) == b"x"
    finally:
        listener.close()


def test_gunicorn_config_names_only_real_settings() -> None:
    # gunicorn ignores unknown names in a config module, so a misspelt setting would silently do nothing.
    names = {name for name, value in vars(gunicorn_conf).items() if name[0].islower() and not isinstance(value, type)}
    assert names - {"annotations"} <= set(Config().settings)
