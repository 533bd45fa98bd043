"""Who may do what with an experiment or a registered model: MLflow's auth levels for users and groups.

READ reads, EDIT also changes (logs to runs, creates versions), MANAGE also deletes and grants permissions;
NO_PERMISSIONS hides the object. A user's own row wins (so a NO_PERMISSIONS row can shut one member of a group out),
else the best row of their groups, else ``STUDIO_DEFAULT_PERMISSION``. Superusers may do everything. A run follows its
experiment and a model version its registered model: the apps' locators map them to the object that holds the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group
from django.contrib.auth.models import User as UserModel
from django.db import connection, transaction
from django.db.models import QuerySet

from studio.errors import StudioError, invalid
from studio.models import Permission

Level = Permission.Level
NO_PERMISSIONS, READ, EDIT, MANAGE = Level.NO_PERMISSIONS, Level.READ, Level.EDIT, Level.MANAGE
KINDS = ("experiment", "registered_model")
User = UserModel | AnonymousUser | AbstractBaseUser


def parse_level(name: str) -> Level:
    """A level from its MLflow name (``READ``, ``EDIT``, ``MANAGE``, ``NO_PERMISSIONS``)."""
    try:
        return Level[name.strip().upper()]
    except KeyError:
        raise invalid(f"Invalid permission {name!r}: expected one of {', '.join(Level.names)}.") from None


def default_level() -> Level:
    """The level of anyone without a row of their own or of a group (``STUDIO_DEFAULT_PERMISSION``, READ by default)."""
    return parse_level(settings.STUDIO_DEFAULT_PERMISSION)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown permission kind {kind!r}")


def _explicit(user: User, kind: str, object_ids: Iterable[int] | None) -> dict[int, Level]:
    """The levels that rows give the user on the objects (all objects of the kind when ``object_ids`` is None)."""
    if not user.is_authenticated:
        return {}
    own: dict[int, int] = {}
    best_group: dict[int, int] = {}
    for object_id, user_id, level in _rows(user.pk, kind, None if object_ids is None else list(object_ids)):
        if user_id is not None:
            own[object_id] = level
        else:
            best_group[object_id] = max(level, best_group.get(object_id, 0))
    return {object_id: Level(level) for object_id, level in {**best_group, **own}.items()}


def _rows(user_id: int, kind: str, object_ids: list[int] | None) -> list[tuple[int, int | None, int]]:
    """(object id, user id or None, level) of the rows of the user and of their groups, in one query.

    Every authorized request runs it, so it is plain parameterized SQL: the ORM spent longer building this query
    than the database spent answering it (together they were most of what authentication cost a request)."""
    if object_ids is not None and not object_ids:
        return []
    quote = connection.ops.quote_name
    table, membership = quote(Permission._meta.db_table), quote(UserModel.groups.through._meta.db_table)
    sql = (
        f"SELECT p.object_id, p.user_id, p.level FROM {table} p WHERE p.kind = %s AND (p.user_id = %s OR p.group_id IN"
        f" (SELECT m.group_id FROM {membership} m WHERE m.user_id = %s))"
    )
    params: list[object] = [kind, user_id, user_id]
    if object_ids is not None:
        sql += f" AND p.object_id IN ({', '.join(['%s'] * len(object_ids))})"
        params += object_ids
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def levels(user: User, kind: str, object_ids: Iterable[int]) -> dict[int, Level]:
    """The user's effective level on each of the objects."""
    _check_kind(kind)
    ids = [int(i) for i in object_ids]
    if user.is_superuser:
        return dict.fromkeys(ids, MANAGE)
    explicit = _explicit(user, kind, ids)
    fallback = default_level() if user.is_authenticated else NO_PERMISSIONS
    return {i: explicit.get(i, fallback) for i in ids}


def level(user: User, kind: str, object_id: int) -> Level:
    """The user's effective level on one object."""
    return levels(user, kind, [object_id])[int(object_id)]


