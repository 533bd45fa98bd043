"""The audit log: every purge, restore and artifact deletion, with who did it and how many bytes it concerned."""

from __future__ import annotations

from typing import Any

from studio.models import AuditEntry


def record(
    *,
    action: str,
    user: str = "",
    kind: str = "",
    object_id: str = "",
    name: str = "",
    bytes: int = 0,
    files: int = 0,
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Write one audit entry (in the caller's transaction, so an action that rolls back leaves no entry)."""
    return AuditEntry.objects.create(
        action=action,
        user=user[:256],
        kind=kind,
        object_id=str(object_id)[:256],
        name=name[:1024],
        bytes=bytes,
        files=files,
        detail=detail or {},
    )
