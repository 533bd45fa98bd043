"""The interface every runtime implements: build, start, status, logs, stop, remove.

A runtime knows nothing of Django or the database. The deployments service hands it a ``DeploymentSpec`` (plain
values), records what ``build`` and ``start`` return (JSON-able dicts) on the deployment's row, and passes them back
on the later calls, from whichever worker process takes the next task. Every call may be repeated: a task retried
after a crash calls ``build``/``start``/``stop`` again with the same arguments and must not leave two of anything.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Log = Callable[[str], None]
"""Where a runtime reports progress while it works (a line at a time; the service stores it as an event)."""

State = Literal["starting", "healthy", "unhealthy", "stopped", "failed"]
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # probes go to 127.0.0.1, never a proxy


def pings(url: str) -> bool:
    """Whether the scoring server at ``url`` answers ``/ping`` with 200 within two seconds."""
    try:
        with _NO_PROXY.open(f"{url}/ping", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


class RuntimeFailure(Exception):
    """A build or start that cannot succeed (requirements that do not install, a model that does not load), with
    the tool's own output (pip's error, the server's traceback) in ``details``."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


@dataclass(frozen=True)
class DeploymentSpec:
    """What to run: one model version's files, as many instances as asked."""

    deployment_id: int
    name: str  # a slug unique among deployments: process names, container names, log files
    model_dir: Path  # a local folder holding the model's files (MLmodel at its top)
    instances: int = 1
    environment: dict[str, str] = field(default_factory=dict)  # extra environment variables of the server
    options: dict[str, Any] = field(default_factory=dict)  # runtime-specific settings (base image, resources, ...)


@dataclass(frozen=True)
class RuntimeStatus:
    """What is running now: the state, the base URL of each healthy instance (the gateway routes to these) and a
    message a person can read."""

    state: State
    urls: list[str] = field(default_factory=list)
    message: str = ""


class Runtime(ABC):
    """One way of running scoring servers."""

    name: str

    @abstractmethod
    def build(self, spec: DeploymentSpec, log: Log) -> dict[str, Any]:
        """Prepare what the server needs (an environment, an image); returns the build's record. Reuses an equal
        build when there is one (the same requirements: seconds instead of minutes). Raises RuntimeFailure."""

    @abstractmethod
    def start(self, spec: DeploymentSpec, build: dict[str, Any], log: Log) -> dict[str, Any]:
        """Start ``spec.instances`` servers from the build; returns the handle the other calls take. Returns once
        started, not once healthy (``status`` tells). Raises RuntimeFailure."""

    @abstractmethod
    def status(self, handle: dict[str, Any]) -> RuntimeStatus:
        """Probe the servers (``/ping`` or the engine's state); never raises for a server that is down."""

    @abstractmethod
    def logs(self, handle: dict[str, Any], tail: int = 200) -> str:
        """The last ``tail`` lines the servers wrote."""

    @abstractmethod
    def stop(self, handle: dict[str, Any]) -> None:
        """Stop the servers; stopping what is already stopped is fine."""

    @abstractmethod
    def remove(self, handle: dict[str, Any] | None, build: dict[str, Any] | None) -> None:
        """Stop and delete what this deployment alone holds (its processes, containers, logs); shared builds stay."""
