"""MLflow's auth REST API (permissions and users) through Django's client, with tokens, as a client sends them."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from studio.auth import permissions
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.auth.tokens import create_token
from studio.models import AccessToken

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
# Django's default hasher takes most of a second per password on a slow machine; what is tested here is who may
# change what, not the hash.
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


class Caller:
    """One user's client: a bearer token on every request (no session, so no CSRF token is needed)."""

    def __init__(self, user: User | None, prefix: str = "/api/2.0/mlflow/") -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {create_token(user=user, name='test')[1]}"} if user else {}
        self.prefix = prefix

    def __call__(self, method: str, endpoint: str, payload: dict | None = None, status: int = 200) -> dict:
        url = self.prefix + endpoint
        if method == "GET":
            response = self.client.get(url, payload or {}, headers=self.headers)
        else:
            call = getattr(self.client, method.lower())
            response = call(url, orjson.dumps(payload or {}), content_type="application/json", headers=self.headers)
        assert response.status_code == status, (response.status_code, response.content[:400])
        return orjson.loads(response.content)

    def error(self, method: str, endpoint: str, payload: dict | None, status: int, code: str) -> str:
        body = self(method, endpoint, payload, status)
        assert body["error_code"] == code, body
        return body["message"]


@pytest.fixture
def world(settings: Any) -> dict[str, Any]:
    """An admin, alice who manages an experiment and a model, bob with nothing of his own, and the team group."""
    from registry.store.models import create_registered_model
    from tracking.store.experiments import create_experiment

    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"
    settings.PASSWORD_HASHERS = FAST_HASHERS
    admin = User.objects.create_superuser("admin", password=PASSWORD)
    alice = User.objects.create_user("alice", password=PASSWORD)
    bob = User.objects.create_user("bob", password=PASSWORD)
    team = Group.objects.create(name="team")
    experiment_id = create_experiment(name="exp")
    model = create_registered_model(name="model")
    permissions.set_permission(kind="experiment", object_id=experiment_id, user=alice, level=MANAGE)
    permissions.set_permission(kind="registered_model", object_id=model.pk, user=alice, level=MANAGE)
    return {"admin": admin, "alice": alice, "bob": bob, "team": team, "experiment_id": experiment_id, "model": model}


