"""MLflow 3 logged models: create, finalize, tag, parametrize, delete and search.

A logged model lives in an experiment and keeps its files under ``<experiment artifact location>/models/<id>/
artifacts``. Its metrics are the run metrics that were logged with its ``model_id`` (``LoggedModelMetric``, written by
``tracking.store.metrics.write_metrics``).
"""

from __future__ import annotations

import binascii
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from mlflow.exceptions import MlflowException
from mlflow.store.tracking import SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
from mlflow.utils import validation as mv
from mlflow.utils.name_utils import _generate_random_name
from mlflow.utils.search_utils import SearchLoggedModelsPaginationToken, SearchLoggedModelsUtils

from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import invalid, not_found
from tracking import artifacts, validation
from tracking.models import (
    LifecycleStage,
    LoggedModel,
    LoggedModelMetric,
    LoggedModelParam,
    LoggedModelStatus,
    LoggedModelTag,
)
from tracking.store.common import now_ms
from tracking.store.experiments import get_active_experiment

MODELS_FOLDER = "models"
ARTIFACTS_FOLDER = "artifacts"
# Column sizes of tracking.models; MLflow's server bounds these values by its columns too.
_MAX_KEY_LENGTH = 250
_MAX_NAME_LENGTH = 500
_MAX_RUN_ID_LENGTH = 32
# The short names MLflow's Python entity uses, accepted in filters beside the proto names.
_STATUS_ALIASES = {
    "PENDING": LoggedModelStatus.PENDING,
    "READY": LoggedModelStatus.READY,
    "FAILED": LoggedModelStatus.UPLOAD_FAILED,
}


