"""Every URL declares an access rule, and none answers an anonymous caller while ``STUDIO_AUTH`` is on.

The first test walks the URL patterns: a view added without ``@access(...)`` fails it by name. The second requests
every URL that is not PUBLIC without credentials and checks that each is refused, so a rule that is declared but
not enforced (a view mounted around the middleware, say) is caught too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from studio.auth.access import PUBLIC, ByMethod, rule_of


def _patterns(patterns: list[Any] | None = None, prefix: str = "", app: str = "") -> Iterator[tuple[str, str, Any]]:
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), entry.app_name or app)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), app, entry.callback


def _studio_patterns() -> list[tuple[str, Any]]:
    """Every pattern but the Django admin's, which checks staff status itself (and signs in on Studio's page)."""
    return [(route, view) for route, app, view in _patterns() if app != "admin"]


def test_every_url_declares_an_access_rule() -> None:
    missing = [
        f"{route} ({view.__module__}.{view.__qualname__})"
        for route, view in _studio_patterns()
        if rule_of(view) is None
    ]
    assert not missing, "URL patterns without an access rule:\n" + "\n".join(missing)


def test_rules_by_method_cover_every_method_the_view_serves() -> None:
    gaps = []
    for route, view in _studio_patterns():
        rule = rule_of(view)
        methods = getattr(view, "api_methods", None)
        if isinstance(rule, ByMethod) and methods:
            gaps += [f"{route} {m}" for m in methods if m not in rule.rules]
    assert not gaps, gaps


def _example_url(route: str) -> str:
    """A concrete URL for a route: converters get plausible values, regex routes a plain path."""
    url = route.lstrip("^").rstrip("$")
    url = re.sub(r"<int:[^>]+>", "1", url)
    url = re.sub(r"<path:[^>]+>", "0/dir/file.txt", url)
    url = re.sub(r"<(?:str:)?[^>]+>", "x", url)
    url = url.replace("(?:ajax-)?", "").replace(".*", "unknown")
    return "/" + url


def _protected() -> list[tuple[str, Any]]:
    return [(route, view) for route, view in _studio_patterns() if rule_of(view) is not PUBLIC]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_protected_url_answers_an_anonymous_caller(settings: Any, method: str) -> None:
    settings.STUDIO_AUTH = True
    client = Client()
    leaks = []
    for route, view in _protected():
        rule = rule_of(view)
        if isinstance(rule, ByMethod) and method.upper() not in rule.rules:
            continue  # a method the URL does not serve: the view refuses it itself
        url = _example_url(route)
        if method == "post":
            response = client.post(url, data=b"{}", content_type="application/json")
        else:
            response = client.get(url)
        if url.startswith(("/api/", "/ajax-api/")):
            refused = response.status_code == 401
        else:
            refused = response.status_code == 302 and "/signin/" in response["Location"]
        if not refused:
            leaks.append(f"{method.upper()} {url} -> {response.status_code}")
    assert not leaks, "answered without credentials:\n" + "\n".join(leaks)
