"""The supervisor of one local deployment: starts its scoring-server instances and restarts the ones that crash.

Run as ``python -m deployments.runtimes.local_supervisor <deployment dir>/config.json`` by ``LocalRuntime.start``. It
detaches (a fork whose parent exits at once), so it outlives the Celery task that started it and leaves no zombie in
the worker. It holds ``supervisor.lock`` for its whole life: the runtime tells "alive" by that lock, which the kernel
releases on any death, so a reused pid can never pass for a live supervisor. It writes ``state.json`` (replaced
atomically) and appends one JSON line per event to ``events.jsonl``. Standard library only: it must not import Django.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

# The worker's own Python settings and Studio's secrets (database, broker, secret key) stay out of model servers.
_DROPPED_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DATABASE_URL", "REDIS_URL", "__pyfunc_model_path__")
_DROPPED_PREFIXES = ("STUDIO_", "DJANGO_", "CELERY_")
MARKER_VARIABLE = "STUDIO_DEPLOYMENT_DIR"  # how the runtime recognises this deployment's processes in /proc


def now() -> float:
    """Wall-clock seconds, the time stamp of events and state."""
    return time.time()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound now."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _die_with_parent() -> None:
    """In the instance before exec: SIGTERM it when the supervisor dies, even by SIGKILL (PR_SET_PDEATHSIG)."""
    # Without glibc, ``LocalRuntime.start`` still kills leftovers by their marker.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)


@dataclass
class Instance:
    """One scoring-server process and its restart history."""

    index: int
    port: int
    process: subprocess.Popen | None = None
    phase: str = "starting"  # running | backoff | gave_up | stopped
    started_at: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    crashes: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        pid = self.process.pid if self.process else None
        return {
            "index": self.index,
            "port": self.port,
            "pid": pid,
            "phase": self.phase,
            "started_at": self.started_at,
            "restarts": self.restarts,
        }


class Supervisor:
    """Keeps ``instances`` scoring servers running; gives an instance up after too many crashes in a window."""

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.config = config
        self.folder = folder
        self.host: str = config["host"]
        self.max_crashes: int = config["max_crashes"]
        self.window: float = config["crash_window"]
        self.backoff: tuple[float, float] = tuple(config["backoff"])
        self.instances = [Instance(index, port) for index, port in enumerate(config["ports"])]
        self.stopping = False
        self.events: TextIO = (folder / "events.jsonl").open("a", encoding="utf-8")

    def event(self, kind: str, **fields: Any) -> None:
        """Append one event line; flushed at once so ``LocalRuntime.events`` sees it."""
        self.events.write(json.dumps({"time": now(), "event": kind, **fields}) + "\n")
        self.events.flush()

    def write_state(self, phase: str) -> None:
        """Replace state.json atomically: a reader never sees half a file."""
        state = {
            "supervisor_pid": os.getpid(),
            "phase": phase,
            "updated_at": now(),
            "instances": [instance.as_dict() for instance in self.instances],
        }
        temporary = self.folder / "state.json.tmp"
        temporary.write_text(json.dumps(state), encoding="utf-8")
        os.replace(temporary, self.folder / "state.json")

    def environment(self) -> dict[str, str]:
        """The server's environment: the worker's less its Python settings, plus the model and the deployment's."""
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in _DROPPED_VARIABLES and not key.startswith(_DROPPED_PREFIXES)
        }
        bin_dir = str(Path(self.config["python"]).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env.update(self.config["environment"])
        env["__pyfunc_model_path__"] = Path(self.config["model_dir"]).as_uri()  # what mlflow's app.py loads
        env["MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT"] = str(self.config["request_timeout"])
        env["PYTHONUNBUFFERED"] = "1"
        env[MARKER_VARIABLE] = str(self.folder)
        return env

    def spawn(self, instance: Instance) -> None:
        """Start one server in its own process group, appending to its log file."""
        if not port_is_free(instance.port, self.host):
            # Someone took the port while the instance was down: move rather than crash-loop on it.
            instance.port = free_port(self.host)
        # The module `mlflow models serve --env-manager local` runs (mlflow.pyfunc.scoring_server.get_cmd),
        # started directly so the instance is one process whose pid is the server's.
        command = [self.config["python"], "-m", "uvicorn", "--host", self.host, "--port", str(instance.port)]
        command.append("mlflow.pyfunc.scoring_server.app:app")
        with (self.folder / f"instance-{instance.index}.log").open("ab") as log:
            log.write(f"--- studio: starting instance {instance.index} on port {instance.port}\n".encode())
            log.flush()
            instance.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # the supervisor is single-threaded: safe
            )
        instance.phase, instance.started_at = "running", now()

    def on_exit(self, instance: Instance, returncode: int) -> None:
        """An instance died on its own: schedule its restart with backoff, or give it up."""
        moment = now()
        instance.crashes = [t for t in instance.crashes if moment - t < self.window] + [moment]
        pid = instance.process.pid if instance.process else None
        self.event("exited", instance=instance.index, pid=pid, returncode=returncode, port=instance.port)
        instance.process = None
        if len(instance.crashes) >= self.max_crashes:
            instance.phase = "gave_up"
            message = f"{len(instance.crashes)} crashes in {self.window:g} s"
            self.event("gave_up", instance=instance.index, message=message)
            return
        first, most = self.backoff
        delay = min(first * 2 ** (len(instance.crashes) - 1), most)
        instance.phase, instance.restart_at = "backoff", moment + delay

    def step(self) -> bool:
        """One pass over the instances; returns whether anything changed."""
        changed = False
        for instance in self.instances:
            if instance.process is not None and (code := instance.process.poll()) is not None:
                self.on_exit(instance, code)
                changed = True
            elif instance.phase == "backoff" and now() >= instance.restart_at:
                self.spawn(instance)
                instance.restarts += 1
                pid = instance.process.pid if instance.process else None
                self.event("restarted", instance=instance.index, pid=pid, port=instance.port)
                changed = True
        return changed

    def terminate(self, grace: float) -> None:
        """SIGTERM every instance's process group, SIGKILL what is left after ``grace`` seconds."""
        running = [instance.process for instance in self.instances if instance.process is not None]
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            _signal_group(process.pid, signal.SIGKILL)  # anything the server itself started
        for instance in self.instances:
            instance.process, instance.phase = None, "stopped"

    def run(self) -> int:
        """Start every instance, watch them until SIGTERM or until all are given up."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.event("supervisor_started", pid=os.getpid())
        for instance in self.instances:
            self.spawn(instance)
            self.event("started", instance=instance.index, pid=instance.process.pid, port=instance.port)
        self.write_state("running")
        while not self.stopping:
            if self.step():
                self.write_state("running")
            if all(instance.phase == "gave_up" for instance in self.instances):
                self.write_state("failed")
                self.event("supervisor_failed", message="every instance was given up")
                return 1
            time.sleep(0.2)
        self.write_state("stopping")
        self.terminate(self.config["stop_grace"])
        self.write_state("stopped")
        self.event("supervisor_stopped", pid=os.getpid())
        return 0

    def _on_signal(self, signum: int, frame: object) -> None:
        self.stopping = True


def _signal_group(pgid: int, signum: int) -> None:
    """Signal a process group that may already be gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def main(argv: list[str]) -> int:
    """Detach, take the deployment's supervisor lock, and supervise."""
    config_path = Path(argv[1]).resolve()
    if os.fork() > 0:
        os._exit(0)  # the starter reaps this parent at once; the supervisor is re-parented to init
    folder = config_path.parent
    lock = (folder / "supervisor.lock").open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.stderr.write("another supervisor runs this deployment\n")
        return 1
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return Supervisor(config, folder).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
