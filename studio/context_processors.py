"""What every page's layout needs to know about the viewer."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def menu(request: HttpRequest) -> dict[str, bool]:
    """Whether the admin entries (storage, trash, the Django admin) are offered: to staff users, and to everyone on
    a local Studio without authentication, whose one user is its admin."""
    user = getattr(request, "user", None)
    return {
        "show_admin_menu": not settings.STUDIO_AUTH or bool(user and user.is_staff),
        # The user menu (name, tokens, password, sign out) exists only when people sign in.
        "auth_enabled": settings.STUDIO_AUTH,
    }
