"""The kinds of things that can sit in the trash, registered by the app that owns them.

``studio`` knows no app's tables (dependencies run ``tracking ← registry ← deployments``, and ``studio`` holds what
they share), so each app registers a :class:`TrashKind` in its ``AppConfig.ready``: how to list its deleted things,
what purging one removes, how to restore it and how to purge its rows. The purge jobs, the trash page, the REST API,
the retention task and ``studio gc`` all go through these.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from studio.errors import invalid


@dataclass
class TrashItem:
    """A deleted thing: what the trash page shows and what a purge job plans (one ``PurgeItem`` each)."""

    kind: str
    object_id: str
    name: str
    deleted_at: int | None = None  # ms since the epoch
    deleted_by: str = ""
    bytes: int = 0
    files: int = 0
    parent: str = ""  # where it lives, for people: the experiment of a run, the model of a version
    # Store paths that the purge deletes once the item's rows are gone (rows first: a row never points at nothing).
    folders: list[str] = field(default_factory=list)
    url: str = ""  # its page, where it still has one
    # Why it cannot be purged now (a version still deployed, an active run inside a deleted experiment): the dry run
    # shows it and the purge leaves the item alone.
    blocked: str = ""


@dataclass(frozen=True)
class Filter:
    """Which deleted things: all of them, or those deleted before ``older_than_ms``, with these ids or in these
    experiments (``mlflow gc``'s ``--older-than``, ``--run-ids``, ``--experiment-ids``)."""

    older_than_ms: int | None = None
    ids: Sequence[str] | None = None
    experiment_ids: Sequence[str] | None = None


class SkipItem(Exception):
    """Raised by ``purge`` when the item is no longer in the trash (restored meanwhile): it is left alone."""


class TrashKind(ABC):
    """One kind of deletable thing, implemented by the app that owns its tables."""

    kind: ClassVar[str]  # "run", "experiment", ...
    label: ClassVar[str]  # plural, for people: "Runs"
    # Whether experiment_ids applies (runs, logged models, experiments) or not (registered models and versions).
    in_experiments: ClassVar[bool] = True

    @abstractmethod
    def list(self, where: Filter, *, limit: int | None = None) -> list[TrashItem]:
        """The deleted things that match, the most recently deleted first, with their bytes and folders."""

    @abstractmethod
    def count(self, where: Filter) -> int:
        """How many deleted things match."""

    def expand(self, item: TrashItem) -> list[TrashItem]:
        """What purging ``item`` removes, in the order to purge: its children first (the runs of an experiment),
        then the item itself. Most things have no children."""
        return [item]

    def expired(self, now_ms: int, default_days: int | None) -> list[TrashItem]:
        """What the periodic purge takes: things deleted more than ``default_days`` ago (kinds with their own rules,
        such as an experiment's retention, override this)."""
        if default_days is None:
            return []
        return self.list(Filter(older_than_ms=now_ms - default_days * 86_400_000))

    @abstractmethod
    def restore(self, object_id: str, *, user: str) -> None:
        """Take the thing out of the trash (StudioError when it is not there or cannot come back)."""

    @abstractmethod
    def purge(self, object_id: str) -> bool:
        """Remove its rows in one transaction if it is still deleted. False when it is already gone (a re-run);
        SkipItem when it was restored; StudioError when it may not be purged (still needed). Files are the job's."""


_KINDS: dict[str, TrashKind] = {}
_FOLDER_REMOVERS: list[Callable[[Sequence[str]], None]] = []


def register(kind: TrashKind) -> None:
    """Make a kind known to the trash (from an ``AppConfig.ready``); registering the same kind again replaces it."""
    _KINDS[kind.kind] = kind


def all_kinds() -> list[TrashKind]:
    """Every registered kind, in the order they were registered."""
    return list(_KINDS.values())


def get_kind(name: str) -> TrashKind:
    """The kind called ``name``, or INVALID_PARAMETER_VALUE naming the kinds there are."""
    try:
        return _KINDS[name]
    except KeyError:
        raise invalid(f"Unknown kind {name!r}; expected one of {', '.join(sorted(_KINDS))}") from None


def register_folder_remover(remover: Callable[[Sequence[str]], None]) -> None:
    """How planned folders are deleted (the artifact store is tracking's: it registers this from its ``ready``)."""
    if remover not in _FOLDER_REMOVERS:
        _FOLDER_REMOVERS.append(remover)


def remove_folders(folders: Sequence[str]) -> None:
    """Delete these store folders (a missing one is fine); an error is the item's failure."""
    if folders and not _FOLDER_REMOVERS:
        raise RuntimeError("no folder remover is registered: the tracking app is not loaded")
    for remover in _FOLDER_REMOVERS:
        remover(folders)
