"""Planning a purge: what a selection of deleted things means, expanded and sized (the dry run).

A plan expands what was selected (an experiment brings its deleted runs before itself), keeps each thing once, and
sets aside what may not go (``TrashItem.blocked``) and what is not in the trash. Nothing is changed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from studio.cleanup.kinds import Filter, TrashItem, all_kinds, get_kind
from studio.errors import invalid

DAY_MS = 86_400_000


@dataclass(frozen=True)
class Selection:
    """What to purge: listed items, or everything deleted (before ``older_than_days``, of ``kinds``, in
    ``experiment_ids``, among ``run_ids``: ``mlflow gc``'s options)."""

    items: tuple[tuple[str, str], ...] = ()
    older_than_days: float | None = None
    kinds: tuple[str, ...] = ()
    experiment_ids: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()

    def describe(self) -> str:
        """For people: the job's description."""
        if self.items:
            return f"{len(self.items)} selected item(s)"
        parts = ["everything deleted"]
        if self.older_than_days is not None:
            parts.append(f"more than {self.older_than_days:g} day(s) ago")
        if self.kinds:
            parts.append("of kinds " + ", ".join(self.kinds))
        if self.experiment_ids:
            parts.append("in experiments " + ", ".join(self.experiment_ids))
        if self.run_ids:
            parts.append("among runs " + ", ".join(self.run_ids))
        return " ".join(parts)

    def as_json(self) -> dict[str, Any]:
        """What the job row keeps of the selection."""
        return {
            "items": [list(item) for item in self.items],
            "older_than_days": self.older_than_days,
            "kinds": list(self.kinds),
            "experiment_ids": list(self.experiment_ids),
            "run_ids": list(self.run_ids),
        }


@dataclass
class Plan:
    """A dry run: the items to purge in order, those kept (with why), and what comes back."""

    items: list[TrashItem] = field(default_factory=list)
    blocked: list[TrashItem] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # selected but not in the trash

    @property
    def bytes(self) -> int:
        """The bytes the purge frees."""
        return sum(item.bytes for item in self.items)

    @property
    def files(self) -> int:
        """The files the purge deletes."""
        return sum(item.files for item in self.items)

    def counts(self) -> dict[str, int]:
        """Items per kind."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.kind] = counts.get(item.kind, 0) + 1
        return counts


def older_than_ms(days: float | None) -> int | None:
    """The deletion time before which things count as "deleted more than ``days`` ago"."""
    return None if days is None else int(time.time() * 1000 - days * DAY_MS)


def _selected(selection: Selection) -> tuple[list[TrashItem], list[tuple[str, str]]]:
    older = older_than_ms(selection.older_than_days)
    if selection.items:
        found, missing = [], []
        by_kind: dict[str, list[str]] = {}
        for kind, object_id in selection.items:
            by_kind.setdefault(get_kind(kind).kind, []).append(str(object_id))
        for kind, ids in by_kind.items():
            items = get_kind(kind).list(Filter(older_than_ms=older, ids=ids))
            present = {item.object_id for item in items}
            found += items
            missing += [(kind, i) for i in ids if i not in present]
        return found, missing
    if selection.run_ids or selection.experiment_ids:
        found = get_kind("run").list(Filter(older_than_ms=older, ids=selection.run_ids)) if selection.run_ids else []
        missing = _absent("run", selection.run_ids, found)
        if selection.experiment_ids:
            experiments = get_kind("experiment").list(Filter(older_than_ms=older, ids=selection.experiment_ids))
            missing += _absent("experiment", selection.experiment_ids, experiments)
            found += experiments
            # Also what was deleted on its own inside those experiments, deleted or not themselves.
            for kind in ("run", "logged_model"):
                found += get_kind(kind).list(Filter(older_than_ms=older, experiment_ids=selection.experiment_ids))
        return found, missing
    kinds = [get_kind(name) for name in selection.kinds] if selection.kinds else all_kinds()
    return [item for kind in kinds for item in kind.list(Filter(older_than_ms=older))], []


def _absent(kind: str, ids: Sequence[str], found: Sequence[TrashItem]) -> list[tuple[str, str]]:
    present = {item.object_id for item in found if item.kind == kind}
    return [(kind, str(i)) for i in ids if str(i) not in present]


def plan(selection: Selection) -> Plan:
    """The dry run of a purge: nothing is changed."""
    _check(selection)
    selected, missing = _selected(selection)
    return expand(selected, missing=missing)


def expand(selected: Sequence[TrashItem], *, missing: Sequence[tuple[str, str]] = ()) -> Plan:
    """The plan of purging these items: each expanded (children first), each thing once, blocked ones kept."""
    result, seen = Plan(missing=list(missing)), set()
    for chosen in selected:
        for item in get_kind(chosen.kind).expand(chosen):
            key = (item.kind, item.object_id)
            if key in seen:
                continue
            seen.add(key)
            (result.blocked if item.blocked else result.items).append(item)
    return result


def _check(selection: Selection) -> None:
    if selection.older_than_days is not None and selection.older_than_days < 0:
        raise invalid("older_than_days must not be negative")
    for kind in selection.kinds:
        get_kind(kind)
