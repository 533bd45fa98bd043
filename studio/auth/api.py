"""MLflow's auth app REST API: permissions on experiments and registered models, and users.

The paths, fields, replies and errors are those of ``mlflow.server.auth`` (``AuthServiceClient``): the per-object
permission endpoints of MLflow 2 (``experiments/permissions/create|get|update|delete`` and the same for registered
models, by ``name``) and the per-user grant API of MLflow 3 (``users/permissions/grant|revoke|get`` with a
``resource_type`` and a ``resource_id``). Studio's extension: the permission endpoints take ``group_name`` instead of
``username`` to give a group a level. Rows change only through ``studio.auth.permissions``, as on the page.

Who may call: the permission endpoints need MANAGE on the object; creating, promoting and deleting users is for
admins; a user may read themself and change their own password (with their current one, as MLflow asks).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation, update_session_auth_hash
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from studio.api import Args, api_view, missing, request_args, to_int
from studio.auth import permissions, resources
from studio.auth.access import ADMIN, SIGNED_IN, Locator, Rule, access, all_of, denied, on
from studio.auth.permissions import EDIT, MANAGE, Level
from studio.auth.resources import Resource
from studio.errors import StudioError, already_exists, invalid, not_found
from studio.models import Permission

Principal = dict[str, Any]  # {"user": user} or {"group": group}, the keyword arguments of ``set_permission``


@dataclass(frozen=True)
class _Kind:
    """How MLflow's API names one kind of object: its field, its reply key and its error messages."""

    kind: str
    field: str  # "experiment_id" or "name"
    reply: str  # "experiment_permission" or "registered_model_permission"
    title: str  # "Experiment" or "Registered model", for messages

    def find(self, key: str) -> Resource:
        """The object an experiment id or a model name names, or RESOURCE_DOES_NOT_EXIST."""
        object_id = _object_id(self.kind, key)
        resource = None if object_id is None else resources.lookup(self.kind, object_id)
        if resource is None:
            if self.kind == "experiment":
                raise not_found(f"No Experiment with id={key} exists")
            raise not_found(f"Registered Model with name={key} not found")
        return resource

    def target(self, args: Args) -> Resource:
        return self.find(args.str(self.field, required=True))

    def to_json(self, resource: Resource, principal: Principal, level: Level) -> dict[str, Any]:
        key = str(resource.id) if self.kind == "experiment" else resource.name
        if (user := principal.get("user")) is not None:
            return {self.field: key, "user_id": user.pk, "permission": level.name}
        group = principal["group"]
        return {self.field: key, "group_id": group.pk, "group_name": group.name, "permission": level.name}

    def describe(self, resource: Resource, principal: Principal) -> str:
        key = resource.id if self.kind == "experiment" else resource.name
        who = _describe(principal)
        return f"{self.title} permission with {self.field}={key} and {who}"


EXPERIMENT = _Kind("experiment", "experiment_id", "experiment_permission", "Experiment")
REGISTERED_MODEL = _Kind("registered_model", "name", "registered_model_permission", "Registered model")
BY_RESOURCE_TYPE = {EXPERIMENT.kind: EXPERIMENT, REGISTERED_MODEL.kind: REGISTERED_MODEL}


def _object_id(kind: str, key: Any) -> int | None:
    """The id an experiment id (a numeric string) or a model name stands for, or None."""
    if not isinstance(key, str) or not key:
        return None
    if kind == "registered_model":
        return resources.id_by_name(kind, key)
    try:
        object_id = to_int("experiment_id", key)
    except StudioError:
        return None
    return object_id if object_id >= 0 else None


def _describe(principal: Principal) -> str:
    if (user := principal.get("user")) is not None:
        return f"username={user.get_username()}"
    return f"group_name={principal['group'].name}"


# --- access rules ------------------------------------------------------------------------------------------------


def _existing(kind: str, key: Any) -> list[int]:
    object_id = _object_id(kind, key)
    if object_id is None or (kind == "experiment" and resources.lookup(kind, object_id) is None):
        return []  # nothing to check: the view answers RESOURCE_DOES_NOT_EXIST (or the argument error)
    return [object_id]


