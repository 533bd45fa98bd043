"""Who may touch which registered model: the registry's locators for ``studio.auth.access`` rules.

Permissions are kept per registered model (kind ``registered_model``, by primary key); a version follows its model.
A locator returns the ids a request names, or ``[]`` when it names nothing that exists (or cannot be read), so
that the view answers its own 404 or 400. Registering a version also reads its source, so ``SOURCE_READABLE``
requires READ on what the files come from: the run's or logged model's experiment, or the registered model of a
``models:/<name>/...`` source (as MLflow's auth app: a registered model is itself the boundary of its files).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.utils.models import _parse_model_uri

from registry.models import RegisteredModel
from registry.store import events, sources
from studio.api import Args
from studio.auth import permissions
from studio.auth.access import Locator, Rule, denied, request_field, request_fields
from studio.errors import StudioError
from tracking.access import artifact_owner, canonical_id
from tracking.models import LoggedModel, Run

KIND = "registered_model"


def model_ids(name: object) -> list[int]:
    """The id of the live registered model with this name, or ``[]``."""
    if not isinstance(name, str) or not name:
        return []
    return list(RegisteredModel.objects.filter(name=name).values_list("pk", flat=True)[:1])


def model_named(field: str = "name") -> Locator:
    """API: the registered model named by the request's ``field`` (MLflow's ``name``)."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        return model_ids(request_field(request, kwargs, field))

    return locate


def model_in_path(kwarg: str = "name") -> Locator:
    """Pages: the registered model named by the URL's ``kwarg``."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        return model_ids(kwargs.get(kwarg))

    return locate


def trail_models(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
    """The models a name stands for in the audit trail: the live one, else the deleted ones that had the name."""
    name = request_field(request, kwargs, "name")
    if not name:
        return []
    try:
        return events.model_ids_for_name(name)
    except StudioError:
        return []


def run_experiment(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
    """The experiment of the request's ``run_id`` (or MLflow's legacy ``run_uuid``)."""
    run_id = request_field(request, kwargs, "run_id") or request_field(request, kwargs, "run_uuid")
    if not run_id:
        return []
    return list(Run.objects.filter(pk=run_id).values_list("experiment_id", flat=True)[:1])


# --- where a new version's files come from -------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceOwners:
    """What holds a version source: experiments and registered models to READ, or nothing known (``unowned``)."""

    experiments: frozenset[int] = frozenset()
    models: frozenset[int] = frozenset()
    unowned: bool = False


def store_path_owners(path: str) -> SourceOwners:
    """The owner of a folder of the artifact store as the artifact proxy judges it (``tracking.access``): an
    experiment, a registered model (``registry/<model id>/...``), or none."""
    try:
        owner = artifact_owner(path)
    except StudioError:
        return SourceOwners(unowned=True)
    if owner is None:
        return SourceOwners(unowned=True)
    kind, object_id = owner
    if kind == KIND:
        return SourceOwners(models=frozenset({object_id}))
    return SourceOwners(experiments=frozenset({object_id}))


def _lineage_experiments(run_id: str, model_id: str) -> set[int]:
    """The experiments of the run and logged model a request names (MLflow's auth app requires READ on them)."""
    found: set[int] = set()
    if run_id:
        found.update(Run.objects.filter(pk=run_id).values_list("experiment_id", flat=True)[:1])
    if model_id:
        found.update(LoggedModel.objects.filter(pk=model_id).values_list("experiment_id", flat=True)[:1])
    return found


def source_owners(args: Args) -> SourceOwners:
    """What a ``model-versions/create`` request reads: resolved the way the store resolves it, so that the rule and
    the copy agree on where the files come from. A source the store refuses owns nothing (the view says why)."""
    try:
        source = args.str("source", default="") or ""
        run_id, model_id = args.str("run_id", default="") or "", args.str("model_id", default="") or ""
    except StudioError:
        return SourceOwners()
    if not source:
        return SourceOwners()
    scheme = urllib.parse.urlparse(source).scheme.lower()
    if scheme == "models":
        try:
            parsed = _parse_model_uri(source)
        except MlflowException:
            return SourceOwners()
        if parsed.name is not None:  # another registered version: its model is the boundary of its files
            return SourceOwners(models=frozenset(model_ids(parsed.name)))
    try:
        resolved = sources.resolve(source, run_id=run_id, model_id=model_id)
    except (StudioError, MlflowException):
        return SourceOwners()
    experiments = _lineage_experiments(run_id, model_id)
    if resolved.experiment_id is not None:
        experiments.add(resolved.experiment_id)
    if scheme != "mlflow-artifacts" or resolved.store_path is None:
        return SourceOwners(experiments=frozenset(experiments))
    # The folder's owner as the proxy sees it, besides the lineage: a run's folder under a custom artifact location
    # has no owning experiment to the proxy, but its run has one.
    stored = store_path_owners(resolved.store_path)
    owned = experiments | stored.experiments
    return SourceOwners(frozenset(owned), stored.models, unowned=stored.unowned and not owned)


class _SourceReadable(Rule):
    """READ on whatever a new version's files are copied from; a store folder that no experiment or model holds is
    for staff only, as it is in the artifact proxy."""

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        super().check(request, kwargs)
        args = request_fields(request, kwargs)
        if args is None:
            return
        owners = source_owners(args)
        if owners.experiments:
            permissions.require(request.user, "experiment", owners.experiments, permissions.READ)
        if owners.models:
            permissions.require(request.user, KIND, owners.models, permissions.READ)
        if owners.unowned and settings.STUDIO_AUTH and not request.user.is_staff:
            raise denied("Permission denied: only staff may register files that no experiment or model holds.")

    def __repr__(self) -> str:
        return "SOURCE_READABLE"


SOURCE_READABLE: Rule = _SourceReadable()


# --- the artifact proxy ---------------------------------------------------------------------------------------------


def registry_path_model(parts: list[str]) -> int | None:
    """The registered model whose copies a proxy path ``registry/<model id>/...`` holds (its segments, the first
    included), for ``tracking.access.register_artifact_root``."""
    return canonical_id(parts[1]) if len(parts) > 1 else None


def visible_models(request: HttpRequest) -> permissions.Visibility:
    """The registered models the caller may read (everything while ``STUDIO_AUTH`` is off)."""
    return permissions.visibility(request.user, KIND)


__all__ = [
    "KIND",
    "SOURCE_READABLE",
    "SourceOwners",
    "model_ids",
    "model_in_path",
    "model_named",
    "registry_path_model",
    "run_experiment",
    "source_owners",
    "store_path_owners",
    "trail_models",
    "visible_models",
]