@dataclass(frozen=True)
class Visibility:
    """Which objects of a kind a user may read: all, all but ``ids``, or only ``ids``."""

    everything: bool
    exclude: frozenset[int] = frozenset()
    only: frozenset[int] | None = None

    def allows(self, object_id: int) -> bool:
        object_id = int(object_id)
        if self.only is not None:
            return object_id in self.only
        return object_id not in self.exclude

    def filter(self, queryset: QuerySet, field: str = "pk") -> QuerySet:
        """Restrict a queryset whose ``field`` holds the object's id to the readable objects."""
        if self.only is not None:
            return queryset.filter(**{f"{field}__in": self.only})
        if self.exclude:
            return queryset.exclude(**{f"{field}__in": self.exclude})
        return queryset

    def ids(self, object_ids: Iterable[int]) -> list[int]:
        """The readable ones of ``object_ids``, in their order."""
        return [i for i in object_ids if self.allows(i)]


EVERYTHING = Visibility(everything=True)


def visibility(user: User, kind: str) -> Visibility:
    """What the user may read of a kind, from their rows alone: two small queries however many objects exist."""
    _check_kind(kind)
    if not settings.STUDIO_AUTH or user.is_superuser:
        return EVERYTHING
    explicit = _explicit(user, kind, None)
    if user.is_authenticated and default_level() >= READ:
        return Visibility(everything=False, exclude=frozenset(i for i, lv in explicit.items() if lv < READ))
    return Visibility(everything=False, only=frozenset(i for i, lv in explicit.items() if lv >= READ))


def require(user: User, kind: str, object_ids: Iterable[int], needed: Level) -> None:
    """Raise MLflow's PERMISSION_DENIED unless the user has at least ``needed`` on every one of the objects."""
    if not settings.STUDIO_AUTH:
        return
    for object_id, have in levels(user, kind, object_ids).items():
        if have < needed:
            label = kind.replace("_", " ")
            raise StudioError(
                f"Permission denied: {needed.name} on {label} {object_id} is required.", "PERMISSION_DENIED"
            )


def grant_creator(user: User | None, kind: str, object_id: int) -> None:
    """The creator of an object gets MANAGE on it (nothing to record for anonymous or local use)."""
    if user is not None and user.is_authenticated:
        set_permission(kind=kind, object_id=object_id, user=user, level=MANAGE)


def set_permission(
    *, kind: str, object_id: int, level: Level, user: User | None = None, group: Group | None = None
) -> Permission:
    """Give a user or a group a level on an object, replacing the row they had."""
    _check_kind(kind)
    if (user is None) == (group is None):
        raise invalid("A permission is for a user or for a group.")
    who = {"user": user} if user is not None else {"group": group}
    with transaction.atomic():
        row, _ = Permission.objects.update_or_create(
            kind=kind, object_id=int(object_id), **who, defaults={"level": level}
        )
    return row


def remove_permission(*, kind: str, object_id: int, user: User | None = None, group: Group | None = None) -> bool:
    """Drop a user's or a group's row on an object (they fall back to their groups or the default)."""
    who = {"user": user} if user is not None else {"group": group}
    deleted, _ = Permission.objects.filter(kind=kind, object_id=int(object_id), **who).delete()
    return bool(deleted)


def permissions_of(kind: str, object_id: int) -> list[Permission]:
    """The rows on one object, users first, for the permissions page."""
    rows = Permission.objects.filter(kind=kind, object_id=int(object_id)).select_related("user", "group")
    return sorted(rows, key=lambda p: (p.user_id is None, (p.user or p.group).__str__().lower()))


def forget(kind: str, object_ids: Iterable[int]) -> None:
    """Remove the rows of objects that were purged, so a later object never inherits them."""
    Permission.objects.filter(kind=kind, object_id__in=[int(i) for i in object_ids]).delete()
