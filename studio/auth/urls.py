"""Sign-in, sign-out, password change and access tokens (namespace ``studio``)."""

from __future__ import annotations

urlpatterns: list = []
