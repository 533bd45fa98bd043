"""Model environments of the local runtime: one virtualenv per set of requirements, built with ``uv``.

``<envs>/<hash>/`` is shared by every deployment whose model needs the same Python and requirements. It is built in
``<envs>/.building-<hash>-*`` and renamed into place once the scoring server imports, so a build killed halfway never
looks ready; ``<envs>/<hash>.lock`` (an flock, freed by the kernel when its holder dies) keeps two workers from
building the same hash at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import yaml

from deployments.runtimes.base import Log, RuntimeFailure

ENV_LAYOUT = 1  # bump when what an environment holds changes, so older environments are not reused
READY_MARKER = "studio-env.json"  # written last, before the rename: an environment without it is not one
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def find_uv() -> str:
    """uv as the Makefile finds it: on PATH, else ~/.local/bin/uv."""
    found = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if not Path(found).exists():
        raise RuntimeFailure("uv is not installed", "neither on PATH nor at ~/.local/bin/uv; `make` installs it")
    return found


@dataclass(frozen=True)
class ModelEnvironment:
    """What a model needs installed: a Python version, build dependencies and pip requirements."""

    python: str
    build_dependencies: tuple[str, ...]
    requirements: tuple[str, ...]

    def digest(self) -> str:
        """The cache key: equal requirements, in any order, share one environment."""
        key = {
            "layout": ENV_LAYOUT,
            "platform": f"{sys.platform}-{platform.machine()}",
            "python": self.python,
            "build": sorted(self.build_dependencies),
            "requirements": sorted(self.requirements),
        }
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:20]


def _requirement_lines(*, path: Path) -> list[str]:
    """A requirements file's lines without comments and blanks, nested ``-r`` files expanded."""
    lines: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if match := re.match(r"^(-r|--requirement)\s*=?\s*(.+)$", line):
            lines += _requirement_lines(path=path.parent / match.group(2))
        else:
            lines.append(line)
    return lines


def _expand(*, dependencies: list[str], model_dir: Path) -> list[str]:
    """python_env.yaml's or conda.yaml's pip dependencies with their ``-r`` files read in."""
    lines: list[str] = []
    for dependency in dependencies:
        if match := re.match(r"^(-r|--requirement)\s*=?\s*(.+)$", dependency.strip()):
            lines += _requirement_lines(path=model_dir / match.group(2))
        else:
            lines.append(dependency.strip())
    return lines


def _with_mlflow(requirements: list[str]) -> list[str]:
    """The server is MLflow's: add Studio's version when the model does not name one (as MLflow's install_mlflow)."""
    names = {m.group(1).lower().replace("_", "-") for line in requirements if (m := _REQUIREMENT_NAME.match(line))}
    if names & {"mlflow", "mlflow-skinny"}:
        return requirements
    return [*requirements, f"mlflow=={mlflow.__version__}"]


def read_model_environment(*, model_dir: Path) -> ModelEnvironment:
    """The model's requirements from python_env.yaml (and requirements.txt), else conda.yaml's pip list."""
    python_env, conda = model_dir / "python_env.yaml", model_dir / "conda.yaml"
    if python_env.exists():
        data = yaml.safe_load(python_env.read_text(encoding="utf-8")) or {}
        python = str(data.get("python") or "")
        build = [str(item) for item in data.get("build_dependencies") or []]
        requirements = _expand(dependencies=[str(item) for item in data.get("dependencies") or []], model_dir=model_dir)
    elif conda.exists():
        data = yaml.safe_load(conda.read_text(encoding="utf-8")) or {}
        items = data.get("dependencies") or []
        pythons = [str(item) for item in items if isinstance(item, str) and re.match(r"^python\s*[=<>]", item)]
        python = re.sub(r"^python\s*=*\s*", "", pythons[0]) if pythons else ""
        pip = [item["pip"] for item in items if isinstance(item, dict) and "pip" in item]
        build = ["pip"]
        requirements = _expand(dependencies=[str(p) for p in (pip[0] if pip else [])], model_dir=model_dir)
    else:
        raise RuntimeFailure("the model has no python_env.yaml or conda.yaml", f"looked in {model_dir}")
    if not python:
        python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return ModelEnvironment(python, tuple(build), tuple(_with_mlflow(requirements)))


