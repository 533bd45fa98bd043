"""The authentication middleware on views of its own: credentials, rules, CSRF for sessions, rate limits."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Group, User
from django.http import HttpRequest
from django.test import Client
from django.urls import path
from django.utils import timezone

from studio.api import api_view
from studio.auth import permissions, tokens
from studio.auth.access import PUBLIC, SIGNED_IN, STAFF, access, on
from tracking.store.experiments import create_experiment


def _ids(request: HttpRequest, kwargs: dict[str, Any]) -> list[int]:
    return [int(kwargs["object_id"])]


@access(SIGNED_IN)
@api_view("GET", "POST")
def whoami(request: HttpRequest, args: object) -> dict:
    return {"user": request.user.get_username(), "via": request.studio_auth}


@access(on("experiment", permissions.EDIT, _ids))
@api_view("POST")
def edit(request: HttpRequest, args: object, object_id: int) -> dict:
    return {"edited": object_id}


@access(STAFF)
@api_view("GET")
def staff_only(request: HttpRequest, args: object) -> dict:
    return {}


@access(PUBLIC)
@api_view("POST")
def public(request: HttpRequest, args: object) -> dict:
    return {}


@api_view("GET")
def undeclared(request: HttpRequest, args: object) -> dict:
    return {}


urlpatterns = [
    path("api/whoami", whoami),
    path("api/edit/<int:object_id>", edit),
    path("api/staff", staff_only),
    path("api/public", public),
    path("api/undeclared", undeclared),
]
pytestmark = [pytest.mark.urls(__name__), pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _auth_on(settings: Any) -> None:
    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password="correct horse battery")


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _bearer(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {secret}"}


def test_token_authenticates_and_records_its_last_use(alice: User) -> None:
    token, secret = tokens.create_token(user=alice, name="laptop")
    response = Client().get("/api/whoami", **_bearer(secret))
    assert orjson.loads(response.content) == {"user": "alice", "via": "token"}
    token.refresh_from_db()
    assert token.last_used_at is not None
    assert token.digest != secret and secret not in token.prefix + token.digest


@pytest.mark.parametrize("change", ["revoked", "expired", "inactive", "unknown"])
def test_dead_token_is_401_at_once(alice: User, change: str) -> None:
    token, secret = tokens.create_token(user=alice, name="laptop")
    assert Client().get("/api/whoami", **_bearer(secret)).status_code == 200
    if change == "revoked":
        tokens.revoke_token(user=alice, token_id=token.pk)
    elif change == "expired":
        token.expires_at = timezone.now() - timedelta(seconds=1)
        token.save()
    elif change == "inactive":
        alice.is_active = False
        alice.save()
    else:
        secret = secret[:-2] + "xx"
    response = Client().get("/api/whoami", **_bearer(secret))
    assert response.status_code == 401
    assert orjson.loads(response.content)["error_code"] == "UNAUTHENTICATED"
    assert response["WWW-Authenticate"].startswith("Basic")


def test_anonymous_is_401_and_undeclared_view_is_refused(alice: User) -> None:
    assert Client().get("/api/whoami").status_code == 401
    _, secret = tokens.create_token(user=alice, name="t")
    response = Client().get("/api/undeclared", **_bearer(secret))
    assert response.status_code == 403
    assert orjson.loads(response.content)["error_code"] == "PERMISSION_DENIED"
    assert Client().post("/api/public", b"{}", content_type="application/json").status_code == 200
    # Nobody signed in, so no session to protect: an anonymous POST needs no CSRF token.
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/api/public", b"{}", content_type="application/json").status_code == 200


def test_basic_credentials_and_their_rate_limit(alice: User, settings: Any) -> None:
    settings.STUDIO_SIGNIN_MAX_FAILURES = 3
    client = Client()
    ok = client.get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "correct horse battery"))
    assert orjson.loads(ok.content) == {"user": "alice", "via": "basic"}
    for _ in range(3):
        assert client.get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "wrong")).status_code == 401
    blocked = client.get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "correct horse battery"))
    assert blocked.status_code == 429
    assert orjson.loads(blocked.content)["error_code"] == "REQUEST_LIMIT_EXCEEDED"
    assert client.get("/api/whoami", HTTP_AUTHORIZATION="Basic !!notbase64").status_code == 401


def test_changed_password_is_not_served_from_the_verification_cache(alice: User) -> None:
    assert Client().get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "correct horse battery")).status_code == 200
    alice.set_password("another long phrase")
    alice.save()
    assert Client().get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "correct horse battery")).status_code == 401
    assert Client().get("/api/whoami", HTTP_AUTHORIZATION=_basic("alice", "another long phrase")).status_code == 200


def test_object_rule_uses_own_row_over_groups_over_default(alice: User, settings: Any) -> None:
    _, secret = tokens.create_token(user=alice, name="t")
    client = Client(**_bearer(secret))
    experiment = create_experiment(name="e")

    def status(object_id: int = experiment) -> int:
        return client.post(f"/api/edit/{object_id}", b"{}", content_type="application/json").status_code

    assert status() == 403  # default READ
    assert status(experiment + 1000) == 200  # nothing by that id: the view answers (its own 404 in real views)
    team = Group.objects.create(name="team")
    alice.groups.add(team)
    permissions.set_permission(kind="experiment", object_id=experiment, group=team, level=permissions.EDIT)
    assert status() == 200
    permissions.set_permission(kind="experiment", object_id=experiment, user=alice, level=permissions.READ)
    assert status() == 403  # her own row wins over the group's
    alice.is_superuser = True
    alice.save()
    assert status() == 200


def test_staff_rule(alice: User) -> None:
    _, secret = tokens.create_token(user=alice, name="t")
    assert Client().get("/api/staff", **_bearer(secret)).status_code == 403
    alice.is_staff = True
    alice.save()
    assert Client().get("/api/staff", **_bearer(secret)).status_code == 200


def test_session_requests_to_api_views_need_the_csrf_token(alice: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    refused = client.post("/api/whoami", b"{}", content_type="application/json")
    assert refused.status_code == 403
    assert "CSRF" in orjson.loads(refused.content)["message"]
    client.get("/api/whoami")  # any page would set the cookie; here we set it by hand
    client.cookies["csrftoken"] = token = "a" * 32
    accepted = client.post("/api/whoami", b"{}", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == 200
    _, secret = tokens.create_token(user=alice, name="t")  # header credentials are not ambient: no CSRF token
    assert (
        Client(enforce_csrf_checks=True)
        .post("/api/whoami", b"{}", content_type="application/json", **_bearer(secret))
        .status_code
        == 200
    )


def test_cross_site_unsafe_requests_are_refused_even_without_auth(settings: Any) -> None:
    settings.STUDIO_AUTH = False
    client = Client()
    assert client.post("/api/edit/1", b"{}", content_type="application/json").status_code == 200
    refused = client.post("/api/edit/1", b"{}", content_type="application/json", HTTP_SEC_FETCH_SITE="cross-site")
    assert refused.status_code == 403
    assert client.get("/api/whoami", HTTP_SEC_FETCH_SITE="cross-site").status_code == 200
