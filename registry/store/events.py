"""The registry's audit trail: every change is a ``RegistryEvent`` row written in the change's own transaction.

Reads answer "what happened to this model" (``list_events``) and "which version did this alias point to, and when"
(``alias_history``, ``alias_at``).
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.models import RegisteredModel, RegistryEvent
from studio.auth.permissions import EVERYTHING, Visibility
from studio.errors import invalid, not_found
from tracking.store.common import now_ms

Action = RegistryEvent.Action
EVENTS_MAX_RESULTS_DEFAULT = 1000
EVENTS_MAX_RESULTS_THRESHOLD = 10000


def record(
    model: RegisteredModel,
    action: str,
    *,
    user: str = "",
    version: int | None = None,
    alias: str = "",
    key: str = "",
    old_value: str | None = None,
    new_value: str | None = None,
    timestamp: int | None = None,
) -> RegistryEvent:
    """Write one event about ``model``; call it inside the transaction that makes the change."""
    return RegistryEvent.objects.create(
        timestamp=timestamp if timestamp is not None else now_ms(),
        user_id=user or "",
        action=action,
        registered_model_id=model.pk,
        model_name=model.name,
        version=version,
        alias=alias,
        key=key,
        old_value=old_value,
        new_value=new_value,
    )


def model_ids_for_name(name: str) -> list[int]:
    """The ids a name stands for in the trail: the model that has it now, else every deleted model that had it."""
    current = RegisteredModel.objects.filter(name=name).values_list("pk", flat=True).first()
    if current is not None:
        return [current]
    ids = list(RegistryEvent.objects.filter(model_name=name).values_list("registered_model_id", flat=True).distinct())
    if not ids:
        raise not_found(f"Registered Model with name={name} not found")
    return ids


def list_events(
    *,
    name: str,
    version: int | None = None,
    alias: str | None = None,
    actions: list[str] | None = None,
    since: int | None = None,
    until: int | None = None,
    max_results: int = EVENTS_MAX_RESULTS_DEFAULT,
    page_token: int | None = None,
    visible: Visibility = EVERYTHING,
) -> tuple[list[RegistryEvent], int | None]:
    """The events of a model (by its current name, or a deleted model's last name), newest first, filtered by
    version, alias, actions and a ``[since, until]`` time range, and to the ``visible`` models; keyset pages by
    event id."""
    if not 1 <= max_results <= EVENTS_MAX_RESULTS_THRESHOLD:
        raise invalid(f"max_results must be between 1 and {EVENTS_MAX_RESULTS_THRESHOLD}, got {max_results}.")
    unknown = set(actions or ()) - set(Action.values)
    if unknown:
        raise invalid(f"Unknown event actions {sorted(unknown)}. Valid actions are {sorted(Action.values)}.")
    ids = visible.ids(model_ids_for_name(name))
    if not ids:  # as if the name were unknown: a model the caller may not read is not shown to exist
        raise not_found(f"Registered Model with name={name} not found")
    query = RegistryEvent.objects.filter(registered_model_id__in=ids)
    if version is not None:
        query = query.filter(version=version)
    if alias:
        query = query.filter(alias=alias)
    if actions:
        query = query.filter(action__in=actions)
    if since is not None:
        query = query.filter(timestamp__gte=since)
    if until is not None:
        query = query.filter(timestamp__lte=until)
    if page_token is not None:
        query = query.filter(id__lt=page_token)
    rows = list(query.order_by("-id")[: max_results + 1])
    if len(rows) > max_results:
        return rows[:max_results], rows[max_results - 1].id
    return rows, None


@dataclass(frozen=True)
class AliasSpan:
    """A time during which an alias pointed to one version: ``end`` is None while it still does."""

    alias: str
    version: int
    start: int
    end: int | None
    set_by: str
    ended_by: str


def alias_history(*, name: str, alias: str) -> list[AliasSpan]:
    """Every version an alias of a model has pointed to, oldest first."""
    events = RegistryEvent.objects.filter(
        registered_model_id__in=model_ids_for_name(name),
        alias=alias,
        action__in=[Action.ALIAS_SET, Action.ALIAS_DELETED],
    ).order_by("id")
    spans: list[AliasSpan] = []
    current: AliasSpan | None = None
    for event in events:
        if event.action == Action.ALIAS_SET and current is not None and current.version == event.version:
            continue  # set again to the version it already names
        if current is not None:
            ended = AliasSpan(alias, current.version, current.start, event.timestamp, current.set_by, event.user_id)
            spans.append(ended)
            current = None
        if event.action == Action.ALIAS_SET and event.version is not None:
            current = AliasSpan(alias, event.version, event.timestamp, None, event.user_id, "")
    if current is not None:
        spans.append(current)
    return spans


def alias_at(*, name: str, alias: str, timestamp: int) -> AliasSpan | None:
    """The version an alias pointed to at a moment (milliseconds since the epoch), or None if it was unset then."""
    for span in alias_history(name=name, alias=alias):
        if span.start <= timestamp and (span.end is None or timestamp < span.end):
            return span
    return None
