"""Sign-in, sign-out and password change, in Chromium against a live Studio with STUDIO_AUTH on; rate limits and
CSRF through Django's client."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.test import Client
from django.urls import reverse

PASSWORD = "tide-pool-lantern-42"
NEW_PASSWORD = "orchard-quartz-meadow-77"


@pytest.fixture(autouse=True)
def _auth_on(settings: Any) -> None:
    """Authentication enforced (each test counts failed sign-ins apart: tests/conftest.py gives it a cache prefix)."""
    settings.STUDIO_AUTH = True
    # The real hasher takes most of a second per check on a slow machine; what is tested here is not its strength.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ada(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user("ada", email="ada@example.com", password=PASSWORD)


def sign_in(page: Any, username: str, password: str) -> Any:
    """Fill in and send the sign-in form on the current page; the response to the POST."""
    page.fill("#signin-username", username)
    page.fill("#signin-password", password)
    with page.expect_response(lambda r: r.request.method == "POST" and "/signin/" in r.url) as posted:
        page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    return posted.value


def sign_out(page: Any) -> None:
    page.locator("[data-user-menu] summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/signin/"))


def test_signing_in_leads_to_the_page_that_asked_for_it(page: Any, screenshot: Callable, ada: User) -> None:
    experiments = reverse("tracking:experiment-list")
    page.goto(experiments)
    assert page.url.endswith(f"{reverse('studio:signin')}?next={experiments.replace('/', '%2F')}")
    assert page.locator("[data-user-menu]").count() == 0
    screenshot("signin")

    sign_in(page, "ada", PASSWORD)
    assert page.url.endswith(experiments)
    assert page.locator("[data-user-name]").inner_text() == "ada"
    screenshot("signed-in")


def test_a_wrong_password_shows_an_error_and_signs_nobody_in(page: Any, ada: User) -> None:
    page.goto(reverse("studio:signin"))
    response = sign_in(page, "ada", "not-the-password")
    assert response.status == 400
    assert "enter a correct username and password" in page.locator("[data-signin-error]").inner_text()
    assert page.locator("#signin-username").input_value() == "ada"
    assert page.locator("[data-user-menu]").count() == 0


def test_after_too_many_failures_even_the_right_password_is_refused(page: Any, settings: Any, ada: User) -> None:
    settings.STUDIO_SIGNIN_MAX_FAILURES = 3
    page.goto(reverse("studio:signin"))
    for _ in range(3):
        assert sign_in(page, "ada", "guess").status == 400
    response = sign_in(page, "ada", PASSWORD)
    assert response.status == 429
    minutes = settings.STUDIO_SIGNIN_WINDOW_SECONDS // 60
    expected = f"Too many failed sign-in attempts; try again in {minutes} minutes."
    assert page.locator("[data-signin-error]").inner_text() == expected
    page.goto(reverse("tracking:experiment-list"))
    assert "/signin/" in page.url  # still nobody signed in


def test_while_blocked_no_password_is_checked(client: Client, settings: Any, ada: User) -> None:
    settings.STUDIO_SIGNIN_MAX_FAILURES = 2
    checks: list[str] = []

    def failed(sender: Any, credentials: dict, **kwargs: Any) -> None:
        checks.append("failed")

    def succeeded(sender: Any, user: User, **kwargs: Any) -> None:
        checks.append("signed in")

    user_login_failed.connect(failed)
    user_logged_in.connect(succeeded)
    try:
        for _ in range(2):
            assert client.post(reverse("studio:signin"), {"username": "ada", "password": "x"}).status_code == 400
        assert checks == ["failed", "failed"]
        for password in ("x", PASSWORD):
            response = client.post(reverse("studio:signin"), {"username": "ADA", "password": password})
            assert response.status_code == 429
        assert checks == ["failed", "failed"]  # neither a wrong nor the right password reached the backend
    finally:
        user_login_failed.disconnect(failed)
        user_logged_in.disconnect(succeeded)
    # Another account from the same address is blocked too: the address has used up its failures.
    other = Client(REMOTE_ADDR="127.0.0.1")
    assert other.post(reverse("studio:signin"), {"username": "bob", "password": "x"}).status_code == 429
    # The user name is blocked from everywhere.
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert elsewhere.post(reverse("studio:signin"), {"username": "ada", "password": PASSWORD}).status_code == 429


def test_a_successful_sign_in_clears_the_user_names_failures(settings: Any, ada: User) -> None:
    settings.STUDIO_SIGNIN_MAX_FAILURES = 3

    def attempt(password: str, address: str) -> int:
        form = {"username": "ada", "password": password}
        return Client(REMOTE_ADDR=address).post(reverse("studio:signin"), form).status_code

    assert [attempt("x", "10.0.0.1"), attempt("x", "10.0.0.2"), attempt(PASSWORD, "10.0.0.3")] == [400, 400, 302]
    # Without the clearing, the user name would be at its limit after the next failure.
    assert [attempt("x", "10.0.0.4"), attempt("x", "10.0.0.5"), attempt(PASSWORD, "10.0.0.6")] == [400, 400, 302]


def test_sign_out_ends_the_session(page: Any, ada: User) -> None:
    page.goto(reverse("studio:signin"))
    sign_in(page, "ada", PASSWORD)
    sign_out(page)
    assert "You are signed out." in page.content()
    page.goto(reverse("tracking:experiment-list"))
    assert "/signin/" in page.url


def test_sign_out_takes_post_only(client: Client, ada: User) -> None:
    client.force_login(ada)
    assert client.get(reverse("studio:signout")).status_code == 405
    assert client.get(reverse("studio:tokens")).status_code == 200  # still signed in


def test_changing_the_password_keeps_the_session_and_retires_the_old_one(
    page: Any, screenshot: Callable, ada: User
) -> None:
    page.goto(reverse("studio:signin"))
    sign_in(page, "ada", PASSWORD)
    page.locator("[data-user-menu] summary").click()
    page.get_by_role("link", name="Change password").click()
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", "12345678")
    page.fill("#id_new_password2", "12345678")
    page.get_by_role("button", name="Change password").click()
    assert "This password is entirely numeric." in page.content()  # Django's validators apply
    screenshot("refused")

    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    assert "Your password was changed." in page.content()
    page.goto(reverse("studio:tokens"))
    assert page.url.endswith(reverse("studio:tokens"))  # the session survived the change

    sign_out(page)
    assert sign_in(page, "ada", PASSWORD).status == 400
    assert sign_in(page, "ada", NEW_PASSWORD).status == 302
    assert page.locator("[data-user-name]").inner_text() == "ada"


def test_a_wrong_old_password_changes_nothing(client: Client, ada: User) -> None:
    client.force_login(ada)
    form = {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    response = client.post(reverse("studio:password-change"), form)
    assert response.status_code == 400
    ada.refresh_from_db()
    assert ada.check_password(PASSWORD)


def test_sign_in_refuses_a_post_without_the_csrf_token(ada: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("studio:signin"), {"username": "ada", "password": PASSWORD})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/models/?q=a", "/models/?q=a"),
        ("https://evil.example/steal", "/"),
        ("//evil.example/", "/"),
        ("javascript:alert(1)", "/"),
    ],
)
def test_next_is_followed_only_on_this_site(client: Client, ada: User, target: str, lands: str) -> None:
    response = client.post(reverse("studio:signin"), {"username": "ada", "password": PASSWORD, "next": target})
    assert response.status_code == 302
    assert response["Location"] == lands


def test_the_admin_signs_in_through_the_studio_sign_in_page(client: Client, django_user_model: type[User]) -> None:
    django_user_model.objects.create_superuser("root", password=PASSWORD)
    response = client.get("/admin/", follow=True)
    signin = f"{reverse('studio:signin')}?next=%2Fadmin%2F"
    assert response.redirect_chain[-1][0] == signin
    assert response.templates[0].name == "studio/signin.html"
    response = client.post(signin, {"username": "root", "password": PASSWORD, "next": "/admin/"})
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_pages_for_signed_in_users_send_others_to_sign_in_with_auth_off(client: Client, settings: Any) -> None:
    settings.STUDIO_AUTH = False
    for name in ("studio:tokens", "studio:password-change"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("studio:signin"))
