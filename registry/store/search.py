"""Registry search filters and orderings: MLflow's grammar for registered models and model versions, plus Studio's OR
and parentheses (the boolean tree is ``tracking.search``'s, each comparison parsed by MLflow's own parsers).

MLflow keeps prompts in the registry as registered models tagged ``mlflow.prompt.is_prompt = 'true'``; searches leave
them out unless the filter asks for them, and the 3.x client appends ``tags.`mlflow.prompt.is_prompt` != 'true'`` to
every model search. So on that tag a missing tag counts as ``'false'``, as MLflow's anti-join makes it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator

from django.db.models import Exists, F, OuterRef, Q
from django.db.models.expressions import OrderBy
from mlflow.prompt.constants import IS_PROMPT_TAG_KEY
from mlflow.utils.search_utils import SearchModelUtils, SearchModelVersionUtils, SearchUtils

from registry.models import ModelVersionTag, RegisteredModelTag
from studio.errors import invalid
from tracking.search import BoolOp, Comparison, Node, compare, mlflow_errors, parse_filter_tree, tree_to_q

_CACHE_SIZE = 256
_STRING_COMPARATORS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
_TAG_COMPARATORS = ("=", "!=", "LIKE", "ILIKE")
_NUMERIC_COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
_VERSION_COLUMNS = {
    "name": "registered_model__name",
    "run_id": "run_id",
    "source_path": "source",
    "version_number": "version",
    "creation_timestamp": "creation_timestamp",
    "last_updated_timestamp": "last_updated_timestamp",
}


def _leaves(node: Node | None) -> Iterator[Comparison]:
    if isinstance(node, Comparison):
        yield node
    elif isinstance(node, BoolOp):
        for child in node.children:
            yield from _leaves(child)


def _queries_prompts(node: Node | None) -> bool:
    """MLflow's ``_is_querying_prompt``: the filter asks for prompts with ``is_prompt = 'true'`` (or ``!= 'false'``)."""
    for leaf in _leaves(node):
        if leaf.type == "tag" and leaf.key == IS_PROMPT_TAG_KEY and isinstance(leaf.value, str):
            return (leaf.comparator == "=" and leaf.value.lower() == "true") or (
                leaf.comparator == "!=" and leaf.value.lower() == "false"
            )
    return False


def _tag_comparison(kind: str, key: str, comparator: str, value: object) -> Comparison:
    if comparator not in _TAG_COMPARATORS:
        raise invalid(f"Invalid comparator for tag: {comparator}")
    return Comparison(kind, key, comparator, value)


def _model_comparison(parsed: dict) -> Comparison:
    """MLflow's checks for registered model filters: ``name`` and tags only."""
    kind, key, comparator, value = parsed["type"], parsed["key"], parsed["comparator"].upper(), parsed["value"]
    if kind == "tag":
        return _tag_comparison(kind, key, comparator, value)
    if kind != "attribute":
        raise invalid(f"Invalid token type: {kind}")
    if key != "name":
        raise invalid(f"Invalid attribute name: {key}")
    if comparator not in _STRING_COMPARATORS:
        raise invalid(f"Invalid comparator for attribute: {comparator}")
    return Comparison(kind, key, comparator, value)


def _version_comparison(parsed: dict) -> Comparison:
    """MLflow's checks for model version filters: name, run_id, source_path, version_number and tags."""
    kind, key, comparator, value = parsed["type"], parsed["key"], parsed["comparator"].upper(), parsed["value"]
    if kind == "tag":
        return _tag_comparison(kind, key, comparator, value)
    if kind != "attribute":
        raise invalid(f"Invalid token type: {kind}")
    if key not in SearchModelVersionUtils.VALID_SEARCH_ATTRIBUTE_KEYS:
        raise invalid(f"Invalid attribute name: {key}")
    if key in SearchModelVersionUtils.NUMERIC_ATTRIBUTES:
        if comparator not in _NUMERIC_COMPARATORS:
            raise invalid(f"Invalid comparator for attribute {key}: {comparator}")
        if isinstance(value, (float, tuple)):
            raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}")
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}") from None
        if not -(2**31) <= value < 2**31:
            raise invalid(f"Invalid value for numeric attribute '{key}': {value!r}")
    elif comparator not in _STRING_COMPARATORS or (comparator in ("IN", "NOT IN") and key not in ("run_id", "name")):
        raise invalid(f"Invalid comparator for attribute: {comparator}")
    return Comparison(kind, key, comparator, value)


@functools.lru_cache(maxsize=_CACHE_SIZE)
@mlflow_errors
def parse_model_filter(filter_string: str) -> Node | None:
    """The tree of a registered models filter, None for an empty one."""
    return parse_filter_tree(filter_string, SearchModelUtils, _model_comparison)


@functools.lru_cache(maxsize=_CACHE_SIZE)
@mlflow_errors
def parse_version_filter(filter_string: str) -> Node | None:
    """The tree of a model versions filter, None for an empty one."""
    return parse_filter_tree(filter_string, SearchModelVersionUtils, _version_comparison)


