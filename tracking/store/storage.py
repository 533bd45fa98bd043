"""Storage usage: bytes and files per artifact root (runs, logged models, registered versions), kept current.

Each root Studio manages has a :class:`~tracking.models.StorageUsage` row. A write or delete through Studio calls
:func:`record_change`, which only marks its root's row stale (one indexed UPDATE once the row exists); a rescan walks
that root alone, and a daily :func:`reconcile` walks the whole store once to catch what bypassed Studio.

Writes that land while a root is being walked are never lost: ``record_change`` stamps the row's ``scanned_at`` with
the time of the change, and a rescan that started at ``started`` (in a later millisecond than the change it follows)
clears ``stale`` only where ``scanned_at`` is earlier than that, or never set. So ``scanned_at`` is the time of the
last scan for a fresh row and the time of the last change for a stale one. The hosts' clocks are assumed to agree to
the millisecond (NTP); a larger skew could let a change that lands during a scan go unseen until the next change to
that root or the daily reconcile.
"""

from __future__ import annotations

import heapq
import logging
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, transaction
from django.db.models import F, Model, Q

from studio.errors import StudioError
from tracking import artifacts
from tracking.models import LoggedModel, Run, StorageKind, StorageUsage, StoredFile
from tracking.store.common import now_ms

log = logging.getLogger(__name__)

LARGEST_FILES = 50  # StoredFile rows kept per root
REFRESH_BATCH = 500  # roots one refresh rescans at most
_CHUNK = 500  # ids per IN (...) list
_MAX_WAIT_MS = 5
_ID_PATTERNS = {StorageKind.RUN: re.compile(r"[0-9a-f]{32}"), StorageKind.LOGGED_MODEL: re.compile(r"m-[0-9a-f]{32}")}
_OWNER_MODELS: dict[str, type[Model]] = {StorageKind.RUN: Run, StorageKind.LOGGED_MODEL: LoggedModel}
_OWNER_FIELDS = ("pk", "artifact_uri", "name", "experiment_id")


@dataclass(frozen=True)
class Usage:
    """The bytes and files under one root."""

    bytes: int = 0
    files: int = 0


@dataclass
class Measure:
    """What a walk of one root found: totals and its largest files (a min-heap of ``(size, path)``)."""

    bytes: int = 0
    files: int = 0
    largest: list[tuple[int, str]] = field(default_factory=list)

    def add(self, path: str, size: int) -> None:
        """Count one file."""
        self.bytes += size
        self.files += 1
        if len(self.largest) < LARGEST_FILES:
            heapq.heappush(self.largest, (size, path))
        elif (size, path) > self.largest[0]:
            heapq.heapreplace(self.largest, (size, path))


def managed_root(artifact_uri: str) -> str | None:
    """The store path of an artifact root Studio manages; None for other locations and for the registry's folder."""
    try:
        root = artifacts.proxy_path(artifact_uri)
    except StudioError:
        return None
    # What lies in registry/ is measured from the registry's own rows (track_root), never as a run's.
    if not root or artifacts.in_registry_root(root):
        return None
    return root


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _checked(path: str) -> str:
    try:
        return artifacts.safe_path(path)
    except StudioError:
        return ""


def _owner_rows(kind: str, owners: Iterable[tuple[str, str, str, int]], scanned_at: int | None) -> list[StorageUsage]:
    """Unsaved usage rows for ``(id, artifact_uri, name, experiment_id)`` owners whose root Studio manages."""
    rows = []
    for owner_id, artifact_uri, name, experiment_id in owners:
        if root := managed_root(artifact_uri):
            rows.append(
                StorageUsage(
                    path=root,
                    kind=kind,
                    owner_id=owner_id,
                    label=name[:500],
                    experiment_id=experiment_id,
                    stale=True,
                    scanned_at=scanned_at,
                )
            )
    return rows


def _upsert_changed(rows: list[StorageUsage]) -> None:
    """Insert these rows, or mark the existing ones with their paths changed (stale, stamped with the change)."""
    StorageUsage.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["path"],
        update_fields=["kind", "owner_id", "label", "experiment_id", "stale", "scanned_at"],
    )


def _placed_root(checked: str) -> StorageUsage | None:
    """The unsaved row of the run's or logged model's root that holds ``checked``, found from the ids in the path."""
    parts = checked.split("/")
    for kind, pattern in _ID_PATTERNS.items():
        candidates = [part for part in parts if pattern.fullmatch(part)]
        if not candidates:
            continue
        owners = _OWNER_MODELS[kind].objects.filter(pk__in=candidates).values_list(*_OWNER_FIELDS)
        for row in _owner_rows(kind, owners, now_ms()):
            if checked == row.path or checked.startswith(row.path + "/"):
                return row
    return None


