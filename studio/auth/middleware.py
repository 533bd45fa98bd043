"""The one place where requests are authenticated and every view's access rule is enforced.

Credentials, in order: ``Authorization: Bearer <token>`` (``MLFLOW_TRACKING_TOKEN``), ``Authorization: Basic``
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD``), else the session of the signed-in browser. Wrong credentials are a 401
at once, never a silent fall back to anonymous. Then the resolved view's rule (``studio.auth.access``) decides: API
paths answer MLflow's error envelope, pages redirect to the sign-in page or show a 403.

With ``STUDIO_AUTH`` off nothing is authenticated or enforced, except that no browser on another site may make an
unsafe request (``Sec-Fetch-Site: cross-site``): a local Studio must not be a target for cross-site forms.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode

from studio.auth import ratelimit, tokens
from studio.auth.access import PUBLIC, denied, rule_of, unauthenticated
from studio.errors import StudioError

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIXES = ("/api/", "/ajax-api/")
# Verified Basic credentials, so that the password hash (deliberately slow) runs once per client, not per request.
# Keyed by the stored hash too: a changed password never matches an old entry.
_BASIC_CACHE: dict[str, float] = {}
_BASIC_CACHE_SECONDS = 300.0
_BASIC_CACHE_SIZE = 4096


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


class _CsrfCheck(CsrfViewMiddleware):
    """Django's CSRF check as a function: the reason for a refusal, or None."""

    def _reject(self, request: HttpRequest, reason: str) -> str:  # type: ignore[override]
        return reason


def csrf_failure(request: HttpRequest) -> str | None:
    """Why a session-authenticated unsafe request fails Django's CSRF check, or None when it passes."""
    check = _CsrfCheck(lambda r: HttpResponse())
    check.process_request(request)
    return check.process_view(request, None, (), {})  # type: ignore[arg-type,return-value]


def verify_basic(username: str, password: str) -> AbstractBaseUser | None:
    """The active user with this user name and password, or None."""
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        make_password(password)  # as long as a real check, so timing does not tell which names exist
        return None
    key = hashlib.sha256(f"{username}\0{password}\0{user.password}".encode()).hexdigest()
    now = time.monotonic()
    if _BASIC_CACHE.get(key, 0.0) > now:
        return user
    if not user.check_password(password):
        return None
    if len(_BASIC_CACHE) >= _BASIC_CACHE_SIZE:
        _BASIC_CACHE.clear()
    _BASIC_CACHE[key] = now + _BASIC_CACHE_SECONDS
    return user


class AuthMiddleware:
    """Authenticate API credentials, then enforce the resolved view's access rule."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request.studio_auth = "session"  # type: ignore[attr-defined]
        if settings.STUDIO_AUTH and (header := request.headers.get("Authorization")):
            try:
                self._authenticate(request, header)
            except StudioError as exc:
                return self.refuse(request, exc)
        return self.get_response(request)

    def _authenticate(self, request: HttpRequest, header: str) -> None:
        scheme, _, credentials = header.strip().partition(" ")
        scheme, credentials = scheme.lower(), credentials.strip()
        if scheme == "bearer":
            if not credentials.startswith(tokens.PREFIX):
                return  # not a Studio token (an endpoint's scoring key, sk-…): the view's rule and the gateway judge it
            user = tokens.user_for_token(credentials)
            if user is None:
                raise StudioError("Invalid, expired or revoked access token.", "UNAUTHENTICATED")
            request.studio_auth = "token"  # type: ignore[attr-defined]
        elif scheme == "basic":
            user = self._basic(request, credentials)
            request.studio_auth = "basic"  # type: ignore[attr-defined]
        else:
            return  # another scheme (a scoring key header of the gateway, say) is not ours to judge
        request.user = user
        request._cached_user = user  # type: ignore[attr-defined]

    def _basic(self, request: HttpRequest, credentials: str) -> AbstractBaseUser:
        try:
            username, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise StudioError("Malformed Basic credentials.", "UNAUTHENTICATED") from None
        if not sep:
            raise StudioError("Malformed Basic credentials.", "UNAUTHENTICATED")
        keys = ratelimit.keys_for(username, client_address(request))
        if ratelimit.blocked(keys):
            raise StudioError("Too many failed sign-in attempts; try again later.", "REQUEST_LIMIT_EXCEEDED")
        user = verify_basic(username, password)
        if user is None:
            ratelimit.failed(keys)
            raise StudioError("Invalid user name or password.", "UNAUTHENTICATED")
        return user

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> HttpResponseBase | None:
        rule = rule_of(view)
        unsafe = request.method not in SAFE_METHODS
        if unsafe and rule is not PUBLIC and request.headers.get("Sec-Fetch-Site") == "cross-site":
            return self.refuse(request, denied("Cross-site requests may not change anything here."))
        if not settings.STUDIO_AUTH:
            return None
        if rule is None:
            match = request.resolver_match
            if match is not None and match.app_name == "admin":
                return None  # the admin site checks staff status itself and redirects to our sign-in page
            log.error("No access rule for %s (%s); refused", request.path, getattr(view, "__qualname__", view))
            return self.refuse(request, denied("Permission denied: this URL declares no access rule."))
        try:
            rule.check(request, kwargs)
        except StudioError as exc:
            return self.refuse(request, exc)
        # API views are exempt for header-authenticated clients; a browser's session still needs the CSRF token (an
        # anonymous request has no session to protect).
        session = request.studio_auth == "session" and request.user.is_authenticated  # type: ignore[attr-defined]
        if unsafe and session and getattr(view, "csrf_exempt", False) and (reason := csrf_failure(request)):
            return self.refuse(request, denied(f"CSRF check failed: {reason}"))
        return None

    def refuse(self, request: HttpRequest, error: StudioError) -> HttpResponseBase:
        """The refusal in the form the caller understands: MLflow's envelope, a sign-in redirect, or a 403 page."""
        if is_api(request):
            from studio.api import error_response

            response = error_response(error.error_code, error.message, error.status)
            if error.error_code == "UNAUTHENTICATED" and request.path.startswith("/api/"):
                response["WWW-Authenticate"] = 'Basic realm="Studio"'
            return response
        if error.error_code == "UNAUTHENTICATED":
            return redirect(f"{reverse('studio:signin')}?{urlencode({'next': request.get_full_path()})}")
        return render(request, "studio/forbidden.html", {"message": error.message}, status=error.status)


__all__ = ["AuthMiddleware", "unauthenticated"]