def _tag_q(tags: type[RegisteredModelTag] | type[ModelVersionTag], owner: str, c: Comparison) -> Q:
    """A condition on the owner's tag rows; on the prompt tag a missing tag reads as 'false'."""
    rows = tags.objects.filter(**{owner: OuterRef("pk")}, key=c.key)
    matching = Q(Exists(rows.filter(compare("value", c.comparator, c.value))))
    if c.key == IS_PROMPT_TAG_KEY and _satisfied_by_false(c):
        return matching | ~Q(Exists(rows))
    return matching


def _satisfied_by_false(c: Comparison) -> bool:
    """Whether the value 'false' passes the comparison: how a model without the prompt tag is judged."""
    if c.comparator == "=":
        return c.value == "false"
    if c.comparator == "!=":
        return c.value != "false"
    if c.comparator in ("LIKE", "ILIKE"):
        pattern = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in c.value)
        return re.fullmatch(pattern, "false", 0 if c.comparator == "LIKE" else re.IGNORECASE) is not None
    return False


def _prompt_exclusion(model_ref: str) -> Q:
    """Not a prompt: no ``mlflow.prompt.is_prompt = 'true'`` tag on the registered model ``model_ref`` names."""
    prompts = RegisteredModelTag.objects.filter(
        registered_model=OuterRef(model_ref), key=IS_PROMPT_TAG_KEY, value__iexact="true"
    )
    return ~Q(Exists(prompts))


def model_filter(filter_string: str | None) -> Q:
    """A ``Q`` over ``RegisteredModel``: the filter, and no prompts unless it asks for them."""
    node = parse_model_filter(filter_string or "")

    def leaf(c: Comparison) -> Q:
        if c.type == "tag":
            return _tag_q(RegisteredModelTag, "registered_model", c)
        return compare("name", c.comparator, c.value)

    condition = Q() if node is None else tree_to_q(node, leaf)
    if not _queries_prompts(node):
        condition &= _prompt_exclusion("pk")
    return condition


def version_filter(filter_string: str | None) -> Q:
    """A ``Q`` over ``ModelVersion``: the filter, and no versions of prompts unless it asks for them."""
    node = parse_version_filter(filter_string or "")

    def leaf(c: Comparison) -> Q:
        if c.type == "tag":
            return _tag_q(ModelVersionTag, "model_version", c)
        return compare(_VERSION_COLUMNS[c.key], c.comparator, c.value)

    condition = Q() if node is None else tree_to_q(node, leaf)
    if not _queries_prompts(node):
        condition &= _prompt_exclusion("registered_model_id")
    return condition


@functools.lru_cache(maxsize=_CACHE_SIZE)
@mlflow_errors
def model_ordering(order_by: tuple[str, ...]) -> tuple[OrderBy, ...]:
    """MLflow's registered model order: the given keys (``name``, ``timestamp`` = last update, ...), then name."""
    ordering: list[OrderBy] = []
    seen: set[str] = set()
    for clause in order_by:
        key, ascending = SearchUtils.parse_order_by_for_search_registered_models(clause)
        if key == "name":
            field = "name"
        elif key in SearchUtils.VALID_TIMESTAMP_ORDER_BY_KEYS:
            field = "last_updated_timestamp"
        elif key == "creation_timestamp":
            field = "creation_timestamp"
        else:
            raise invalid(
                f"Invalid order by key '{key}' specified.Valid keys are "
                f"'{SearchUtils.RECOMMENDED_ORDER_BY_KEYS_REGISTERED_MODELS}'"
            )
        if field in seen:
            raise invalid(f"`order_by` contains duplicate fields: {list(order_by)}")
        seen.add(field)
        ordering.append(F(field).asc() if ascending else F(field).desc())
    if "name" not in seen:
        ordering.append(F("name").asc())
    return tuple(ordering)


DEFAULT_VERSION_ORDER = ("last_updated_timestamp DESC", "name ASC", "version_number DESC")


@functools.lru_cache(maxsize=_CACHE_SIZE)
@mlflow_errors
def version_ordering(order_by: tuple[str, ...]) -> tuple[OrderBy, ...]:
    """MLflow's model version order (default: last update newest first, then name, then version newest first)."""
    ordering: list[OrderBy] = []
    seen: set[str] = set()
    for clause in order_by or DEFAULT_VERSION_ORDER:
        _, key, ascending = SearchModelVersionUtils.parse_order_by_for_search_model_versions(clause)
        if key not in SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS:
            raise invalid(
                f"Invalid order by key '{key}' specified. Valid keys are "
                f"{SearchModelVersionUtils.VALID_ORDER_BY_ATTRIBUTE_KEYS}"
            )
        field = _VERSION_COLUMNS[key]
        if field in seen:
            raise invalid(f"`order_by` contains duplicate fields: {list(order_by)}")
        seen.add(field)
        ordering.append(F(field).asc() if ascending else F(field).desc())
    if "registered_model__name" not in seen:
        ordering.append(F("registered_model__name").asc())
    if "version" not in seen:
        ordering.append(F("version").desc())
    return tuple(ordering)