def test_a_manager_creates_reads_updates_and_deletes_an_experiment_permission(world: dict[str, Any]) -> None:
    alice, bob, eid = Caller(world["alice"]), world["bob"], str(world["experiment_id"])
    body = alice(
        "POST", "experiments/permissions/create", {"experiment_id": eid, "username": "bob", "permission": "READ"}
    )
    assert body == {"experiment_permission": {"experiment_id": eid, "user_id": bob.pk, "permission": "READ"}}
    got = alice("GET", "experiments/permissions/get", {"experiment_id": eid, "username": "bob"})
    assert got == body
    update = {"experiment_id": eid, "username": "bob", "permission": "EDIT"}
    assert alice("PATCH", "experiments/permissions/update", update) == {}
    got = alice("GET", "experiments/permissions/get", {"experiment_id": eid, "username": "bob"})
    assert got["experiment_permission"]["permission"] == "EDIT"
    assert permissions.level(bob, "experiment", int(eid)) == EDIT
    assert alice("DELETE", "experiments/permissions/delete", {"experiment_id": eid, "username": "bob"}) == {}
    message = alice.error(
        "GET", "experiments/permissions/get", {"experiment_id": eid, "username": "bob"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert message == f"Experiment permission with experiment_id={eid} and username=bob not found"
    assert permissions.level(bob, "experiment", int(eid)) == READ  # back to the default


# method, endpoint, what differs from bob's existing READ grant (None drops the field), status, error code
EXPERIMENT_PERMISSION_ERRORS = [
    ("POST", "create", {}, 400, "RESOURCE_ALREADY_EXISTS"),
    ("POST", "create", {"username": "nobody"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ("POST", "create", {"username": "admin", "experiment_id": "999"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ("POST", "create", {"username": "admin", "experiment_id": "x"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ("POST", "create", {"username": None}, 400, "INVALID_PARAMETER_VALUE"),
    ("POST", "create", {"group_name": "team"}, 400, "INVALID_PARAMETER_VALUE"),
    ("PATCH", "update", {"permission": "OWNER"}, 400, "INVALID_PARAMETER_VALUE"),
    ("PATCH", "update", {"permission": None}, 400, "INVALID_PARAMETER_VALUE"),
    ("PATCH", "update", {"username": "admin"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ("DELETE", "delete", {"username": "admin"}, 404, "RESOURCE_DOES_NOT_EXIST"),
    ("GET", "create", {}, 404, "ENDPOINT_NOT_FOUND"),
]


@pytest.mark.parametrize(("method", "endpoint", "change", "status", "code"), EXPERIMENT_PERMISSION_ERRORS)
def test_experiment_permission_errors(
    world: dict[str, Any], method: str, endpoint: str, change: dict, status: int, code: str
) -> None:
    admin = Caller(world["admin"])
    grant = {"experiment_id": str(world["experiment_id"]), "username": "bob", "permission": "READ"}
    admin("POST", "experiments/permissions/create", grant)
    payload = {key: value for key, value in {**grant, **change}.items() if value is not None}
    admin.error(method, f"experiments/permissions/{endpoint}", payload, status, code)
    assert permissions.level(world["bob"], "experiment", world["experiment_id"]) == READ


def test_only_managers_may_grant(world: dict[str, Any]) -> None:
    eid = str(world["experiment_id"])
    grant = {"experiment_id": eid, "username": "bob", "permission": "MANAGE"}
    message = Caller(world["bob"]).error("POST", "experiments/permissions/create", grant, 403, "PERMISSION_DENIED")
    assert "MANAGE" in message
    Caller(world["bob"]).error("GET", "experiments/permissions/get", grant, 403, "PERMISSION_DENIED")
    Caller(None).error("POST", "experiments/permissions/create", grant, 401, "UNAUTHENTICATED")
    model = {"name": "model", "username": "bob", "permission": "MANAGE"}
    Caller(world["bob"]).error("POST", "registered-models/permissions/create", model, 403, "PERMISSION_DENIED")
    assert permissions.level(world["bob"], "experiment", int(eid)) == READ


def test_registered_model_permissions_for_a_group(world: dict[str, Any]) -> None:
    alice, bob, team, model = Caller(world["alice"]), world["bob"], world["team"], world["model"]
    bob.groups.add(team)
    grant = {"name": "model", "group_name": "team", "permission": "EDIT"}
    body = alice("POST", "registered-models/permissions/create", grant)
    assert body == {
        "registered_model_permission": {
            "name": "model",
            "group_id": team.pk,
            "group_name": "team",
            "permission": "EDIT",
        }
    }
    assert permissions.level(User.objects.get(pk=bob.pk), "registered_model", model.pk) == EDIT
    assert alice("PATCH", "registered-models/permissions/update", {**grant, "permission": "MANAGE"}) == {}
    got = alice("GET", "registered-models/permissions/get", {"name": "model", "group_name": "team"})
    assert got["registered_model_permission"]["permission"] == "MANAGE"
    assert alice("DELETE", "registered-models/permissions/delete", {"name": "model", "group_name": "team"}) == {}
    alice.error(
        "GET",
        "registered-models/permissions/get",
        {"name": "model", "group_name": "team"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    alice.error(
        "POST",
        "registered-models/permissions/create",
        {**grant, "group_name": "nobody"},
        404,
        "RESOURCE_DOES_NOT_EXIST",
    )
    message = Caller(world["admin"]).error(
        "POST", "registered-models/permissions/create", {**grant, "name": "other"}, 404, "RESOURCE_DOES_NOT_EXIST"
    )
    assert message == "Registered Model with name=other not found"


def test_the_ajax_prefix_answers_too(world: dict[str, Any]) -> None:
    alice = Caller(world["alice"], prefix="/ajax-api/2.0/mlflow/")
    grant = {"name": "model", "username": "bob", "permission": "READ"}
    assert alice("POST", "registered-models/permissions/create", grant)["registered_model_permission"]["user_id"]


def test_a_browser_session_needs_the_csrf_token(world: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["alice"])
    grant = orjson.dumps({"experiment_id": str(world["experiment_id"]), "username": "bob", "permission": "EDIT"})
    response = client.post(
        "/ajax-api/2.0/mlflow/experiments/permissions/create", grant, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "PERMISSION_DENIED"
    assert permissions.level(world["bob"], "experiment", world["experiment_id"]) == READ


def test_admins_create_get_promote_and_delete_users(world: dict[str, Any]) -> None:
    admin = Caller(world["admin"])
    body = admin("POST", "users/create", {"username": "carol", "password": PASSWORD})
    carol = User.objects.get(username="carol")
    assert body == {
        "user": {
            "id": carol.pk,
            "username": "carol",
            "is_admin": False,
            "experiment_permissions": [],
            "registered_model_permissions": [],
        }
    }
    assert carol.check_password(PASSWORD)
    admin.error("POST", "users/create", {"username": "carol", "password": PASSWORD}, 400, "RESOURCE_ALREADY_EXISTS")
    admin.error("POST", "users/create", {"username": "dave", "password": ""}, 400, "INVALID_PARAMETER_VALUE")
    message = admin.error(
        "POST", "users/create", {"username": "dave", "password": "dave"}, 400, "INVALID_PARAMETER_VALUE"
    )
    assert "too short" in message
    admin.error("POST", "users/create", {"username": "da ve", "password": PASSWORD}, 400, "INVALID_PARAMETER_VALUE")
    got = admin("GET", "users/get", {"username": "alice"})["user"]
    assert got["experiment_permissions"] == [
        {"experiment_id": str(world["experiment_id"]), "user_id": world["alice"].pk, "permission": "MANAGE"}
    ]
    assert got["registered_model_permissions"] == [
        {"name": "model", "user_id": world["alice"].pk, "permission": "MANAGE"}
    ]
    admin.error("GET", "users/get", {"username": "nobody"}, 404, "RESOURCE_DOES_NOT_EXIST")
    assert admin("PATCH", "users/update-admin", {"username": "carol", "is_admin": True}) == {}
    carol.refresh_from_db()
    assert carol.is_superuser and carol.is_staff
    assert admin("PATCH", "users/update-admin", {"username": "carol", "is_admin": "false"}) == {}
    carol.refresh_from_db()
    assert not carol.is_superuser
    admin.error("PATCH", "users/update-admin", {"username": "carol"}, 400, "INVALID_PARAMETER_VALUE")
    create_token(user=carol, name="carol's")
    assert admin("DELETE", "users/delete", {"username": "carol"}) == {}
    assert not User.objects.filter(username="carol").exists()
    assert not AccessToken.objects.filter(name="carol's").exists()
    admin.error("DELETE", "users/delete", {"username": "carol"}, 404, "RESOURCE_DOES_NOT_EXIST")
    admin.error("DELETE", "users/delete", {"username": "admin"}, 400, "BAD_REQUEST")


def test_users_see_themselves_only_and_manage_no_one(world: dict[str, Any]) -> None:
    bob = Caller(world["bob"])
    assert bob("GET", "users/get", {"username": "bob"})["user"]["username"] == "bob"
    bob.error("GET", "users/get", {"username": "alice"}, 403, "PERMISSION_DENIED")
    bob.error("GET", "users/get", {"username": "nobody"}, 403, "PERMISSION_DENIED")  # existence is not told
    bob.error("POST", "users/create", {"username": "eve", "password": PASSWORD}, 403, "PERMISSION_DENIED")
    bob.error("PATCH", "users/update-admin", {"username": "bob", "is_admin": True}, 403, "PERMISSION_DENIED")
    bob.error("DELETE", "users/delete", {"username": "alice"}, 403, "PERMISSION_DENIED")
    bob.error("PATCH", "users/update-password", {"username": "alice", "password": "x" * 20}, 403, "PERMISSION_DENIED")
    assert not User.objects.get(username="bob").is_superuser


def test_changing_ones_own_password_takes_the_current_one(world: dict[str, Any]) -> None:
    bob, new = Caller(world["bob"]), "another-long-passphrase"
    change = {"username": "bob", "password": new}
    assert "Current password is required" in bob.error(
        "PATCH", "users/update-password", change, 400, "INVALID_PARAMETER_VALUE"
    )
    bob.error("PATCH", "users/update-password", {**change, "current_password": "wrong"}, 400, "INVALID_PARAMETER_VALUE")
    bob.error(
        "PATCH",
        "users/update-password",
        {**change, "password": PASSWORD, "current_password": PASSWORD},
        400,
        "INVALID_PARAMETER_VALUE",
    )
    assert bob("PATCH", "users/update-password", {**change, "current_password": PASSWORD}) == {}
    assert User.objects.get(username="bob").check_password(new)
    # An admin changes someone else's without it.
    assert Caller(world["admin"])("PATCH", "users/update-password", {"username": "bob", "password": PASSWORD}) == {}
    assert User.objects.get(username="bob").check_password(PASSWORD)


def test_mlflow3_grant_get_and_revoke(world: dict[str, Any]) -> None:
    alice, bob = Caller(world["alice"], prefix="/api/3.0/mlflow/"), Caller(world["bob"], prefix="/api/3.0/mlflow/")
    eid = str(world["experiment_id"])
    target = {"username": "bob", "resource_type": "experiment", "resource_id": eid}
    assert bob("GET", "users/permissions/get", target) == {"allowed": False, "permission": "READ"}  # the default
    assert alice("POST", "users/permissions/grant", {**target, "permission": "EDIT"}) == {}
    assert bob("GET", "users/permissions/get", target) == {"allowed": True, "permission": "EDIT"}
    assert alice("GET", "users/permissions/get", target)["permission"] == "EDIT"  # a manager may ask
    alice.error("POST", "users/permissions/grant", {**target, "permission": "EDIT"}, 400, "RESOURCE_ALREADY_EXISTS")
    assert alice("POST", "users/permissions/revoke", target) == {}
    alice.error("POST", "users/permissions/revoke", target, 404, "RESOURCE_DOES_NOT_EXIST")
    on_model = {"username": "alice", "resource_type": "registered_model", "resource_id": "model"}
    bob.error("GET", "users/permissions/get", on_model, 403, "PERMISSION_DENIED")
    bob.error(
        "POST",
        "users/permissions/grant",
        {**on_model, "username": "bob", "permission": "MANAGE"},
        403,
        "PERMISSION_DENIED",
    )
    assert alice("GET", "users/permissions/get", on_model) == {"allowed": True, "permission": "MANAGE"}


def test_mlflow3_errors(world: dict[str, Any]) -> None:
    admin = Caller(world["admin"], prefix="/api/3.0/mlflow/")
    target = {"username": "bob", "resource_type": "experiment", "resource_id": "*", "permission": "READ"}
    assert "Wildcard" in admin.error("POST", "users/permissions/grant", target, 400, "INVALID_PARAMETER_VALUE")
    admin.error(
        "POST", "users/permissions/grant", {**target, "resource_type": "prompt"}, 400, "INVALID_PARAMETER_VALUE"
    )
    admin.error("POST", "users/permissions/grant", {**target, "resource_id": "12345"}, 404, "RESOURCE_DOES_NOT_EXIST")
    deny = {**target, "permission": "DENY", "resource_id": str(world["experiment_id"])}
    admin.error("POST", "users/permissions/grant", deny, 400, "INVALID_PARAMETER_VALUE")
    unknown = {"username": "bob", "resource_type": "registered_model", "resource_id": "nothing"}
    assert admin("GET", "users/permissions/get", unknown) == {"allowed": False, "permission": "NO_PERMISSIONS"}
    admin.error("GET", "users/permissions/get", {**unknown, "username": "nobody"}, 404, "RESOURCE_DOES_NOT_EXIST")