def _by_field(spec: _Kind) -> Locator:
    """The object of an MLflow 2 permission request (``experiment_id`` or ``name``)."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        try:
            return _existing(spec.kind, request_args(request, kwargs).str(spec.field))
        except StudioError:
            return []  # a malformed field: the view says what is wrong with it

    return locate


def _by_resource(kind: str) -> Locator:
    """The object of an MLflow 3 request when its ``resource_type`` is this kind."""

    def locate(request: HttpRequest, kwargs: dict[str, Any]) -> Iterable[int]:
        try:
            args = request_args(request, kwargs)
            if args.str("resource_type") != kind:
                return []
            return _existing(kind, args.str("resource_id"))
        except StudioError:
            return []

    return locate


MANAGE_EXPERIMENT: Rule = on("experiment", MANAGE, _by_field(EXPERIMENT))
MANAGE_REGISTERED_MODEL: Rule = on("registered_model", MANAGE, _by_field(REGISTERED_MODEL))
MANAGE_RESOURCE: Rule = all_of(*(on(kind, MANAGE, _by_resource(kind)) for kind in BY_RESOURCE_TYPE))


def _self_or_admin(request: HttpRequest, username: str) -> None:
    """Only admins read or change other users (nothing is checked while STUDIO_AUTH is off)."""
    if settings.STUDIO_AUTH and not (request.user.is_superuser or request.user.get_username() == username):
        raise denied("Permission denied: only admins may read or change other users.")


# --- the rows ----------------------------------------------------------------------------------------------------


def _principal(args: Args) -> Principal:
    """The user (``username``) or, Studio's extension, the group (``group_name``) a request names."""
    username, group_name = args.str("username"), args.str("group_name")
    if username and group_name:
        raise invalid("Send either 'username' or 'group_name', not both.")
    if group_name:
        group = Group.objects.filter(name=group_name).first()
        if group is None:
            raise not_found(f"Group with name={group_name} not found")
        return {"group": group}
    if not username:
        raise missing("username")
    return {"user": _user(username)}


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise not_found(f"User with username={username} not found")
    return user


def _row(spec: _Kind, resource: Resource, principal: Principal) -> Permission:
    row = Permission.objects.filter(kind=spec.kind, object_id=resource.id, **principal).first()
    if row is None:
        raise not_found(f"{spec.describe(resource, principal)} not found")
    return row


def _create(spec: _Kind, resource: Resource, principal: Principal, level: Level) -> dict[str, Any]:
    if Permission.objects.filter(kind=spec.kind, object_id=resource.id, **principal).exists():
        raise already_exists(f"{spec.describe(resource, principal)} already exists")
    permissions.set_permission(kind=spec.kind, object_id=resource.id, level=level, **principal)
    return {spec.reply: spec.to_json(resource, principal, level)}


def _level(args: Args) -> Level:
    return permissions.parse_level(args.str("permission", required=True))


def _create_view(spec: _Kind, args: Args) -> dict[str, Any]:
    return _create(spec, spec.target(args), _principal(args), _level(args))


def _get_view(spec: _Kind, args: Args) -> dict[str, Any]:
    resource, principal = spec.target(args), _principal(args)
    row = _row(spec, resource, principal)
    return {spec.reply: spec.to_json(resource, principal, Level(row.level))}


def _update_view(spec: _Kind, args: Args) -> dict[str, Any]:
    resource, principal = spec.target(args), _principal(args)
    level = _level(args)
    _row(spec, resource, principal)  # MLflow updates an existing row only
    permissions.set_permission(kind=spec.kind, object_id=resource.id, level=level, **principal)
    return {}


def _delete_view(spec: _Kind, args: Args) -> dict[str, Any]:
    resource, principal = spec.target(args), _principal(args)
    _row(spec, resource, principal)
    permissions.remove_permission(kind=spec.kind, object_id=resource.id, **principal)
    return {}


# --- MLflow 2: permissions of one experiment or registered model ----------------------------------------------


@access(MANAGE_EXPERIMENT)
@api_view("POST")
def CreateExperimentPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _create_view(EXPERIMENT, args)


@access(MANAGE_EXPERIMENT)
@api_view("GET")
def GetExperimentPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _get_view(EXPERIMENT, args)


@access(MANAGE_EXPERIMENT)
@api_view("PATCH")
def UpdateExperimentPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _update_view(EXPERIMENT, args)


@access(MANAGE_EXPERIMENT)
@api_view("DELETE")
def DeleteExperimentPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _delete_view(EXPERIMENT, args)


@access(MANAGE_REGISTERED_MODEL)
@api_view("POST")
def CreateRegisteredModelPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _create_view(REGISTERED_MODEL, args)


@access(MANAGE_REGISTERED_MODEL)
@api_view("GET")
def GetRegisteredModelPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _get_view(REGISTERED_MODEL, args)


@access(MANAGE_REGISTERED_MODEL)
@api_view("PATCH")
def UpdateRegisteredModelPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _update_view(REGISTERED_MODEL, args)


@access(MANAGE_REGISTERED_MODEL)
@api_view("DELETE")
def DeleteRegisteredModelPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    return _delete_view(REGISTERED_MODEL, args)


# --- users -------------------------------------------------------------------------------------------------------


def user_to_json(user: User) -> dict[str, Any]:
    """MLflow's ``User`` message: no password hash, and the user's own rows (not their groups')."""
    experiments: list[dict[str, Any]] = []
    models: list[dict[str, Any]] = []
    for row in Permission.objects.filter(user=user).order_by("kind", "object_id"):
        level = Level(row.level).name
        if row.kind == "experiment":
            experiments.append({"experiment_id": str(row.object_id), "user_id": user.pk, "permission": level})
        elif row.kind == "registered_model" and (model := resources.lookup(row.kind, row.object_id)) is not None:
            models.append({"name": model.name, "user_id": user.pk, "permission": level})
    return {
        "id": user.pk,
        "username": user.get_username(),
        "is_admin": user.is_superuser,
        "experiment_permissions": experiments,
        "registered_model_permissions": models,
    }


