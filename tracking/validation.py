"""MLflow's own validation rules (names, lengths, batch limits), reused so that Studio accepts and refuses exactly
what MLflow's server does; its exceptions become ``StudioError`` with the same code and message."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from mlflow.exceptions import MlflowException
from mlflow.utils import validation as mv

from studio.errors import StudioError

F = TypeVar("F", bound=Callable[..., Any])

MAX_PARAMS_TAGS_PER_BATCH = mv.MAX_PARAMS_TAGS_PER_BATCH
MAX_METRICS_PER_BATCH = mv.MAX_METRICS_PER_BATCH
MAX_ENTITIES_PER_BATCH = mv.MAX_ENTITIES_PER_BATCH
MAX_ENTITY_KEY_LENGTH = mv.MAX_ENTITY_KEY_LENGTH
MAX_PARAM_VAL_LENGTH = mv.MAX_PARAM_VAL_LENGTH
MAX_TAG_VAL_LENGTH = mv.MAX_TAG_VAL_LENGTH


def as_studio_error(func: F) -> F:
    """Run one of MLflow's validators, turning its MlflowException into a StudioError with the same code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MlflowException as exc:
            raise StudioError(exc.message, exc.error_code) from None

    return wrapper  # type: ignore[return-value]


@as_studio_error
def experiment_name(name: Any) -> str:
    """A non-empty string of at most 500 characters."""
    mv._validate_experiment_name(name)
    return name


@as_studio_error
def experiment_tag(key: str, value: str) -> None:
    """Experiment tag key and value rules."""
    mv._validate_experiment_tag(key, value)


@as_studio_error
def param(key: str, value: str, path: str = "") -> tuple[str, str]:
    """A param key and value; returns them, the value truncated where MLflow truncates."""
    checked = mv._validate_param(key, value, path=path)
    return checked.key, checked.value


@as_studio_error
def tag(key: str, value: str, path: str = "") -> tuple[str, str]:
    """A run tag key and value; returns them, the value truncated where MLflow truncates."""
    checked = mv._validate_tag(key, value, path=path)
    return checked.key, checked.value


@as_studio_error
def metric_name(key: str, path: str = "") -> None:
    """A metric key: MLflow's character and length rules."""
    mv._validate_metric_name(key, path or "name")
    mv._validate_length_limit("Metric name", MAX_ENTITY_KEY_LENGTH, key)


@as_studio_error
def batch_limits(metrics: list, params: list, tags: list) -> None:
    """At most 1000 metrics, 100 params, 100 tags and 1000 entities in one batch."""
    mv._validate_batch_log_limits(metrics, params, tags)


@as_studio_error
def unique_param_keys(params: list) -> None:
    """No param key twice in one batch."""
    mv._validate_param_keys_unique(params)


@as_studio_error
def logged_model_name(name: str | None) -> None:
    """Logged model name rules of MLflow 3."""
    mv._validate_logged_model_name(name)


@as_studio_error
def parse_experiment_id(experiment_id: Any) -> int:
    """Experiment ids travel as strings but are integers here."""
    return mv._parse_experiment_id(experiment_id)
