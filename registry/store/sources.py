"""Where a new model version's files come from: a model version ``source`` resolved to a folder of the artifact
store (to be copied into the registry) or to an external URI (kept as a reference), with its lineage.

Accepted sources, as MLflow's server accepts them (``mlflow/server/handlers.py``):
- ``models:/m-<id>``: a logged model (MLflow 3's ``log_model(registered_model_name=...)`` sends this);
- ``runs:/<run_id>/<path>``: a folder of a run's artifacts, or the run's logged model named ``<path>``;
- ``mlflow-artifacts:/<path>``: any folder the server stores;
- ``models:/<name>/<version|stage|latest>`` and ``models:/<name>@<alias>``: another registered version
  (``copy_model_version`` sends this);
- other URIs (``s3://``, ``gs://``, ``https://``, ...): external, not copied, since Studio does not own them.
A path on the client's machine cannot be read by the server and is refused.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from mlflow.exceptions import MlflowException
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository
from mlflow.store.artifact.utils.models import _parse_model_uri

from studio.errors import StudioError, invalid
from tracking import artifacts
from tracking.models import LoggedModel, Run

_LOCAL_SCHEMES = {"", "file"}
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_MODEL_ID = re.compile(r"m-[0-9a-f]{32}")


@dataclass(frozen=True)
class ResolvedSource:
    """A source resolved: ``store_path`` to copy from (None for an external ``external_uri``) and lineage ids."""

    source: str
    store_path: str | None = None
    external_uri: str = ""
    run_id: str = ""
    model_id: str = ""
    experiment_id: int | None = None


def _wrong_owner(source: str, field: str) -> StudioError:
    return invalid(
        f"Invalid model version source: '{source}'. The {field} request parameter must identify the resource that "
        "contains the source."
    )


def _run(run_id: str, source: str) -> Run:
    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        raise _wrong_owner(source, "run_id")
    return run


def _logged_model(model_id: str, source: str) -> LoggedModel:
    model = LoggedModel.objects.filter(pk=model_id).exclude(lifecycle_stage="deleted").first()
    if model is None:
        raise _wrong_owner(source, "model_id")
    return model


def _within(path: str, root_uri: str) -> bool:
    try:
        root = artifacts.proxy_path(root_uri)
    except StudioError:
        return False
    return path == root or path.startswith(root + "/")


def resolve(source: str, *, run_id: str = "", model_id: str = "") -> ResolvedSource:
    """The folder (or external URI) and lineage of a model version source; INVALID_PARAMETER_VALUE when it names
    nothing this server can register."""
    parsed = urllib.parse.urlparse(source)
    scheme = parsed.scheme.lower()
    if scheme == "models":
        return _from_models_uri(source, run_id=run_id, model_id=model_id)
    if scheme == "runs":
        if model_id:
            raise _wrong_owner(source, "model_id")
        return _from_run(source, run_id=run_id)
    if scheme == "mlflow-artifacts":
        return _from_store_path(source, run_id=run_id, model_id=model_id)
    if scheme in _LOCAL_SCHEMES or len(scheme) == 1:  # a plain path, file://, or a Windows drive letter
        raise invalid(
            f"Invalid model version source: '{source}'. Studio keeps its own copy of every registered version, so "
            "the source must be a runs:/, models:/ or mlflow-artifacts:/ URI (or an external URI such as s3://...): "
            "the server cannot read a path on the client's machine."
        )
    _check_no_traversal(source)
    experiment_id = Run.objects.filter(pk=run_id).values_list("experiment_id", flat=True).first() if run_id else None
    return ResolvedSource(source, external_uri=source, run_id=run_id, model_id=model_id, experiment_id=experiment_id)


def _check_no_traversal(source: str) -> None:
    decoded = source
    while (unquoted := urllib.parse.unquote_plus(decoded)) != decoded:
        decoded = unquoted
    if "\x00" in decoded or ".." in decoded.split("/"):
        raise invalid(
            f"Invalid model version source: '{source}'. If supplying a source as an http, https, local file path, "
            "ftp, objectstore, or mlflow-artifacts uri, an absolute path must be provided without relative path "
            "references present. Please provide an absolute path."
        )


def _from_models_uri(source: str, *, run_id: str, model_id: str) -> ResolvedSource:
    if urllib.parse.urlparse(source).netloc:
        raise invalid(
            f"Invalid model version source: '{source}'. Registered model sources must use the active model registry."
        )
    try:
        parsed = _parse_model_uri(source)
    except MlflowException as exc:
        raise invalid(f"Invalid model version source: '{source}'. {exc.message}") from None
    if parsed.model_id is not None:
        if model_id and model_id != parsed.model_id:
            raise _wrong_owner(source, "model_id")
        logged = _logged_model(parsed.model_id, source)
        return ResolvedSource(
            source,
            store_path=artifacts.proxy_path(logged.artifact_uri),
            run_id=run_id or logged.source_run_id or "",
            model_id=logged.model_id,
            experiment_id=logged.experiment_id,
        )
    from registry.store.versions import resolve_model_uri

    version = resolve_model_uri(source)
    if (run_id and run_id != version.run_id) or (model_id and model_id != version.model_id):
        raise invalid(
            f"Invalid model version source: '{source}'. The run_id and model_id request parameters must match the "
            "referenced model version."
        )
    return ResolvedSource(
        f"models:/{version.registered_model.name}/{version.version}",
        store_path=version.storage_path or None,
        external_uri=version.storage_uri,
        run_id=version.run_id,
        model_id=version.model_id,
        experiment_id=version.experiment_id,
    )


def _from_run(source: str, *, run_id: str) -> ResolvedSource:
    if urllib.parse.urlparse(source).netloc:
        raise _wrong_owner(source, "run_id")
    try:
        source_run_id, path = RunsArtifactRepository.parse_runs_uri(source)
    except MlflowException as exc:
        raise invalid(exc.message) from None
    if run_id and run_id != source_run_id:
        raise _wrong_owner(source, "run_id")
    run = _run(source_run_id, source)
    relative = artifacts.safe_path(path or "")
    root = artifacts.proxy_path(run.artifact_uri)
    folder = f"{root}/{relative}" if relative else root
    if relative and not artifacts.get_artifact_store().exists(folder):
        # MLflow 3 keeps a model's files with the logged model, not the run: ``runs:/<id>/model`` names the run's
        # logged model called "model", as the client's own ``register_model`` resolves it.
        logged = (
            LoggedModel.objects.filter(source_run_id=run.pk, name=relative)
            .exclude(lifecycle_stage="deleted")
            .order_by("-creation_timestamp_ms")
            .first()
        )
        if logged is not None:
            return ResolvedSource(
                source,
                store_path=artifacts.proxy_path(logged.artifact_uri),
                run_id=run.pk,
                model_id=logged.model_id,
                experiment_id=run.experiment_id,
            )
    return ResolvedSource(source, store_path=folder, run_id=run.pk, experiment_id=run.experiment_id)


def _from_store_path(source: str, *, run_id: str, model_id: str) -> ResolvedSource:
    path = artifacts.proxy_path(source)
    if model_id:
        logged = _logged_model(model_id, source)
        if not _within(path, logged.artifact_uri):
            raise _wrong_owner(source, "model_id")
        return ResolvedSource(
            source,
            store_path=path,
            run_id=run_id or logged.source_run_id or "",
            model_id=model_id,
            experiment_id=logged.experiment_id,
        )
    if run_id:
        run = _run(run_id, source)
        if not _within(path, run.artifact_uri):
            raise _wrong_owner(source, "run_id")
        return ResolvedSource(source, store_path=path, run_id=run.pk, experiment_id=run.experiment_id)
    return _inferred_lineage(source, path)


def _inferred_lineage(source: str, path: str) -> ResolvedSource:
    """A bare ``mlflow-artifacts:/`` path: the run or logged model whose artifact folder holds it, if any."""
    parts = path.split("/")
    for part in parts:
        if _MODEL_ID.fullmatch(part):
            logged = LoggedModel.objects.filter(pk=part).first()
            if logged is not None and _within(path, logged.artifact_uri):
                return ResolvedSource(
                    source,
                    store_path=path,
                    run_id=logged.source_run_id or "",
                    model_id=logged.model_id,
                    experiment_id=logged.experiment_id,
                )
        elif _RUN_ID.fullmatch(part):
            run = Run.objects.filter(pk=part).first()
            if run is not None and _within(path, run.artifact_uri):
                return ResolvedSource(source, store_path=path, run_id=run.pk, experiment_id=run.experiment_id)
    return ResolvedSource(source, store_path=path)
