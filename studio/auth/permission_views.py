"""The permissions page of an experiment or a registered model: who may read, edit or manage it.

Forms post back to the page (CSRF protected) and redirect after a change, so a reload never posts twice. The rows
are changed only through ``studio.auth.permissions``, like the REST API does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import Group, User
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from studio.auth import permissions, resources
from studio.auth.access import Locator, Rule, access, all_of, on
from studio.auth.permissions import MANAGE, Level
from studio.auth.resources import Resource
from studio.errors import StudioError, invalid
from studio.models import Permission

# What each level allows, for the legend and the tooltips of the selects.
LEVEL_TEXT = {
    Level.NO_PERMISSIONS: "cannot see it at all",
    Level.READ: "sees it, its runs or versions and their artifacts",
    Level.EDIT: "also logs to it, changes it and creates in it",
    Level.MANAGE: "also deletes it and grants permissions on it",
}
# The list page and the nav entry of each kind, for the breadcrumbs.
PARENTS = {
    "experiment": ("Experiments", "tracking:experiment-list", "experiments"),
    "registered_model": ("Models", "registry:model-list", "models"),
}
LISTED_NAMES = 500  # user and group names offered as suggestions in the "Add" form


def _locate(kind: str) -> Locator:
    """The page's object when the URL names this kind and the object exists, so the view answers 404 otherwise."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        if kwargs.get("kind") != kind or resources.lookup(kind, kwargs["object_id"]) is None:
            return []
        return [kwargs["object_id"]]

    return locate


# MANAGE on the object, whichever kind the URL names.
MANAGE_RULE: Rule = all_of(*(on(kind, MANAGE, _locate(kind)) for kind in permissions.KINDS))


def _resource(kind: str, object_id: int) -> Resource:
    resource = resources.lookup(kind, object_id) if kind in permissions.KINDS else None
    if resource is None:
        raise Http404(f"No {kind.replace('_', ' ')} {object_id}.")
    return resource


@access(MANAGE_RULE)
@require_http_methods(["GET", "HEAD", "POST"])
def PermissionsView(request: HttpRequest, kind: str, object_id: int) -> HttpResponse:
    """Who may do what with one experiment or registered model; add, change and remove their permissions."""
    resource = _resource(kind, object_id)
    if request.method != "POST":
        return _render(request, resource)
    try:
        done = _apply(request.POST, resource)
    except StudioError as exc:
        return _render(request, resource, error=exc.message, form=request.POST, status=400)
    messages.success(request, done)
    if settings.STUDIO_AUTH and permissions.level(request.user, kind, object_id) < MANAGE:
        messages.info(request, f"You no longer manage this {resource.label}.")
        return redirect(resource.url)
    return redirect(request.path)


def _apply(form: Any, resource: Resource) -> str:
    """Carry out one posted action and say what changed."""
    action = form.get("action")
    if action == "add":
        principal = _principal(form.get("principal", ""), form.get("name", ""))
        level = permissions.parse_level(form.get("level", ""))
        permissions.set_permission(kind=resource.kind, object_id=resource.id, level=level, **principal)
        return f"{_who(**principal)} now has {level.name} on this {resource.label}."
    if action not in ("update", "remove"):
        raise invalid(f"Unknown action {action!r}.")
    row = _row(form.get("row", ""), resource)
    principal = {"user": row.user} if row.user_id else {"group": row.group}
    if action == "remove":
        permissions.remove_permission(kind=resource.kind, object_id=resource.id, **principal)
        return f"Removed the permission of {_who(**principal)}."
    level = permissions.parse_level(form.get("level", ""))
    permissions.set_permission(kind=resource.kind, object_id=resource.id, level=level, **principal)
    return f"{_who(**principal)} now has {level.name} on this {resource.label}."


def _principal(principal: str, name: str) -> dict[str, Any]:
    """The user or the group a form names, as keyword arguments for ``set_permission``."""
    name = name.strip()
    if not name:
        raise invalid("Enter the name of a user or a group.")
    if principal == "group":
        group = Group.objects.filter(name=name).first()
        if group is None:
            raise invalid(f"There is no group named “{name}”.")
        return {"group": group}
    if principal != "user":
        raise invalid("Choose a user or a group.")
    user = User.objects.filter(username=name).first()
    if user is None:
        raise invalid(f"There is no user named “{name}”.")
    return {"user": user}


def _who(user: User | None = None, group: Group | None = None) -> str:
    return f"User {user.get_username()}" if user is not None else f"Group {group.name if group else ''}"


def _row(raw_id: str, resource: Resource) -> Permission:
    row = None
    if raw_id.isdigit():
        rows = Permission.objects.select_related("user", "group")
        row = rows.filter(pk=int(raw_id), kind=resource.kind, object_id=resource.id).first()
    if row is None:
        raise invalid("That permission was removed meanwhile; the page shows the current ones.")
    return row


@dataclass(frozen=True)
class Check:
    """The answer of "check access": a user's effective level on the object and where it comes from."""

    username: str
    level: Level | None = None
    source: str = ""
    error: str = ""


def _check(username: str, resource: Resource) -> Check | None:
    username = username.strip()
    if not username:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        return Check(username, error=f"There is no user named “{username}”.")
    level = permissions.level(user, resource.kind, resource.id)
    if user.is_superuser:
        return Check(username, level, "an admin, who may do everything")
    rows = Permission.objects.filter(kind=resource.kind, object_id=resource.id)
    rows = rows.filter(Q(user=user) | Q(group__in=user.groups.all())).select_related("group")
    own = next((row for row in rows if row.user_id is not None), None)
    groups = sorted((row for row in rows if row.group_id is not None), key=lambda row: -row.level)
    if own is not None:
        source = "their own permission" + (", which wins over their groups'" if groups else "")
    elif groups:
        source = f"the permission of their group “{groups[0].group.name}”"
    else:
        source = "the default permission (STUDIO_DEFAULT_PERMISSION), as they have no row of their own or of a group"
    return Check(username, level, source)


def _render(
    request: HttpRequest, resource: Resource, *, error: str = "", form: Any = None, status: int = 200
) -> HttpResponse:
    rows = permissions.permissions_of(resource.kind, resource.id)
    default = permissions.default_level()
    parent_label, parent_url, nav = PARENTS[resource.kind]
    context = {
        "nav": nav,
        "resource": resource,
        "parent_label": parent_label,
        "parent_url": parent_url,
        "rows": [
            {
                "id": row.pk,
                "principal": "user" if row.user_id else "group",
                "name": row.user.get_username() if row.user_id else row.group.name,
                "level": Level(row.level).name,
            }
            for row in rows
        ],
        "levels": [(level.name, LEVEL_TEXT[level]) for level in reversed(Level)],
        "default_level": default,
        "managed": default >= MANAGE or any(row.level >= MANAGE for row in rows),
        "auth_on": settings.STUDIO_AUTH,
        "error": error,
        "form": form or {},
        "check": _check(request.GET.get("check", ""), resource),
        "user_names": User.objects.filter(is_active=True)
        .order_by("username")
        .values_list("username", flat=True)[:LISTED_NAMES],
        "group_names": Group.objects.order_by("name").values_list("name", flat=True)[:LISTED_NAMES],
    }
    return render(request, "studio/permissions.html", context, status=status)