def record_change(path: str) -> None:
    """A file or folder at this store path was written or deleted through Studio: its root's usage is stale.

    Best effort: the write it follows has happened, so a database error here is logged, not raised (a client would
    retry a write that succeeded); the daily reconciliation measures the root again."""
    try:
        _record_change(path)
    except DatabaseError:
        log.exception("Could not mark the storage usage of %s stale", path)


def _record_change(path: str) -> None:
    checked = _checked(path)
    if not checked:
        return
    parts = checked.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    # The common case, a write into a root that has a row already: one indexed UPDATE.
    if StorageUsage.objects.filter(path__in=prefixes).update(stale=True, scanned_at=now_ms()):
        return
    row = None if artifacts.in_registry_root(checked) else _placed_root(checked)
    if row is not None:
        _upsert_changed([row])
        return
    # A folder above roots (an experiment's folder deleted whole): the roots inside it changed.
    StorageUsage.objects.filter(path__startswith=checked + "/").update(stale=True, scanned_at=now_ms())


def track_root(*, path: str, kind: str, owner_id: str, label: str = "", experiment_id: int | None = None) -> None:
    """Know a root Studio wrote (a registered version's copy): its row exists and is stale until rescanned."""
    checked = _checked(path)
    if not checked:
        raise StudioError(f"Not a root of the artifact store: {path!r}", "INVALID_PARAMETER_VALUE")
    fields = {"kind": kind, "owner_id": str(owner_id), "label": label[:500], "experiment_id": experiment_id}
    _upsert_changed([StorageUsage(path=checked, **fields, stale=True, scanned_at=now_ms())])


def measure(path: str) -> Measure:
    """Walk one root of the store."""
    found = Measure()
    for relative, size in artifacts.get_artifact_store().walk(path):
        found.add(relative, size)
    return found


def _save_measure(row: StorageUsage, found: Measure, started: int) -> bool:
    """Store what a walk that began at ``started`` found; True if the row is fresh now.

    The numbers replace the row's unless a newer scan stored its own; ``stale`` clears only if no change came after
    ``started``.
    """
    numbers = {"bytes": found.bytes, "files": found.files}
    unchanged = Q(scanned_at__isnull=True) | Q(scanned_at__lt=started)
    with transaction.atomic():
        fresh = StorageUsage.objects.filter(unchanged, pk=row.pk).update(**numbers, stale=False, scanned_at=started)
        # Changed during the walk: the walk's numbers still replace the row's (a root written to without pause must
        # not show its first numbers for ever), but it stays stale, so another scan follows.
        if not fresh and not StorageUsage.objects.filter(pk=row.pk, stale=True).update(**numbers):
            return False  # gone (forgotten), or a newer scan stored its numbers
        StoredFile.objects.filter(usage_id=row.pk).delete()
        StoredFile.objects.bulk_create(
            StoredFile(usage_id=row.pk, path=path, size=size, experiment_id=row.experiment_id)
            for size, path in found.largest
        )
    return bool(fresh)


def _start_after(changed_at: int | None) -> int:
    """A scan's start, in a later millisecond than the change it follows: one in the same millisecond could not tell
    the change from a later one, and would leave the row stale. A change stamped far ahead (another host's clock) is
    not waited for."""
    started = now_ms()
    while changed_at is not None and 0 <= changed_at - started < _MAX_WAIT_MS:
        time.sleep(0.001)
        started = now_ms()
    return started


def rescan(row: StorageUsage) -> Usage:
    """Walk a root and store its bytes, files and largest files; fresh unless a write came during the walk."""
    started = _start_after(row.scanned_at)
    found = measure(row.path)
    _save_measure(row, found, started)
    return Usage(found.bytes, found.files)


def _rows_of(kind: str, owner_ids: Sequence[str]) -> dict[str, StorageUsage]:
    rows: dict[str, StorageUsage] = {}
    for chunk in _chunks(owner_ids):
        rows.update((row.owner_id, row) for row in StorageUsage.objects.filter(kind=kind, owner_id__in=chunk))
    return rows


def _create_rows(kind: str, owners: Iterable[tuple[str, str, str, int]]) -> int:
    """Rows, never scanned yet, for those of these owners whose root Studio manages; returns how many had one."""
    rows = _owner_rows(kind, owners, None)
    StorageUsage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=_CHUNK)
    return len(rows)


def _create_rows_of(kind: str, owner_ids: Sequence[str]) -> int:
    model = _OWNER_MODELS[kind]
    return sum(
        _create_rows(kind, model.objects.filter(pk__in=chunk).values_list(*_OWNER_FIELDS))
        for chunk in _chunks(owner_ids)
    )


