"""Access rules: every view declares who may call it, and ``studio.auth.middleware`` enforces the rule.

A rule is attached with ``@access(rule)`` (or, for a view that routes by HTTP method, ``@access(GET=…, POST=…)``)
and read back with ``rule_of(view)``. A view without a rule is refused while ``STUDIO_AUTH`` is on, and
``tests/studio/test_access_coverage.py`` walks every URL pattern so that none ships without one.

- ``PUBLIC``: anyone (probes, the sign-in page, the scoring gateway, which checks its endpoint keys itself).
- ``SIGNED_IN``: any signed-in user; the view filters what it lists (search endpoints) or creates something new.
- ``STAFF``: staff users (storage, trash, purge jobs).
- ``ADMIN``: superusers (managing users through the API).
- ``on(kind, level, locate)``: the level on every object ``locate(request, kwargs)`` names; a locator that finds
  nothing, or ids of which none exists, lets the view answer its own 404 (locators need not query: existence is
  looked up only when the permission check fails).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from studio.api import Args, request_args
from studio.auth import permissions, resources
from studio.errors import StudioError

Locator = Callable[[HttpRequest, dict[str, Any]], Iterable[int]]


def request_fields(request: HttpRequest, kwargs: dict[str, Any]) -> Args | None:
    """The request's fields as its API view reads them (the parse is shared), or None when they cannot be read: a
    locator then finds nothing and the view answers the same 400."""
    try:
        return request_args(request, kwargs)
    except StudioError:
        return None


def request_field(request: HttpRequest, kwargs: dict[str, Any], name: str) -> str:
    """One string field of the request, "" when absent, unreadable or mistyped (the view refuses those itself)."""
    args = request_fields(request, kwargs)
    if args is None:
        return ""
    try:
        return args.str(name, default="") or ""
    except StudioError:
        return ""


def unauthenticated() -> StudioError:
    message = "Authentication required: sign in, or send a token or a user name and password."
    return StudioError(message, "UNAUTHENTICATED")


def denied(message: str) -> StudioError:
    return StudioError(message, "PERMISSION_DENIED")


class Rule:
    """Raise UNAUTHENTICATED or PERMISSION_DENIED from ``check`` when the request may not go on."""

    signed_in = True

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        if self.signed_in and not request.user.is_authenticated:
            raise unauthenticated()


class _Public(Rule):
    signed_in = False

    def __repr__(self) -> str:
        return "PUBLIC"


class _SignedIn(Rule):
    def __repr__(self) -> str:
        return "SIGNED_IN"


class _Staff(Rule):
    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        super().check(request, kwargs)
        if not request.user.is_staff:
            raise denied("Permission denied: this is for staff users.")

    def __repr__(self) -> str:
        return "STAFF"


class _Admin(Rule):
    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        super().check(request, kwargs)
        if not request.user.is_superuser:
            raise denied("Permission denied: this is for admins.")

    def __repr__(self) -> str:
        return "ADMIN"


PUBLIC: Rule = _Public()
SIGNED_IN: Rule = _SignedIn()
STAFF: Rule = _Staff()
ADMIN: Rule = _Admin()


@dataclass(frozen=True)
class On(Rule):
    """At least ``level`` on each object of ``kind`` that ``locate`` finds in the request."""

    kind: str
    level: permissions.Level
    locate: Locator

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        super().check(request, kwargs)
        ids = list(self.locate(request, kwargs))
        if not ids:
            return
        try:
            permissions.require(request.user, self.kind, ids, self.level)
        except StudioError:
            # Locators do not look the objects up (a query per request saved); only a refusal does, so that an id
            # that names nothing gets the view's own 404 rather than a 403.
            if any(resources.exists(self.kind, i) for i in ids):
                raise


def on(kind: str, level: permissions.Level, locate: Locator) -> Rule:
    """The rule for a view that reads or changes objects of ``kind``."""
    return On(kind, level, locate)


@dataclass(frozen=True)
class AllOf(Rule):
    """Every one of the rules (a version created from a run: EDIT on the model and READ on the run)."""

    rules: tuple[Rule, ...]

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        for rule in self.rules:
            rule.check(request, kwargs)


def all_of(*rules: Rule) -> Rule:
    return AllOf(tuple(rules))


@dataclass(frozen=True)
class ByMethod(Rule):
    """One rule per HTTP method, for a URL whose methods do different things."""

    rules: dict[str, Rule]

    def check(self, request: HttpRequest, kwargs: dict[str, Any]) -> None:
        rule = self.rules.get(request.method or "GET") or self.rules.get("GET" if request.method == "HEAD" else "")
        if rule is not None:  # a method without a rule is one the view refuses itself (ENDPOINT_NOT_FOUND, 405)
            rule.check(request, kwargs)

    def __hash__(self) -> int:
        return id(self)


def access(rule: Rule | None = None, **by_method: Rule) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view's rule: ``@access(SIGNED_IN)`` or ``@access(GET=…, POST=…)``."""
    if (rule is None) == (not by_method):
        raise TypeError("access() takes one rule or rules by method")
    declared = rule if rule is not None else ByMethod({m.upper(): r for m, r in by_method.items()})

    def attach(view: Callable[..., Any]) -> Callable[..., Any]:
        view.studio_access = declared  # type: ignore[attr-defined]
        return view

    return attach


def rule_of(view: Callable[..., Any]) -> Rule | None:
    """The rule a view declared (class-based views declare it as the class attribute ``access_rule``)."""
    rule = getattr(view, "studio_access", None)
    if rule is None and (view_class := getattr(view, "view_class", None)) is not None:
        rule = getattr(view_class, "access_rule", None)
    return rule
