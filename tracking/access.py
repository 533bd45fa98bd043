"""Who may call the tracking views: locators that map a request to the experiments it touches, and the artifact
proxy's rule, which maps a store path to its owner.

A run, a logged model and their artifacts follow their experiment (MLflow's auth app does the same). A locator
returns the ids of the experiments the request names (an experiment id is taken as it is: the rule looks it up only
when it refuses); a malformed id or an unknown run gives ``[]``, so that the view answers its own 400 or 404 with
MLflow's message (the view reads the same cached fields, so it fails the same way). See ``studio.auth.access`` for
the rules themselves.

Artifact paths (``/api/2.0/mlflow-artifacts/...``) are ``<experiment id>/<run id>/artifacts/...`` and
``<experiment id>/models/<model id>/artifacts/...``. Another app that keeps files under a top-level folder of its own
registers that folder with :func:`register_artifact_root` (the registry: ``registry/<registered model id>/...``);
any other path is for staff only, so an unforeseen folder fails closed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from studio.api import Args, request_args
from studio.auth import permissions
from studio.auth.access import STAFF, Locator, Rule, on, request_fields
from studio.errors import StudioError
from tracking.artifacts import safe_path
from tracking.models import Experiment, LoggedModel, Run
from tracking.store.run_compare import parse_run_ids

EXPERIMENT = "experiment"
# The canonical spelling of an experiment id, as the store names its folder: "01" or "+1" is another folder.
_CANONICAL_ID = re.compile(r"0|[1-9][0-9]{0,18}")
_INT64_MAX = 2**63 - 1


def canonical_id(text: Any) -> int | None:
    """An id written as the store writes it (ASCII digits, no sign or leading zero, within int64), else None."""
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str) or not _CANONICAL_ID.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _INT64_MAX else None


def _int_id(value: Any) -> int | None:
    """An experiment id as the store parses it (``int(...)``), within int64, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if -(2**63) <= number <= _INT64_MAX else None


def experiment_ids(ids: Iterable[Any]) -> list[int]:
    """The experiment ids among ``ids``, without a query: the rule looks them up only when it refuses (so that an
    unknown id gets the view's 404)."""
    return sorted({i for i in (_int_id(v) for v in ids) if i is not None})


def experiments_of_runs(run_ids: Iterable[Any]) -> list[int]:
    """The experiments of the runs that exist among ``run_ids``."""
    wanted = {r for r in run_ids if isinstance(r, str) and r}
    if not wanted:
        return []
    return list(Run.objects.filter(run_uuid__in=wanted).values_list("experiment_id", flat=True).distinct())


def experiments_of_models(model_ids: Iterable[Any]) -> list[int]:
    """The experiments of the logged models that exist among ``model_ids``."""
    wanted = {m for m in model_ids if isinstance(m, str) and m}
    if not wanted:
        return []
    return list(LoggedModel.objects.filter(pk__in=wanted).values_list("experiment_id", flat=True).distinct())


def _field_locator(read: Callable[[Args], Iterable[Any]], resolve: Callable[[Iterable[Any]], list[int]]) -> Locator:
    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
        args = request_fields(request, kwargs)
        if args is None:
            return []
        try:
            values = list(read(args))
        except StudioError:
            return []  # a missing or mistyped field: the view refuses it with MLflow's message
        return resolve(values)

    return locate


# --- API fields ------------------------------------------------------------------------------------------------------


def experiment_field(name: str = "experiment_id", default: str | None = None) -> Locator:
    """The experiment whose id is the request field ``name`` (``default`` when absent, as the view reads it)."""
    return _field_locator(lambda args: [args.str(name, default=default)], experiment_ids)


def experiment_name_field(name: str = "experiment_name") -> Locator:
    """The experiment whose exact name is the request field ``name``."""

    def by_name(values: Iterable[Any]) -> list[int]:
        names = [v for v in values if isinstance(v, str)]
        return list(Experiment.objects.filter(name__in=names).values_list("pk", flat=True)) if names else []

    return _field_locator(lambda args: [args.str(name)], by_name)


def run_field() -> Locator:
    """The experiment of the run named by ``run_id`` (or MLflow's legacy ``run_uuid``)."""
    return _field_locator(lambda args: [args.str("run_id") or args.str("run_uuid")], experiments_of_runs)


def runs_field(name: str) -> Locator:
    """The experiments of the runs listed in the request field ``name`` (bulk metric reads)."""
    return _field_locator(lambda args: args.str_list(name), experiments_of_runs)


def source_run_field(name: str = "source_run_id") -> Locator:
    """The experiment of the run a logged model says it comes from."""
    return _field_locator(lambda args: [args.str(name)], experiments_of_runs)