def usage_of(kind: str, owner_ids: Iterable[str]) -> dict[str, Usage]:
    """The usage of these owners' roots, rescanning first the ones that are stale or not measured yet."""
    ids = list(dict.fromkeys(str(owner_id) for owner_id in owner_ids))
    rows = _rows_of(kind, ids)
    missing = [owner_id for owner_id in ids if owner_id not in rows]
    if missing and kind in _OWNER_MODELS and _create_rows_of(kind, missing):
        rows.update(_rows_of(kind, missing))
    usage = {owner_id: Usage() for owner_id in ids}  # no root (not Studio's, or no such owner): nothing stored
    for owner_id, row in rows.items():
        usage[owner_id] = rescan(row) if row.stale else Usage(row.bytes, row.files)
    return usage


def forget(paths: Iterable[str]) -> None:
    """These roots are gone (a purge deleted them): their usage rows go, and those of any root inside them."""
    # "" would be the whole store: a purge never deletes that.
    wanted = sorted({checked for checked in map(_checked, paths) if checked})
    for chunk in _chunks(wanted):
        matches = Q(path__in=chunk)
        for path in chunk:
            matches |= Q(path__startswith=path + "/")
        # startswith is case-insensitive on SQLite (LIKE): the exact test is done here.
        candidates = StorageUsage.objects.filter(matches).values_list("pk", "path")
        doomed = [pk for pk, path in candidates if _under_any(path, wanted)]
        StorageUsage.objects.filter(pk__in=doomed).delete()


def _under_any(path: str, roots: Sequence[str]) -> bool:
    parts = path.split("/")
    chosen = set(roots)
    return any("/".join(parts[:end]) in chosen for end in range(1, len(parts) + 1))


def refresh_stale(*, limit: int = REFRESH_BATCH, seconds: float | None = None) -> int:
    """Rescan stale roots, the longest waiting first, at most ``limit`` of them or for about ``seconds``."""
    deadline = None if seconds is None else time.monotonic() + seconds
    rows = StorageUsage.objects.filter(stale=True).order_by(F("scanned_at").asc(nulls_first=True), "pk")[:limit]
    done = 0
    for row in rows:
        if deadline is not None and time.monotonic() > deadline:
            break
        try:
            rescan(row)
        except Exception:  # one unreadable root must not hold up the others; it stays stale and is retried
            log.exception("Could not measure the artifact root %s", row.path)
        done += 1
    return done


def stale_count() -> int:
    """How many roots wait for a rescan."""
    return StorageUsage.objects.filter(stale=True).count()


@dataclass(frozen=True)
class Reconciled:
    """What a walk of the whole store found: the roots measured, their bytes and files, rows added and dropped."""

    roots: int
    bytes: int
    files: int
    created: int
    dropped: int
    unattributed_bytes: int  # files in no known root (left over by something that bypassed Studio)


def _drop_orphans() -> int:
    """Delete the rows of runs and logged models that no longer exist (removed without a purge through Studio)."""
    dropped = 0
    for kind, model in _OWNER_MODELS.items():
        orphans = StorageUsage.objects.filter(kind=kind).exclude(owner_id__in=model.objects.values("pk"))
        dropped += orphans.delete()[1].get(StorageUsage._meta.label, 0)
    return dropped


def _create_missing(batch: int = 2000) -> int:
    """Rows for every run and logged model whose managed root has none yet."""
    created = 0
    for kind, model in _OWNER_MODELS.items():
        known = StorageUsage.objects.filter(kind=kind).values("owner_id")
        after = ""
        # Page by primary key, each page its own query: no cursor stays open on the table being written.
        while page := list(
            model.objects.exclude(pk__in=known).filter(pk__gt=after).order_by("pk").values_list(*_OWNER_FIELDS)[:batch]
        ):
            created += _create_rows(kind, page)
            after = page[-1][0]
    return created


def _walk_store(found: dict[str, Measure]) -> int:
    """One walk of the whole store, each file counted in every root of ``found`` that holds it; returns the bytes
    of files in none."""
    unattributed = 0
    for relative, size in artifacts.get_artifact_store().walk(""):
        placed = False
        cut = relative.find("/")
        while cut != -1:
            if (root := found.get(relative[:cut])) is not None:
                root.add(relative[cut + 1 :], size)
                placed = True
            cut = relative.find("/", cut + 1)
        if not placed:
            unattributed += size
    return unattributed


def reconcile() -> Reconciled:
    """Walk the whole store once: rows for every managed root (missing ones created, those of vanished owners
    dropped), each measured afresh, registered versions' copies included."""
    dropped, created = _drop_orphans(), _create_missing()
    started = _start_after(now_ms())  # past every change recorded so far
    rows = list(StorageUsage.objects.only("pk", "path", "experiment_id"))
    found = {row.path: Measure() for row in rows}
    unattributed = _walk_store(found)
    for row in rows:
        _save_measure(row, found[row.path], started)
    return Reconciled(
        roots=len(rows),
        bytes=sum(m.bytes for m in found.values()),
        files=sum(m.files for m in found.values()),
        created=created,
        dropped=dropped,
        unattributed_bytes=unattributed,
    )
