"""Personal access tokens and Basic credentials with the real ``mlflow`` client against a live Studio with
STUDIO_AUTH on, and the tokens page in Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from studio.auth import tokens
from studio.models import AccessToken

PASSWORD = "tide-pool-lantern-42"
CREDENTIALS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


@pytest.fixture(autouse=True)
def _auth_on(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Authentication enforced, no credentials from the environment the tests run in, no counted failures."""
    settings.STUDIO_AUTH = True
    # The real hasher takes most of a second per check on a slow machine; what is tested here is not its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)  # monkeypatch puts back whatever was there after the test


@pytest.fixture
def ada(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("ada", password=PASSWORD)


def unauthenticated(call: Callable[[], object]) -> MlflowException:
    """The client's exception for a call the server answers with 401 UNAUTHENTICATED."""
    with pytest.raises(MlflowException) as raised:
        call()
    assert raised.value.error_code == "UNAUTHENTICATED", raised.value
    return raised.value


def test_with_a_token_the_mlflow_workflow_works(
    tracking_uri: str, ada: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    token, secret = tokens.create_token(user=ada, name="laptop")
    assert token.last_used_at is None
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    experiment_id = mlflow.set_experiment("token-workflow").experiment_id
    notes = tmp_path / "notes.txt"
    notes.write_text("logged with a token")
    with mlflow.start_run() as run:
        mlflow.log_param("lr", "0.1")
        mlflow.log_metric("loss", 0.25, step=1)
        mlflow.log_artifact(str(notes))
    found = mlflow.search_runs(experiment_ids=[experiment_id], output_format="list")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    assert found[0].data.params == {"lr": "0.1"}
    assert found[0].data.metrics == {"loss": 0.25}
    client = MlflowClient(tracking_uri)
    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["notes.txt"]
    downloaded = client.download_artifacts(run.info.run_id, "notes.txt", str(tmp_path / "back"))
    assert Path(downloaded).read_text() == "logged with a token"
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_without_credentials_the_client_gets_401(tracking_uri: str, ada: User) -> None:
    client = MlflowClient(tracking_uri)
    unauthenticated(client.search_experiments)
    unauthenticated(lambda: client.create_experiment("anonymous"))


def test_a_made_up_token_gets_401(tracking_uri: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "stu_" + "x" * 43)
    unauthenticated(MlflowClient(tracking_uri).search_experiments)


def test_user_name_and_password_work_and_a_wrong_password_gets_401(
    tracking_uri: str, ada: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ada")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("basic-auth")
    assert client.get_experiment(experiment_id).name == "basic-auth"
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "not-" + PASSWORD)
    unauthenticated(lambda: client.get_experiment(experiment_id))
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "nobody")
    unauthenticated(lambda: client.get_experiment(experiment_id))


def test_a_revoked_token_stops_working_on_the_next_request(
    tracking_uri: str, ada: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, secret = tokens.create_token(user=ada, name="ci")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", secret)
    client = MlflowClient(tracking_uri)
    experiment_id = client.create_experiment("revoked")
    browser = Client()
    browser.force_login(ada)
    response = browser.post(reverse("studio:token-revoke", args=[token.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("studio:tokens")
    unauthenticated(lambda: client.get_experiment(experiment_id))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_nobody_revokes_or_sees_another_users_token(ada: User, django_user_model: type[User]) -> None:
    token, _ = tokens.create_token(user=ada, name="mine")
    bob = Client()
    bob.force_login(django_user_model.objects.create_user("bob", password=PASSWORD))
    assert bob.post(reverse("studio:token-revoke", args=[token.pk])).status_code == 404
    assert "mine" not in bob.get(reverse("studio:tokens")).content.decode()
    token.refresh_from_db()
    assert token.revoked_at is None


def test_the_tokens_page_refuses_a_bad_form_and_never_shows_digests(client: Client, ada: User) -> None:
    client.force_login(ada)
    token, _ = tokens.create_token(user=ada, name="old")
    response = client.post(reverse("studio:tokens"), {"name": " ", "expires_in_days": "0"})
    assert response.status_code == 400
    assert AccessToken.objects.filter(user=ada).count() == 1
    page = response.content.decode()
    assert "Name: This field is required." in page
    assert "Expiry: Ensure this value is greater than or equal to 1." in page
    assert token.digest not in page
    assert response["Cache-Control"].startswith("max-age=0") or "no-store" in response["Cache-Control"]


def test_create_and_revoke_a_token_on_the_page(page: Any, screenshot: Callable, ada: User) -> None:
    page.goto(reverse("studio:tokens"))
    page.fill("#signin-username", "ada")
    page.fill("#signin-password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(reverse("studio:tokens")) + "$"))
    assert "You have no tokens yet." in page.content()

    page.fill("#token-name", "laptop")
    page.fill("#token-days", "30")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("[data-secret]").inner_text()
    assert secret.startswith("stu_")
    assert tokens.user_for_token(secret) == ada
    lines = page.locator("#token-env").inner_text().splitlines()
    assert lines == [
        f"export MLFLOW_TRACKING_URI={page.url.split('/account/')[0]}",
        f"export MLFLOW_TRACKING_TOKEN={secret}",
    ]
    row = page.locator("[data-tokens] tbody tr", has_text="laptop")
    assert secret[:10] in row.inner_text()
    assert secret not in row.inner_text()
    assert row.locator("[data-token-status]").inner_text() == "active"
    page.get_by_role("button", name="Copy the token").click()
    page.wait_for_function("document.querySelector('[data-copy-status]').textContent !== ''")
    screenshot("created")

    page.reload()  # the secret is shown once: the next visit has only its prefix
    assert secret not in page.content()
    assert page.locator("[data-token-secret]").count() == 0
    page.get_by_role("button", name="Revoke the token laptop").click()
    page.wait_for_url(re.compile(re.escape(reverse("studio:tokens")) + "$"))
    assert "Token “laptop” is revoked." in page.content()
    assert page.locator("[data-tokens] [data-token-status]").inner_text().startswith("revoked")
    assert tokens.user_for_token(secret) is None
    screenshot("revoked")


def test_the_admin_lists_tokens_without_digests_and_revokes_them(ada: User, django_user_model: type[User]) -> None:
    token, secret = tokens.create_token(user=ada, name="leaked")
    admin = Client()
    admin.force_login(django_user_model.objects.create_superuser("root", password=PASSWORD))
    changelist = reverse("admin:studio_accesstoken_changelist")
    listed = admin.get(changelist).content.decode()
    detail = admin.get(reverse("admin:studio_accesstoken_change", args=[token.pk])).content.decode()
    for page in (listed, detail):
        assert "leaked" in page and f"{token.prefix}…" in page
        assert token.digest not in page and secret not in page
    response = admin.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [str(token.pk)], "index": 0})
    assert response.status_code == 302
    assert tokens.user_for_token(secret) is None
