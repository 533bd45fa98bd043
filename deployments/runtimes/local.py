"""The local runtime, the embedded default: a virtualenv built with ``uv`` from the model's own requirements, and
MLflow's pyfunc scoring server run from it as supervised processes on this host.

Under the runtime's root (Studio passes ``STUDIO_DATA_DIR/runtimes``):
- ``envs/<hash>/`` one environment per set of requirements, shared by every deployment that needs the same
  (``local_env.py``: built aside and renamed into place, under a lock).
- ``deployments/<id>-<name>/`` one folder per deployment: the supervisor's config, state, events, log, and one log
  per instance. The supervisor (``local_supervisor.py``) is a detached process, so deployments outlive the task.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from deployments.runtimes.base import DeploymentSpec, Log, Runtime, RuntimeFailure, RuntimeStatus, pings
from deployments.runtimes.local_env import EnvironmentBuilder, locked
from deployments.runtimes.local_supervisor import MARKER_VARIABLE, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DEFAULTS: dict[str, Any] = {
    "build_timeout": 1800,  # seconds for one uv call
    "max_crashes": 5,  # crashes of one instance within crash_window before it is given up
    "crash_window": 120,
    "backoff": [1, 30],  # first and largest delay before a restart, doubling in between
    "stop_grace": 10,  # seconds between SIGTERM and SIGKILL
    "startup_grace": 300,  # seconds an instance may take to answer /ping before it counts as unhealthy
    "request_timeout": 60,  # MLflow's per-request timeout of the scoring server
}


def _is_held(path: Path) -> bool:
    """Whether another process holds the flock on ``path``."""
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def _belongs_to(pid: int, folder: Path) -> bool:
    """Whether ``pid`` is a live process started for the deployment in ``folder`` (its marker variable)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return f"{MARKER_VARIABLE}={folder}".encode() in environ.split(b"\0")