def _metric_model_ids(args: Args) -> list[Any]:
    ids = [args.data.get("model_id")]  # log-metric
    ids += [m.get("model_id") for m in args.list("metrics") if isinstance(m, dict)]  # log-batch
    return ids


def metric_models_field() -> Locator:
    """The experiments of the logged models that logged metrics name (``model_id`` of log-metric and log-batch)."""
    return _field_locator(_metric_model_ids, experiments_of_models)


def _listed_model_ids(args: Args) -> list[Any]:
    return [m.get("model_id") for m in args.list("models") if isinstance(m, dict)]


def listed_models_field() -> Locator:
    """The experiments of the logged models in ``models`` (log-inputs, outputs)."""
    return _field_locator(_listed_model_ids, experiments_of_models)


# --- URL kwargs (pages, and the API's path parameters) ---------------------------------------------------------------


def experiment_kwarg(name: str = "experiment_id") -> Locator:
    """The experiment of the URL's ``<int:experiment_id>``."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
        return experiment_ids([kwargs.get(name)])

    return locate


def run_kwarg(name: str = "run_id") -> Locator:
    """The experiment of the URL's run."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
        return experiments_of_runs([kwargs.get(name)])

    return locate


def logged_model_kwarg(name: str = "model_id") -> Locator:
    """The experiment of the URL's logged model (deleted ones too: writes reach them)."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
        return experiments_of_models([kwargs.get(name)])

    return locate


# The run pages (detail, artifacts): READ on the run's experiment.
RUN_READ: Rule = on(EXPERIMENT, permissions.READ, run_kwarg())


def compared_runs(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
    """The experiments of the runs the compare page's ``?runs=`` names (as the page parses them)."""
    return experiments_of_runs(parse_run_ids(request.GET.getlist("runs")).ids)


# --- artifact paths --------------------------------------------------------------------------------------------------

IdFrom = Callable[[list[str]], "int | None"]


@dataclass(frozen=True)
class ArtifactRoot:
    """A top-level folder of the artifact store that another app owns: ``kind`` objects, the id read by ``id_from``."""

    kind: str
    id_from: IdFrom


_ROOTS: dict[str, ArtifactRoot] = {}


def register_artifact_root(first_segment: str, kind: str, id_from: IdFrom) -> None:
    """Let paths under ``<first_segment>/`` be judged on a ``kind`` object (call it from an ``AppConfig.ready``).

    ``id_from`` gets the normalised path's segments (``safe_path(path).split("/")``, the first one included) and
    returns the object's id, or None when the path names none (then only staff may touch it). The folder name is
    matched without regard to case, as ``tracking.artifacts.in_registry_root`` matches it. The registry calls
    ``register_artifact_root("registry", "registered_model", lambda parts: canonical_id(parts[1]) if len(parts) > 1
    else None)``.
    """
    if kind not in permissions.KINDS:
        raise ValueError(f"unknown permission kind {kind!r}")
    _ROOTS[first_segment.casefold()] = ArtifactRoot(kind, id_from)


def artifact_owner(path: str) -> tuple[str, int] | None:
    """The object (kind, id) a store path belongs to, or None when it belongs to none (staff only).

    The path is normalised as the store normalises it (``safe_path``; traversal is a 400 raised here, as the store
    raises it), so the rule and the store agree on the folder. A first segment holding a ``%`` is owned by no one:
    decoded once more (by a proxy in front, or a future backend) it could name another folder.
    """
    parts = safe_path(path).split("/")
    first = parts[0]
    if not first or "%" in first:
        return None
    if (root := _ROOTS.get(first.casefold())) is not None:
        object_id = root.id_from(parts)
        return None if object_id is None else (root.kind, object_id)
    experiment_id = canonical_id(first)
    if experiment_id is None or not Experiment.objects.filter(pk=experiment_id).exists():
        return None
    return EXPERIMENT, experiment_id


@dataclass(frozen=True)
class OnArtifactPath(Rule):
    """``level`` on the owner of the artifact path in the URL (``artifact_path``) or, for listings, in ``?path=``."""

    level: permissions.Level
    in_query: bool = False

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        super().check(request, kwargs)
        if self.in_query:
            # The listing reads ?path= through request_args, as the view does (the last value wins).
            path = request_args(request, kwargs).str("path", default="")
        else:
            path = kwargs.get("artifact_path", "")  # never the body: uploads stream it
        owner = artifact_owner(path)
        if owner is None:
            STAFF.check(request, kwargs)
        else:
            permissions.require(request.user, owner[0], [owner[1]], self.level)

    def __repr__(self) -> str:
        return f"OnArtifactPath({self.level.name}{', ?path=' if self.in_query else ''})"


def on_artifact_path(level: permissions.Level, *, in_query: bool = False) -> Rule:
    """The artifact proxy's rule: ``level`` on the experiment (or registered object) that owns the path."""
    return OnArtifactPath(level, in_query)