def _check_key(kind: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise invalid(f"Missing value for required parameter '{kind} key'.")
    if len(key) > _MAX_KEY_LENGTH:
        raise invalid(mv.exceeds_maximum_length(f"{kind} key", _MAX_KEY_LENGTH))
    return key


def _check_length(name: str, value: str | None, limit: int) -> None:
    if value and len(value) > limit:
        raise invalid(mv.exceeds_maximum_length(name, limit))


def _model_queryset() -> QuerySet[LoggedModel]:
    return LoggedModel.objects.prefetch_related("tags", "params", "metrics")


def get_logged_model(model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
    """The logged model with its tags, params and metrics; a deleted one only when asked for."""
    query = _model_queryset().filter(pk=model_id)
    if not allow_deleted:
        query = query.exclude(lifecycle_stage=LifecycleStage.DELETED)
    model = query.first()
    if model is None:
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return model


def _get_model_row(model_id: str) -> LoggedModel:
    # Writes reach deleted models too, as in MLflow's store.
    model = LoggedModel.objects.filter(pk=model_id).first()
    if model is None:
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return model


def create_logged_model(
    *,
    experiment_id: str,
    name: str | None = None,
    model_type: str = "",
    source_run_id: str = "",
    params: Iterable[tuple[str, str]] = (),
    tags: Iterable[tuple[str, str]] = (),
) -> LoggedModel:
    """Create a PENDING model in an active experiment; a missing name gets a random one, as in MLflow."""
    validation.logged_model_name(name)
    _check_length("name", name, _MAX_NAME_LENGTH)
    _check_length("model_type", model_type, _MAX_NAME_LENGTH)
    _check_length("source_run_id", source_run_id, _MAX_RUN_ID_LENGTH)
    param_map = {_check_key("Param", k): v for k, v in params}
    tag_map = {_check_key("Tag", k): v for k, v in tags}
    experiment = get_active_experiment(experiment_id)
    model_id = f"m-{uuid.uuid4().hex}"
    now = now_ms()
    with transaction.atomic():
        model = LoggedModel.objects.create(
            model_id=model_id,
            experiment=experiment,
            name=name or _generate_random_name(),
            model_type=model_type or "",
            # The source run is not checked, as in MLflow: a model may outlive or predate its run's row.
            source_run_id=source_run_id or None,
            status=LoggedModelStatus.PENDING,
            artifact_uri="/".join(
                [experiment.artifact_location.rstrip("/"), MODELS_FOLDER, model_id, ARTIFACTS_FOLDER]
            ),
            creation_timestamp_ms=now,
            last_updated_timestamp_ms=now,
        )
        LoggedModelParam.objects.bulk_create(
            [LoggedModelParam(model=model, key=k, value=v) for k, v in param_map.items()]
        )
        LoggedModelTag.objects.bulk_create([LoggedModelTag(model=model, key=k, value=v) for k, v in tag_map.items()])
    return get_logged_model(model_id)


def finalize_logged_model(*, model_id: str, status: str) -> LoggedModel:
    """Set the final status (``LOGGED_MODEL_READY`` once the files are uploaded)."""
    if status not in LoggedModelStatus.values:
        raise invalid(f"Invalid logged model status '{status}'. Valid values are {LoggedModelStatus.values}")
    model = _get_model_row(model_id)
    LoggedModel.objects.filter(pk=model.pk).update(status=status, last_updated_timestamp_ms=now_ms())
    return get_logged_model(model_id, allow_deleted=True)


def delete_logged_model(*, model_id: str, user: str = "") -> None:
    """Soft-delete a model: it disappears from get and search; its files stay until it is purged."""
    model = _get_model_row(model_id)
    now = now_ms()
    LoggedModel.objects.filter(pk=model.pk).update(
        lifecycle_stage=LifecycleStage.DELETED, deleted_time=now, deleted_by=user, last_updated_timestamp_ms=now
    )


def restore_logged_model(*, model_id: str) -> None:
    """Take a deleted model out of the trash (a Studio verb: MLflow has no restore for logged models)."""
    model = _get_model_row(model_id)
    if model.lifecycle_stage != LifecycleStage.DELETED:
        raise invalid(f"Logged model {model_id} is not deleted.")
    if model.experiment.lifecycle_stage == LifecycleStage.DELETED:
        raise invalid(f"Logged model {model_id} is in a deleted experiment: restore the experiment first.")
    LoggedModel.objects.filter(pk=model.pk).update(
        lifecycle_stage=LifecycleStage.ACTIVE, deleted_time=None, deleted_by="", last_updated_timestamp_ms=now_ms()
    )


def log_logged_model_params(*, model_id: str, params: list[tuple[str, str]]) -> None:
    """Add params to a model; like run params they are immutable, so only a repeat of the same value is allowed."""
    param_map = {_check_key("Param", k): v for k, v in params}
    model = _get_model_row(model_id)
    with transaction.atomic():
        existing = dict(
            LoggedModelParam.objects.filter(model=model, key__in=list(param_map)).values_list("key", "value")
        )
        changed = {k: (existing[k], v) for k, v in param_map.items() if k in existing and existing[k] != v}
        if changed:
            raise invalid(
                f"Changing param values is not allowed. Params {changed} were already logged for model ID '{model_id}'."
            )
        LoggedModelParam.objects.bulk_create(
            [LoggedModelParam(model=model, key=k, value=v) for k, v in param_map.items() if k not in existing],
            ignore_conflicts=True,
        )


def set_logged_model_tags(*, model_id: str, tags: list[tuple[str, str]]) -> LoggedModel:
    """Set (or overwrite) tags; a key repeated in one call keeps its last value."""
    tag_map = {_check_key("Tag", k): v for k, v in tags}
    model = _get_model_row(model_id)
    with transaction.atomic():
        LoggedModelTag.objects.bulk_create(
            [LoggedModelTag(model=model, key=k, value=v) for k, v in tag_map.items()],
            update_conflicts=True,
            unique_fields=["model", "key"],
            update_fields=["value"],
        )
        LoggedModel.objects.filter(pk=model.pk).update(last_updated_timestamp_ms=now_ms())
    return get_logged_model(model_id, allow_deleted=True)


def delete_logged_model_tag(*, model_id: str, key: str) -> None:
    """Remove one tag of a model."""
    model = _get_model_row(model_id)
    deleted, _ = LoggedModelTag.objects.filter(model=model, key=key).delete()
    if not deleted:
        raise not_found(f"No tag with key {key!r} found for model with ID {model_id!r}.")


def list_logged_model_artifacts(*, model_id: str, path: str = "") -> tuple[str, list[artifacts.ArtifactEntry]]:
    """The model's artifact root and one directory level under it, named relative to the root."""
    active = LoggedModel.objects.filter(pk=model_id).exclude(lifecycle_stage=LifecycleStage.DELETED)
    artifact_uri = active.values_list("artifact_uri", flat=True).first()
    if artifact_uri is None:
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return artifact_uri, artifacts.list_artifacts(artifact_uri=artifact_uri, path=path)


def link_model_exists(model_id: str) -> None:
    """Refuse a run link to a model this server does not know (a dangling link would break the run's page)."""
    if not LoggedModel.objects.filter(pk=model_id).exists():
        raise not_found(f"Logged model with ID '{model_id}' not found.")


# --- search -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetFilter:
    """Restrict metric filters and ordering to metrics logged on this dataset (any digest when None)."""

    name: str
    digest: str | None = None

    def q(self) -> Q:
        """The condition on ``LoggedModelMetric`` rows."""
        condition = Q(dataset_name=self.name)
        if self.digest:
            condition &= Q(dataset_digest=self.digest)
        return condition


_ATTRIBUTE_FIELDS = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run_id",
    "creation_timestamp": "creation_timestamp_ms",
    "creation_time": "creation_timestamp_ms",
    "creation_timestamp_ms": "creation_timestamp_ms",
    "last_updated_timestamp": "last_updated_timestamp_ms",
    "last_updated_time": "last_updated_timestamp_ms",
    "last_updated_timestamp_ms": "last_updated_timestamp_ms",
}
_NUMERIC_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "=": "exact", "!=": "exact"}
_STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}