def _validate_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise invalid(" ".join(exc.messages)) from None


@access(ADMIN)
@api_view("POST")
def CreateUserApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    username, password = args.str("username", default=""), args.str("password", default="")
    if not username or not password:
        raise invalid("Username and password cannot be empty.")
    try:
        User._meta.get_field("username").run_validators(username)
    except ValidationError as exc:
        raise invalid(f"Invalid username {username!r}: {' '.join(exc.messages)}") from None
    if User.objects.filter(username=username).exists():
        raise already_exists(f"User (username={username}) already exists.")
    _validate_password(password, User(username=username))
    return {"user": user_to_json(User.objects.create_user(username=username, password=password))}


@access(SIGNED_IN)
@api_view("GET")
def GetUserApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    username = args.str("username", required=True)
    _self_or_admin(request, username)
    return {"user": user_to_json(_user(username))}


@access(SIGNED_IN)
@api_view("PATCH")
def UpdateUserPasswordApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    username, password = args.str("username", required=True), args.str("password", required=True)
    _self_or_admin(request, username)
    user = _user(username)
    if request.user.is_authenticated and request.user.pk == user.pk:
        # As MLflow: changing one's own password takes the current one, so a stolen session or token cannot.
        current = args.str("current_password")
        if not current:
            raise invalid("Current password is required when changing your own password.")
        if not user.check_password(current):
            raise invalid("Current password does not match.")
        if password == current:
            raise invalid("New password must differ from the current password.")
    _validate_password(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    if request.user.is_authenticated and request.user.pk == user.pk and request.studio_auth == "session":
        update_session_auth_hash(request, user)  # the browser that changed it stays signed in
    return {}


@access(ADMIN)
@api_view("PATCH")
def UpdateUserAdminApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    username = args.str("username", required=True)
    if not args.has("is_admin"):
        raise missing("is_admin")
    is_admin = args.bool("is_admin")
    user = _user(username)
    user.is_superuser = is_admin
    # An admin also gets the staff pages (storage, trash, the Django admin); staff status itself stays as it was
    # when admin rights are taken away, since it is managed in the Django admin.
    user.is_staff = user.is_staff or is_admin
    user.save(update_fields=["is_superuser", "is_staff"])
    return {}


@access(ADMIN)
@api_view("DELETE")
def DeleteUserApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    username = args.str("username", required=True)
    if request.user.is_authenticated and request.user.get_username() == username:
        message = "Users cannot delete their own account. Ask another admin to delete this user instead."
        raise StudioError(message, "BAD_REQUEST")
    _user(username).delete()  # their tokens and permission rows go with them
    return {}


# --- MLflow 3: one user's permission on one object ----------------------------------------------------------------


def _resource_of(args: Args) -> tuple[_Kind, Resource]:
    resource_type = args.str("resource_type", required=True)
    spec = BY_RESOURCE_TYPE.get(resource_type)
    if spec is None:
        expected = " or ".join(repr(kind) for kind in BY_RESOURCE_TYPE)
        raise invalid(f"resource_type {resource_type!r} is not supported by Studio: expected {expected}.")
    resource_id = args.str("resource_id", required=True)
    if resource_id == "*":
        raise invalid("Wildcard grants are not supported: use a group, or STUDIO_DEFAULT_PERMISSION for everyone.")
    return spec, spec.find(resource_id)


@access(MANAGE_RESOURCE)
@api_view("POST")
def GrantUserPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    spec, resource = _resource_of(args)
    _create(spec, resource, _principal(args), _level(args))
    return {}


@access(MANAGE_RESOURCE)
@api_view("POST")
def RevokeUserPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    spec, resource = _resource_of(args)
    principal = _principal(args)
    _row(spec, resource, principal)
    permissions.remove_permission(kind=spec.kind, object_id=resource.id, **principal)
    return {}


def _may_ask(asker: Any, username: str, resource: Resource | None) -> bool:
    if asker.is_superuser or asker.get_username() == username:
        return True
    return resource is not None and permissions.level(asker, resource.kind, resource.id) >= MANAGE


@access(SIGNED_IN)
@api_view("GET")
def GetUserPermissionApi(request: HttpRequest, args: Args) -> dict[str, Any]:
    """A user's effective level on an object; for admins, the user themself and those who manage the object."""
    username = args.str("username", required=True)
    resource: Resource | None
    try:
        _, resource = _resource_of(args)
    except StudioError as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        resource = None  # as MLflow: an unknown object is one that no one may use
    if settings.STUDIO_AUTH and not _may_ask(request.user, username, resource):
        raise denied("Permission denied: only admins, the user and managers of the object may ask.")
    user = _user(username)
    level = Level.NO_PERMISSIONS if resource is None else permissions.level(user, resource.kind, resource.id)
    # ``allowed`` is MLflow's ``can_use``: READ alone does not count.
    return {"allowed": level >= EDIT, "permission": level.name}
