"""The objects permissions are about, named and linked by the app that owns them.

``studio`` knows no app's tables (dependencies run ``tracking ← registry ← deployments``), yet the permissions page
and the permission API must show an experiment's name, link to a model's page and find a model by its name. Each app
registers its kind in ``AppConfig.ready`` with :func:`register_resource` (or :func:`register_queryset`, which builds
the two callables from a manager), and ``studio`` asks here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One experiment or registered model as the permissions page shows it."""

    kind: str
    id: int
    name: str
    url: str  # the object's own page
    label: str  # for people: "experiment", "registered model"


@dataclass(frozen=True)
class _Kind:
    lookup: Callable[[int], Resource | None]
    by_name: Callable[[str], int | None]
    exists: Callable[[int], bool]


_KINDS: dict[str, _Kind] = {}


def register_resource(
    kind: str,
    *,
    lookup: Callable[[int], Resource | None],
    by_name: Callable[[str], int | None],
    exists: Callable[[int], bool] | None = None,
) -> None:
    """Make a kind known: ``lookup(id)`` gives the object (None when it does not exist), ``by_name(name)`` its id,
    ``exists(id)`` whether there is one (by default through ``lookup``)."""
    _KINDS[kind] = _Kind(lookup=lookup, by_name=by_name, exists=exists or (lambda i: lookup(i) is not None))


def register_queryset(kind: str, *, label: str, objects: Any, url: Callable[[Any], str]) -> None:
    """Register a kind whose rows have ``pk`` and a unique ``name`` among ``objects`` (a manager or queryset)."""

    def lookup(object_id: int) -> Resource | None:
        row = objects.filter(pk=object_id).first()
        return None if row is None else Resource(kind=kind, id=row.pk, name=row.name, url=url(row), label=label)

    def by_name(name: str) -> int | None:
        return objects.filter(name=name).values_list("pk", flat=True).first()

    def exists(object_id: int) -> bool:
        return objects.filter(pk=object_id).exists()

    register_resource(kind, lookup=lookup, by_name=by_name, exists=exists)


def known(kind: str) -> bool:
    """Whether an app registered the kind."""
    return kind in _KINDS


def lookup(kind: str, object_id: int) -> Resource | None:
    """The object of a kind with this id, or None (also for a kind nobody registered)."""
    entry = _KINDS.get(kind)
    return None if entry is None else entry.lookup(int(object_id))


def exists(kind: str, object_id: int) -> bool:
    """Whether an object of the kind has this id (False for a kind nobody registered)."""
    entry = _KINDS.get(kind)
    return entry is not None and entry.exists(int(object_id))


def id_by_name(kind: str, name: str) -> int | None:
    """The id of the object of a kind with this name, or None."""
    entry = _KINDS.get(kind)
    return None if entry is None else entry.by_name(name)
