"""The account pages: sign-in (rate limited), sign-out, password change, and the personal access tokens."""

from __future__ import annotations

import math
from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm, PasswordChangeForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from studio.auth import ratelimit, tokens
from studio.auth.access import PUBLIC, SIGNED_IN, access
from studio.auth.middleware import client_address
from studio.errors import StudioError

MAX_TOKEN_DAYS = 3650
NEW_TOKEN_KEY = "studio:new-token"


def _blocked_message() -> str:
    # The cache does not tell how long a counter has left, so this is the longest the wait can be.
    minutes = max(1, math.ceil(settings.STUDIO_SIGNIN_WINDOW_SECONDS / 60))
    return f"Too many failed sign-in attempts; try again in {minutes} minute{'s' if minutes != 1 else ''}."


def safe_next(request: HttpRequest) -> str:
    """The page to go to after signing in: ``next`` if it stays on this site, else the start page."""
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME) or ""
    secure = request.is_secure()
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=secure)
    return target if allowed else resolve_url(settings.LOGIN_REDIRECT_URL)


@access(PUBLIC)
@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def SignInView(request: HttpRequest) -> HttpResponse:
    """The one sign-in form (the admin's login comes here too); no password is checked while its keys are blocked."""
    form = AuthenticationForm(request, data=request.POST if request.method == "POST" else None)
    status, error = 200, ""
    if request.method == "POST":
        keys = ratelimit.keys_for(request.POST.get("username", ""), client_address(request))
        if ratelimit.blocked(keys):
            form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
            status, error = 429, _blocked_message()
        elif form.is_valid():
            ratelimit.succeeded(keys)
            login(request, form.get_user())
            return HttpResponseRedirect(safe_next(request))
        else:
            ratelimit.failed(keys)
            status = 400
    context = {"form": form, "error": error, "next": request.POST.get("next") or request.GET.get("next", "")}
    return render(request, "studio/signin.html", context, status=status)


@access(SIGNED_IN)
@require_POST
def SignOutView(request: HttpRequest) -> HttpResponse:
    """End the session (POST only, so no link or image on another page can sign anyone out)."""
    logout(request)
    messages.success(request, "You are signed out.")
    return redirect("studio:signin")


@access(SIGNED_IN)
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
@never_cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def PasswordChangeView(request: HttpRequest) -> HttpResponse:
    """Change one's own password with Django's validators; the session stays signed in, other sessions end."""
    if request.method != "POST":
        return render(request, "studio/password_change.html", {"form": PasswordChangeForm(request.user)})
    # The old password is a password check like any other: it counts against the same limits as signing in.
    keys = ratelimit.keys_for(request.user.get_username(), client_address(request))
    if ratelimit.blocked(keys):
        context = {"form": PasswordChangeForm(request.user), "error": _blocked_message()}
        return render(request, "studio/password_change.html", context, status=429)
    form = PasswordChangeForm(request.user, data=request.POST)
    if not form.is_valid():
        if "old_password" in form.errors:
            ratelimit.failed(keys)
        return render(request, "studio/password_change.html", {"form": form}, status=400)
    form.save()
    update_session_auth_hash(request, form.user)
    messages.success(request, "Your password was changed.")
    return redirect("studio:password-change")


class TokenForm(forms.Form):
    """A new token: its name, and optionally after how many days it expires."""

    name = forms.CharField(max_length=100, strip=True)
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=MAX_TOKEN_DAYS)


def _tokens_page(request: HttpRequest, form: TokenForm, secret: str = "", status: int = 200) -> HttpResponse:
    context = {
        "form": form,
        "tokens": tokens.tokens_of(request.user),
        "secret": secret,
        "tracking_uri": request.build_absolute_uri("/").rstrip("/"),
        "auth_on": settings.STUDIO_AUTH,
        "now": timezone.now(),
    }
    return render(request, "studio/tokens.html", context, status=status)


@access(SIGNED_IN)
@never_cache  # the page that shows a new secret must not be kept by a browser's or a proxy's cache
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def TokenListView(request: HttpRequest) -> HttpResponse:
    """The user's tokens, and the form that creates one; the new secret is shown on the next page view only."""
    if request.method != "POST":
        return _tokens_page(request, TokenForm(), secret=request.session.pop(NEW_TOKEN_KEY, ""))
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    days = form.cleaned_data["expires_in_days"]
    expires_at = timezone.now() + timedelta(days=days) if days else None
    try:
        _, secret = tokens.create_token(user=request.user, name=form.cleaned_data["name"], expires_at=expires_at)
    except StudioError as exc:
        form.add_error(None, exc.message)
        return _tokens_page(request, form, status=exc.status)
    # Redirect after the POST, so a reload never creates a second token; the session holds the secret until then.
    request.session[NEW_TOKEN_KEY] = secret
    return redirect("studio:tokens")


@access(SIGNED_IN)
@login_required
@require_POST
def TokenRevokeView(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one of the user's own tokens; the next request that sends it is refused."""
    try:
        token = tokens.revoke_token(user=request.user, token_id=token_id)
    except StudioError:
        raise Http404("No such token.") from None
    messages.success(request, f"Token “{token.name}” is revoked.")
    return redirect("studio:tokens")


@access(PUBLIC)
def admin_login(request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
    """The admin site's login, sent to Studio's sign-in page: one form, one rate limit."""
    target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    return redirect(f"{reverse('studio:signin')}?{urlencode({REDIRECT_FIELD_NAME: target})}")