def _deployment_pids(folder: Path) -> list[int]:
    """Every live process started for the deployment in ``folder``: the supervisor and its instances."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    return [pid for pid in pids if pid != os.getpid() and _belongs_to(pid, folder)]


def _tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a text file (empty when there is none)."""
    if not path.exists() or lines <= 0:
        return []
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(size - 256 * lines - 4096, 0))
        return handle.read().decode(errors="replace").splitlines()[-lines:]


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON file, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class LocalRuntime(Runtime):
    """Virtualenvs and processes on this host; see the module docstring for the layout under ``root``."""

    name = "local"

    def __init__(self, root: Path, *, uv: str | None = None) -> None:
        self.root = Path(root).resolve()  # handles and process markers hold absolute paths, whatever the cwd
        self.envs = self.root / "envs"
        self.deployments = self.root / "deployments"
        self.uv = uv

    # --- build --------------------------------------------------------------------------------------------------

    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        """Build (or reuse) the environment for the model's requirements; returns where it is and how it came."""
        timeout = float(spec.options.get("build_timeout", DEFAULTS["build_timeout"]))
        return EnvironmentBuilder(self.envs, uv=self.uv).build(model_dir=spec.model_dir, log=log, timeout=timeout)

    def prune(self, *, keep: set[str], older_than: float) -> list[str]:
        """Delete environments that no deployment's build names (``keep``: their hashes) and that were not used for
        ``older_than`` seconds; the hashes removed."""
        return EnvironmentBuilder(self.envs, uv=self.uv).prune(keep=keep, older_than=older_than)

    # --- start and supervise ------------------------------------------------------------------------------------

    def folder(self, spec: DeploymentSpec) -> Path:
        """The deployment's own folder under the runtime root."""
        return self.deployments / f"{spec.deployment_id}-{spec.name}"

    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        """Start the deployment's supervisor (which starts the instances); a live one is returned as it is."""
        python = Path(build.get("python", ""))
        if not python.exists():
            raise RuntimeFailure("the environment of this build is gone; build again", str(python))
        folder = self.folder(spec)
        folder.mkdir(parents=True, exist_ok=True)
        settings = {key: spec.options.get(key, value) for key, value in DEFAULTS.items() if key != "build_timeout"}
        wanted = {
            "python": str(python),
            "model_dir": str(Path(spec.model_dir).resolve()),
            "host": "127.0.0.1",
            "instances": spec.instances,
            "environment": dict(spec.environment),
            **settings,
        }
        with locked(folder / "start.lock", timeout=60):
            if _is_held(folder / "supervisor.lock"):
                current = _read_json(folder / "config.json")
                if {key: current.get(key) for key in wanted} == wanted:
                    # The starter may have died before writing handle.json: the supervisor's state tells the same.
                    return _read_json(folder / "handle.json") or self._handle(spec, folder=folder)
                log("the deployment's settings changed: restarting its servers")
            self._stop_folder(folder, grace=float(settings["stop_grace"]))
            return self._launch(spec, folder=folder, config=wanted, log=log)

    def _launch(self, spec: DeploymentSpec, *, folder: Path, config: dict[str, Any], log: Log) -> dict[str, Any]:
        """Write the config, start the detached supervisor, and wait until it holds its lock."""
        config = {**config, "ports": [free_port() for _ in range(spec.instances)]}
        (folder / "state.json").unlink(missing_ok=True)
        (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), MARKER_VARIABLE: str(folder)}
        command = [sys.executable, "-m", "deployments.runtimes.local_supervisor", str(folder / "config.json")]
        with (folder / "supervisor.log").open("ab") as output:
            starter = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        starter.wait(timeout=30)  # the supervisor forks and this parent exits at once
        deadline = time.monotonic() + 30
        while not (_is_held(folder / "supervisor.lock") and _read_json(folder / "state.json")):
            if time.monotonic() > deadline:
                details = "\n".join(_tail(folder / "supervisor.log", 50))
                raise RuntimeFailure("the supervisor did not start", details)
            time.sleep(0.1)
        handle = self._handle(spec, folder=folder)
        (folder / "handle.json").write_text(json.dumps(handle), encoding="utf-8")
        log(f"started {spec.instances} instance(s) on ports {', '.join(map(str, config['ports']))}")
        return handle

    def _handle(self, spec: DeploymentSpec, *, folder: Path) -> dict[str, Any]:
        """What the service stores on the row: the folder is all the later calls need."""
        state = _read_json(folder / "state.json")
        return {
            "runtime": self.name,
            "dir": str(folder),
            "supervisor_pid": state.get("supervisor_pid"),
            "instances": spec.instances,
        }

    # --- status, events, logs -----------------------------------------------------------------------------------

    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        """Probe /ping of each running instance; the URLs that answer are the healthy ones."""
        folder = Path(handle["dir"])
        state, config = _read_json(folder / "state.json"), _read_json(folder / "config.json")
        if not _is_held(folder / "supervisor.lock"):
            if state.get("phase") == "failed":
                return RuntimeStatus("failed", [], self._failure_message(folder, state))
            if state.get("phase") in ("stopped", None):
                return RuntimeStatus("stopped", [], "not running")
            return RuntimeStatus("failed", [], "the supervisor is not running (killed?): start the deployment again")
        instances = state.get("instances", [])
        running = [item for item in instances if item["phase"] == "running"]
        urls = [url for item in running if pings(url := f"http://127.0.0.1:{item['port']}")]
        message = f"{len(urls)} of {len(instances)} instances healthy"
        given_up = [str(item["index"]) for item in instances if item["phase"] == "gave_up"]
        if given_up:
            message += f"; given up after repeated crashes: instance {', '.join(given_up)}"
        if urls:
            return RuntimeStatus("healthy", urls, message)
        grace = float(config.get("startup_grace", DEFAULTS["startup_grace"]))
        young = [item for item in running if time.time() - item["started_at"] < grace]
        return RuntimeStatus("starting" if young else "unhealthy", [], message)

    def _failure_message(self, folder: Path, state: dict[str, Any]) -> str:
        """Why every instance was given up: the end of the first one's log (the server's traceback)."""
        lines = _tail(folder / "instance-0.log", 15)
        return "every instance crashed repeatedly and was given up:\n" + "\n".join(lines)

    def events(self, handle: dict[str, Any], since: int = 0) -> list[dict[str, Any]]:
        """The supervisor's events from line ``since`` on (started, exited, restarted, gave_up, ...)."""
        path = Path(handle["dir"]) / "events.jsonl"
        if not path.exists():
            return []
        lines = path.read_text(encoding="utf-8").splitlines()[since:]
        return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is skipped

    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        """The last ``tail`` lines of each instance's log, each line prefixed with its instance."""
        folder = Path(handle["dir"])
        out: list[str] = []
        for path in sorted(folder.glob("instance-*.log"), key=lambda p: int(p.stem.split("-")[1])):
            out += [f"{path.stem} | {line}" for line in _tail(path, tail)]
        return "\n".join(out)

    # --- stop and remove ----------------------------------------------------------------------------------------

    def stop(self, handle: dict[str, Any]) -> None:
        """Stop the supervisor and every instance's process group; stopping a stopped deployment does nothing."""
        folder = Path(handle["dir"])
        if folder.exists():
            config = _read_json(folder / "config.json")
            self._stop_folder(folder, grace=float(config.get("stop_grace", DEFAULTS["stop_grace"])))

    def _stop_folder(self, folder: Path, *, grace: float) -> None:
        """SIGTERM the supervisor (it stops its instances), then kill whatever of the deployment is still alive."""
        state = _read_json(folder / "state.json")
        if _is_held(folder / "supervisor.lock") and state.get("supervisor_pid"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(state["supervisor_pid"], signal.SIGTERM)
            deadline = time.monotonic() + grace + 5
            while _is_held(folder / "supervisor.lock") and time.monotonic() < deadline:
                time.sleep(0.1)
            if _is_held(folder / "supervisor.lock") and _belongs_to(state["supervisor_pid"], folder):
                os.kill(state["supervisor_pid"], signal.SIGKILL)
        self._kill_leftovers(folder, grace=grace)

    @staticmethod
    def _kill_leftovers(folder: Path, *, grace: float) -> None:
        """Processes outliving a supervisor that was killed (found by their marker): SIGTERM, then SIGKILL."""
        alive = _deployment_pids(folder)
        for signum in (signal.SIGTERM, signal.SIGKILL):
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signum)
            deadline = time.monotonic() + grace
            while (alive := [pid for pid in alive if _belongs_to(pid, folder)]) and time.monotonic() < deadline:
                time.sleep(0.1)
            if not alive:
                return

    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        """Stop the deployment and delete its folder; the environment stays for other deployments."""
        if handle is None:
            return  # never started: the environment is shared, and nothing else belongs to this deployment
        self.stop(handle)
        shutil.rmtree(handle["dir"], ignore_errors=True)