@contextlib.contextmanager
def locked(path: Path, *, timeout: float, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """An exclusive flock on ``path``; the kernel frees it when its holder dies, so a killed worker blocks no one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline, told = time.monotonic() + timeout, False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waiting and not told:
                    waiting()
                    told = True
                if time.monotonic() > deadline:
                    raise RuntimeFailure(f"timed out waiting for {path.name}") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_json(path: Path) -> dict[str, Any]:
    """A JSON file, or {} when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


class EnvironmentBuilder:
    """Builds and reuses the environments under ``envs``."""

    def __init__(self, envs: Path, *, uv: str | None = None) -> None:
        self.envs = envs
        self.uv = uv

    def build(self, *, model_dir: Path, log: Log, timeout: float) -> dict[str, Any]:
        """Build (or reuse) the environment for the model's requirements; returns where it is and how it came."""
        environment = read_model_environment(model_dir=model_dir)
        digest, began = environment.digest(), time.monotonic()
        env_dir = self.envs / digest
        waiting = lambda: log(f"waiting for another build of environment {digest}")  # noqa: E731
        with locked(self.envs / f"{digest}.lock", timeout=timeout * 2, waiting=waiting):
            reused = (env_dir / READY_MARKER).exists()
            if reused:
                log(f"reusing environment {digest}")
                os.utime(env_dir / READY_MARKER)  # its last use, which pruning goes by
            else:
                self._create_environment(environment, digest=digest, model_dir=model_dir, log=log, timeout=timeout)
        record = _read_json(env_dir / READY_MARKER)
        seconds = round(time.monotonic() - began, 2)
        return {**record, "env_dir": str(env_dir), "reused": reused, "seconds": seconds}

    def prune(self, *, keep: set[str], older_than: float) -> list[str]:
        """Delete the environments not in ``keep`` and unused for ``older_than`` seconds (an environment's last use
        is its marker's mtime: built or reused), and what killed builds left behind; the hashes removed. An
        environment being built or reused holds its lock, and is skipped."""
        removed: list[str] = []
        cutoff = time.time() - older_than
        for env_dir in sorted(self.envs.glob("*")) if self.envs.is_dir() else []:
            if not env_dir.is_dir() or env_dir.name.startswith(".") or env_dir.name in keep:
                continue
            marker = env_dir / READY_MARKER
            if marker.exists() and marker.stat().st_mtime > cutoff:
                continue
            try:
                with locked(self.envs / f"{env_dir.name}.lock", timeout=0):
                    shutil.rmtree(env_dir)
                removed.append(env_dir.name)
            except RuntimeFailure:
                continue  # in use right now
        for partial in self.envs.glob(".building-*") if self.envs.is_dir() else []:
            digest = partial.name.removeprefix(".building-").rsplit("-", 1)[0]
            if partial.stat().st_mtime < cutoff and digest not in keep:
                with contextlib.suppress(RuntimeFailure), locked(self.envs / f"{digest}.lock", timeout=0):
                    shutil.rmtree(partial, ignore_errors=True)
        return removed

    def _create_environment(
        self, environment: ModelEnvironment, *, digest: str, model_dir: Path, log: Log, timeout: float
    ) -> None:
        """Build into a temporary folder, check the server imports, then rename into place."""
        for stale in self.envs.glob(f".building-{digest}-*"):
            shutil.rmtree(stale, ignore_errors=True)  # a build killed halfway; we hold the lock, so none is running
        work = Path(tempfile.mkdtemp(prefix=f".building-{digest}-", dir=self.envs))
        try:
            venv = work / "venv"
            python = self._find_python(environment.python, log=log)
            log(f"creating environment {digest} with Python {environment.python}")
            self._uv(["venv", "--relocatable", "--python", python, str(venv)], cwd=model_dir, timeout=timeout)
            requirements = work / "requirements.txt"
            requirements.write_text("\n".join(environment.requirements) + "\n", encoding="utf-8")
            log(f"installing {len(environment.requirements)} requirements")
            install = ["pip", "install", "--python", str(venv / "bin" / "python"), *environment.build_dependencies]
            output = self._uv([*install, "-r", str(requirements)], cwd=model_dir, timeout=timeout)
            for line in output.splitlines()[-3:]:
                log(line.strip())
            self._check_server(venv, timeout=timeout)
            record = {
                "runtime": "local",
                "env_hash": digest,
                "python": str(self.envs / digest / "bin" / "python"),
                "python_version": environment.python,
                "requirements": list(environment.requirements),
                "build_dependencies": list(environment.build_dependencies),
            }
            (venv / READY_MARKER).write_text(json.dumps(record), encoding="utf-8")
            os.rename(venv, self.envs / digest)
            log(f"environment {digest} ready")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _uv(self, args: list[str], *, cwd: Path, timeout: float) -> str:
        """Run uv; its output is returned, or raised in RuntimeFailure.details when it fails."""
        uv = self.uv or find_uv()
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1", "UV_NO_PROGRESS": "1"}
        env.pop("VIRTUAL_ENV", None)  # uv would otherwise warn about, or target, the worker's own venv
        try:
            done = subprocess.run(
                [uv, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as error:
            raise RuntimeFailure(f"uv {args[0]} timed out after {timeout:g} s", str(error.stderr or "")) from None
        output = (done.stdout or "") + (done.stderr or "")
        if done.returncode != 0:
            what = "the model's requirements could not be installed" if "install" in args else f"uv {args[0]} failed"
            raise RuntimeFailure(what, output.strip())
        return output

    def _find_python(self, version: str, *, log: Log) -> str:
        """An interpreter on this host for ``version``, else one of its minor version; never downloaded."""
        minor = ".".join(version.split(".")[:2])
        for wanted in dict.fromkeys([version, minor]):
            try:
                found = self._uv(["python", "find", wanted], cwd=self.envs, timeout=60).strip().splitlines()[-1]
            except RuntimeFailure:
                continue
            if wanted != version:
                log(f"Python {version} is not installed here; using {found} ({wanted})")
            return found
        raise RuntimeFailure(f"no Python {minor} on this host", f"the model asks for Python {version}")

    def _check_server(self, venv: Path, *, timeout: float) -> None:
        """The environment must import MLflow's scoring server, or no instance can ever start."""
        check = [str(venv / "bin" / "python"), "-c", "import mlflow.pyfunc.scoring_server, uvicorn"]
        done = subprocess.run(check, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeFailure("the environment cannot run MLflow's scoring server", done.stderr.strip())
