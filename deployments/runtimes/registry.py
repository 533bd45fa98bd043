"""Runtimes by name: ``get_runtime("local")`` imports the runtime's class only when it is asked for, so that a worker
needs the Docker or Kubernetes client only if it runs such deployments."""

from __future__ import annotations

import importlib
import importlib.util
import threading

from django.conf import settings

from deployments.runtimes.base import Runtime
from studio.errors import StudioError, invalid

# name -> "module.Class"; STUDIO_RUNTIMES (a setting, optional) adds or replaces entries.
RUNTIMES = {
    "local": "deployments.runtimes.local.LocalRuntime",
    "container": "deployments.runtimes.container.ContainerRuntime",
    "kubernetes": "deployments.runtimes.kubernetes.KubernetesRuntime",
}

_instances: dict[tuple[str, str, str], Runtime] = {}
_lock = threading.Lock()


def runtime_classes() -> dict[str, str]:
    """Every runtime name and the class that implements it."""
    return {**RUNTIMES, **getattr(settings, "STUDIO_RUNTIMES", {})}


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``, one instance per process (a local runtime supervises the servers it started)."""
    classes = runtime_classes()
    if name not in classes:
        raise invalid(f"Unknown runtime '{name}'; the runtimes are: {', '.join(sorted(classes))}")
    root = settings.DATA_DIR / "runtimes"
    key = (name, classes[name], str(root))
    with _lock:
        if key not in _instances:
            _instances[key] = _load(name, classes[name])(root=root)
        return _instances[key]


def _load(name: str, dotted: str) -> type[Runtime]:
    module_name, _, class_name = dotted.rpartition(".")
    try:
        runtime_class = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise invalid(f"The runtime '{name}' is not available in this installation ({dotted}: {error})") from error
    if not (isinstance(runtime_class, type) and issubclass(runtime_class, Runtime)):
        raise invalid(f"The runtime '{name}' ({dotted}) is not a Runtime")
    return runtime_class


def check_runtime(name: str) -> str:
    """A runtime name that is known and whose module is installed, checked without importing it (the web side
    validates names; only workers load runtimes)."""
    classes = runtime_classes()
    if name not in classes:
        raise invalid(f"Unknown runtime '{name}'; the runtimes are: {', '.join(sorted(classes))}")
    module_name = classes[name].rpartition(".")[0]
    try:
        found = importlib.util.find_spec(module_name) is not None
    except ImportError:
        found = False
    if not found:
        raise invalid(f"The runtime '{name}' is not available in this installation ({classes[name]})")
    return name


def available_runtimes() -> list[str]:
    """The runtimes this installation can run (known, and their module installed), for forms and the API."""
    names = []
    for name in sorted(runtime_classes(), key=lambda n: (n != "local", n)):
        try:
            names.append(check_runtime(name))
        except StudioError:
            continue
    return names
