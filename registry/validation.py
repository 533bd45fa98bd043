"""MLflow's registry validation rules (model names, versions, aliases, tags), reused so that Studio accepts and refuses
exactly what MLflow's server does, with the same error codes and messages."""

from __future__ import annotations

from typing import Any

from mlflow.entities.model_registry.model_version_stages import get_canonical_stage
from mlflow.utils import validation as mv

from tracking.validation import as_studio_error

MAX_MODEL_NAME_LENGTH = 256  # the column's size, as in MLflow's SQL store
MAX_ID_LENGTHS = {"run_id": 32, "model_id": 40, "deployment_job_id": 256}


@as_studio_error
def model_name(name: Any) -> str:
    """A non-empty name without ``/`` or ``:``, of at most 256 characters."""
    mv._validate_model_name(name)
    mv._validate_length_limit("name", MAX_MODEL_NAME_LENGTH, name)
    return name


@as_studio_error
def id_field(field: str, value: str) -> str:
    """A lineage id (``run_id``, ``model_id``) or ``deployment_job_id`` no longer than its column."""
    mv._validate_length_limit(field, MAX_ID_LENGTHS[field], value)
    return value


@as_studio_error
def new_model_name(name: Any) -> str:
    """The target name of a rename."""
    mv._validate_model_renaming(name)
    mv._validate_length_limit("new_name", MAX_MODEL_NAME_LENGTH, name)
    return name


@as_studio_error
def version_number(version: Any) -> int:
    """Versions travel as strings ("3") and are integers here."""
    if isinstance(version, bool):
        version = str(version)
    return mv._validate_model_version(version)


@as_studio_error
def alias_name(alias: Any) -> str:
    """An alias as reads accept it: word characters and dashes, at most 255 characters."""
    mv._validate_model_alias_name(alias)
    return alias


@as_studio_error
def settable_alias_name(alias: Any) -> str:
    """An alias that may be set: also not ``latest`` (any case) and not ``v<number>``, which name versions."""
    mv._validate_model_alias_name(alias)
    mv._validate_model_alias_name_reserved(alias)
    return alias


@as_studio_error
def registered_model_tag(key: str, value: str) -> None:
    """Registry tag key and value rules."""
    mv._validate_registered_model_tag(key, value)


@as_studio_error
def model_version_tag(key: str, value: str) -> None:
    """Model version tag key and value rules."""
    mv._validate_model_version_tag(key, value)


@as_studio_error
def tag_key(key: str) -> None:
    """A tag key as deletes accept it."""
    mv._validate_tag_name(key)


@as_studio_error
def stage(name: str) -> str:
    """A stage name in any case, as its canonical spelling (``production`` -> ``Production``)."""
    return get_canonical_stage(name)
