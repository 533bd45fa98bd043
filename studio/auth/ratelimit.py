"""Limits on failed sign-ins (the sign-in page and HTTP Basic credentials alike), kept in Django's cache.

A key (a user name, a client address) that failed ``STUDIO_SIGNIN_MAX_FAILURES`` times within
``STUDIO_SIGNIN_WINDOW_SECONDS`` is refused for the rest of the window, whatever password it tries. The cache is
shared by every web process (Redis when configured, else a file cache in the data directory).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.cache import cache


def _key(scope: str, value: str) -> str:
    return "studio:signin:" + hashlib.sha256(f"{scope}\0{value}".encode()).hexdigest()


def keys_for(username: str, address: str) -> list[str]:
    """The counters one attempt touches: its user name and its client address."""
    return [_key("user", username.lower()), _key("addr", address)]


def blocked(keys: list[str]) -> bool:
    """Whether any of the keys has used up its failures in the current window."""
    limit = settings.STUDIO_SIGNIN_MAX_FAILURES
    counts = cache.get_many(keys)
    return any(count >= limit for count in counts.values())


def failed(keys: list[str]) -> None:
    """Count one failed attempt against each key; a key's window starts at its first failure."""
    window = settings.STUDIO_SIGNIN_WINDOW_SECONDS
    for key in keys:
        if cache.add(key, 1, timeout=window):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window)


def succeeded(keys: list[str]) -> None:
    """A successful sign-in clears its user name's count (not its address's: one good account must not unlock
    guessing at others from the same address)."""
    cache.delete(keys[0])
