"""Personal access tokens: created once and shown once, stored as a SHA-256 digest, checked with one indexed query."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from studio.errors import invalid, not_found
from studio.models import AccessToken

PREFIX = "stu_"
# The last use is written at most this often per token, so a busy client does not turn every request into a write.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_TOKENS_PER_USER = 100


def digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(*, user: AbstractBaseUser, name: str, expires_at: datetime | None = None) -> tuple[AccessToken, str]:
    """A new token for the user; the secret is returned here and never again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise invalid("A token needs a name of 1 to 100 characters.")
    if AccessToken.objects.filter(user=user, revoked_at__isnull=True).count() >= MAX_TOKENS_PER_USER:
        raise invalid(f"A user has at most {MAX_TOKENS_PER_USER} active tokens; revoke one first.")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = AccessToken.objects.create(
        user=user, name=name, prefix=secret[: len(PREFIX) + 6], digest=digest(secret), expires_at=expires_at
    )
    return token, secret


def user_for_token(secret: str) -> AbstractBaseUser | None:
    """The active user a live token belongs to, or None; records the token's last use (at most once a minute)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    now = timezone.now()
    # The unique digest finds one row or none: no ordering, and the expiry is checked here rather than in SQL.
    found = list(AccessToken.objects.select_related("user").filter(digest=digest(secret), revoked_at__isnull=True)[:1])
    token = found[0] if found else None
    if token is None or (token.expires_at is not None and token.expires_at <= now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def tokens_of(user: AbstractBaseUser) -> list[AccessToken]:
    """The user's tokens, newest first, revoked ones included (they say when they were revoked)."""
    return list(AccessToken.objects.filter(user=user).order_by("-created_at", "-id"))


def revoke_token(*, user: AbstractBaseUser, token_id: int) -> AccessToken:
    """Revoke one of the user's tokens; it stops working on the next request."""
    token = AccessToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise not_found(f"No token {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token