def _like_regex(pattern: str) -> str:
    """A SQL LIKE pattern (``%``, ``_``) as an anchored regular expression, case-sensitive like MLflow's LIKE."""
    parts = [".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern]
    return "^" + "".join(parts) + "$"


def _compare(field: str, comparator: str, value: Any) -> Q:
    """``field <comparator> value`` as a Q; ``!=`` and ``NOT IN`` never match NULL, as in SQL."""
    if comparator in ("!=", "NOT IN"):
        lookup = "in" if comparator == "NOT IN" else "exact"
        return ~Q(**{f"{field}__{lookup}": value}) & Q(**{f"{field}__isnull": False})
    if comparator == "IN":
        return Q(**{f"{field}__in": value})
    if comparator == "LIKE":
        return Q(**{f"{field}__regex": _like_regex(value)})
    if comparator == "ILIKE":
        return Q(**{f"{field}__iregex": _like_regex(value)})
    return Q(**{f"{field}__{_NUMERIC_OPS[comparator]}": value})


def _check_comparator(kind: str, key: str, comparator: str, allowed: Iterable[str]) -> None:
    if comparator not in allowed:
        raise invalid(f"Invalid comparator '{comparator}' for {kind} '{key}'. Expected one of {sorted(allowed)}.")


def _attribute_q(key: str, comparator: str, value: Any) -> Q:
    field = _ATTRIBUTE_FIELDS.get(key)
    if field is None:
        raise invalid(f"Invalid logged model search key '{key}'")
    if field.endswith("_ms"):
        _check_comparator("attribute", key, comparator, _NUMERIC_OPS)
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise invalid(f"Expected a numeric value for attribute '{key}', got {value!r}.") from None
        return _compare(field, comparator, value)
    _check_comparator("attribute", key, comparator, _STRING_OPS)
    if field == "status":
        value = tuple(_STATUS_ALIASES.get(v, v) for v in value) if isinstance(value, tuple) else value
        value = _STATUS_ALIASES.get(value, value) if isinstance(value, str) else value
    return _compare(field, comparator, value)


def _filter_q(clause: dict[str, Any], datasets: list[DatasetFilter]) -> tuple[Q, bool]:
    """One parsed clause as a condition on ``LoggedModel``; the flag says whether it filtered on a metric."""
    kind, key, comparator, value = clause["type"], clause["key"], clause["comparator"].upper(), clause["value"]
    if kind == "metric":
        _check_comparator("metric", key, comparator, _NUMERIC_OPS)
        rows = Q(key=key) & _compare("value", comparator, float(value))
        if datasets:
            rows &= _any_dataset(datasets)
        return Q(pk__in=LoggedModelMetric.objects.filter(rows).values("model_id")), True
    if kind in ("parameter", "tag"):
        allowed = SearchLoggedModelsUtils.VALID_PARAM_COMPARATORS | SearchLoggedModelsUtils.VALID_TAG_COMPARATORS
        _check_comparator(kind, key, comparator, allowed)
        table = LoggedModelParam if kind == "parameter" else LoggedModelTag
        rows = table.objects.filter(Q(key=key) & _compare("value", comparator, value))
        return Q(pk__in=rows.values("model_id")), False
    return _attribute_q(key, comparator, value), False


def _any_dataset(datasets: list[DatasetFilter]) -> Q:
    condition = Q()
    for dataset in datasets:
        condition |= dataset.q()
    return condition


def _parse_filter(filter_string: str | None) -> list[dict[str, Any]]:
    if not filter_string:
        return []
    try:
        return SearchLoggedModelsUtils.parse_search_filter(filter_string)
    except MlflowException as exc:
        raise invalid(exc.message) from None


def _ordering(query: QuerySet[LoggedModel], order_by: list[dict[str, Any]]) -> QuerySet[LoggedModel]:
    """MLflow's order: the requested fields (nulls last), then newest first, then by id."""
    expressions = []
    fields = set()
    for index, raw in enumerate(order_by):
        try:
            parsed = SearchLoggedModelsUtils.parse_order_by_for_logged_models(raw)
        except MlflowException as exc:
            raise invalid(exc.message) from None
        if "." in parsed.field_name:
            metric_key = parsed.field_name.split(".", 1)[1]
            rows = LoggedModelMetric.objects.filter(model_id=OuterRef("pk"), key=metric_key)
            if parsed.dataset_name:
                rows = rows.filter(DatasetFilter(parsed.dataset_name, parsed.dataset_digest).q())
            # The latest value, as MLflow's store picks it: newest timestamp, then highest step.
            latest = rows.order_by("-timestamp", "-step", "run_id").values("value")[:1]
            alias = f"order_metric_{index}"
            query = query.annotate(**{alias: Subquery(latest)})
            field = alias
        else:
            field = _ATTRIBUTE_FIELDS[parsed.field_name]
        fields.add(field)
        expressions.append(F(field).asc(nulls_last=True) if parsed.ascending else F(field).desc(nulls_last=True))
    if "creation_timestamp_ms" not in fields:
        expressions.append(F("creation_timestamp_ms").desc())
    if "model_id" not in fields:
        expressions.append(F("model_id").asc())
    return query.order_by(*expressions)


def _offset(page_token: str | None, experiment_ids: list[str], filter_string: str | None, order_by: Any) -> int:
    if not page_token:
        return 0
    try:
        token = SearchLoggedModelsPaginationToken.decode(page_token)
        token.validate(experiment_ids, filter_string, order_by)
    except MlflowException as exc:
        raise invalid(exc.message) from None
    except (binascii.Error, UnicodeDecodeError, AttributeError, ValueError):
        raise invalid(f"Invalid page token: {page_token}") from None
    return int(token.offset)


def search_logged_models(
    *,
    experiment_ids: list[str],
    filter_string: str | None = None,
    datasets: list[DatasetFilter] | None = None,
    max_results: int | None = None,
    order_by: list[dict[str, Any]] | None = None,
    page_token: str | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[LoggedModel], str | None]:
    """Active models of the experiments matching the filter, one page, and the next page's token (None at the end).
    Experiments ``visible`` hides are dropped before paging (the token keeps the ids asked for, which it checks)."""
    datasets = datasets or []
    if any(not d.name for d in datasets):
        raise invalid("`dataset_name` in the `datasets` clause must be specified.")
    max_results = max_results or SEARCH_LOGGED_MODEL_MAX_RESULTS_DEFAULT
    if max_results < 0:
        raise invalid(f"Invalid value {max_results} for parameter 'max_results' supplied.")
    offset = _offset(page_token, experiment_ids, filter_string, order_by)
    ids = visible.ids(validation.parse_experiment_id(e) for e in experiment_ids)
    query = _model_queryset().filter(experiment_id__in=ids).exclude(lifecycle_stage=LifecycleStage.DELETED)
    has_metric_filter = False
    for clause in _parse_filter(filter_string):
        condition, is_metric = _filter_q(clause, datasets)
        query = query.filter(condition)
        has_metric_filter |= is_metric
    if datasets and not has_metric_filter:
        # Datasets alone select the models with any metric on them.
        query = query.filter(pk__in=LoggedModelMetric.objects.filter(_any_dataset(datasets)).values("model_id"))
    page = list(_ordering(query, order_by or [])[offset : offset + max_results + 1])
    token = None
    if len(page) > max_results:
        token = SearchLoggedModelsPaginationToken(
            offset=offset + max_results, experiment_ids=experiment_ids, filter_string=filter_string, order_by=order_by
        ).encode()
    return page[:max_results], token
