"""MLflow's own ``AuthServiceClient`` against a live Studio: users and their permissions, as an admin manages them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from mlflow.exceptions import RestException
from mlflow.server.auth.client import AuthServiceClient
from mlflow.server.auth.entities import ExperimentPermission

from studio.auth import permissions

pytestmark = pytest.mark.live
ADMIN_PASSWORD, ALICE_PASSWORD, NEW_PASSWORD = "admin-passphrase-42", "alice-passphrase-42", "alice-passphrase-43"


@pytest.fixture
def admin_client(settings: Any, tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> AuthServiceClient:
    """The client with an admin's user name and password (HTTP Basic), as MLflow's docs set them up."""
    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # the hash is not under test
    User.objects.create_superuser("admin", password=ADMIN_PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    return AuthServiceClient(tracking_uri)


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(RestException) as refused:
        call(*args, **kwargs)
    return refused.value.error_code


def test_an_admin_creates_a_user_and_grants_reads_updates_and_revokes_their_permission(
    admin_client: AuthServiceClient,
) -> None:
    from tracking.store.experiments import create_experiment

    experiment_id = str(create_experiment(name="churn"))
    user = admin_client.create_user("alice", ALICE_PASSWORD)
    assert (user.username, user.is_admin) == ("alice", False)
    assert _code(admin_client.create_user, "alice", ALICE_PASSWORD) == "RESOURCE_ALREADY_EXISTS"

    admin_client.grant_user_permission("alice", "experiment", experiment_id, "READ")
    granted = admin_client.get_user_permission("alice", "experiment", experiment_id)
    assert (granted.permission, granted.allowed) == ("READ", False)
    assert _code(admin_client.grant_user_permission, "alice", "experiment", experiment_id, "EDIT") == (
        "RESOURCE_ALREADY_EXISTS"
    )
    # MLflow 2's client updated and read a permission with these calls (the same transport as above).
    update = {"experiment_id": experiment_id, "username": "alice", "permission": "EDIT"}
    admin_client._request("/api/2.0/mlflow/experiments/permissions/update", "PATCH", json=update)
    reply = admin_client._request(
        "/api/2.0/mlflow/experiments/permissions/get",
        "GET",
        params={"experiment_id": experiment_id, "username": "alice"},
    )
    row = ExperimentPermission.from_json(reply["experiment_permission"])
    assert (row.experiment_id, row.user_id, row.permission) == (experiment_id, user.id, "EDIT")
    updated = admin_client.get_user_permission("alice", "experiment", experiment_id)
    assert (updated.permission, updated.allowed) == ("EDIT", True)
    assert admin_client.get_user("alice").id == user.id

    admin_client.revoke_user_permission("alice", "experiment", experiment_id)
    assert admin_client.get_user_permission("alice", "experiment", experiment_id).permission == "READ"  # the default
    assert _code(admin_client.revoke_user_permission, "alice", "experiment", experiment_id) == "RESOURCE_DOES_NOT_EXIST"
    admin_client.delete_user("alice")
    assert _code(admin_client.get_user, "alice") == "RESOURCE_DOES_NOT_EXIST"
    assert not User.objects.filter(username="alice").exists()


def test_a_user_reads_themself_changes_their_password_and_nothing_else(
    admin_client: AuthServiceClient, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracking.store.experiments import create_experiment

    experiment_id = str(create_experiment(name="fraud"))
    admin_client.create_user("alice", ALICE_PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ALICE_PASSWORD)
    alice = AuthServiceClient(tracking_uri)
    assert alice.get_user("alice").username == "alice"
    assert _code(alice.get_user, "admin") == "PERMISSION_DENIED"
    assert _code(alice.create_user, "mallory", ALICE_PASSWORD) == "PERMISSION_DENIED"
    assert _code(alice.update_user_admin, "alice", True) == "PERMISSION_DENIED"
    assert _code(alice.grant_user_permission, "alice", "experiment", experiment_id, "MANAGE") == "PERMISSION_DENIED"
    assert alice.get_user_permission("alice", "experiment", experiment_id).permission == "READ"
    assert _code(alice.update_user_password, "alice", NEW_PASSWORD) == "INVALID_PARAMETER_VALUE"
    alice.update_user_password("alice", NEW_PASSWORD, current_password=ALICE_PASSWORD)
    assert User.objects.get(username="alice").check_password(NEW_PASSWORD)
    assert _code(alice.get_user, "alice") == "UNAUTHENTICATED"  # the old password stopped working

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD)
    admin_client.update_user_admin("alice", True)
    assert admin_client.get_user("alice").is_admin is True
    assert permissions.level(User.objects.get(username="alice"), "experiment", int(experiment_id)) == permissions.MANAGE
