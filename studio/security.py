"""Hardening that Django does not ship: a Content-Security-Policy on every page, and no NUL character in a request.

Django 5.2 has no CSP support and the policy is one header, so a small middleware does it rather than django-csp.
Studio's pages load only their own static scripts (no inline ``<script>``, no ``on…=`` handlers), so ``script-src
'self'`` needs neither nonces nor ``'unsafe-inline'``. Styles allow ``'unsafe-inline'``: plotly.js adds ``<style>``
elements, and templates set ``style=`` attributes (row indents, series swatches). ``object-src 'self'``: the PDF
preview is an ``<object>`` of the raw view. The pages of ``STUDIO_CSP_EVAL_VIEWS`` (the comparison page's
parallel-coordinates plot) also get ``'unsafe-eval'``: plotly.js draws WebGL traces with regl, which compiles its
shader glue with ``Function()``. Responses that set their own policy keep it: the artifact raw and download views
serve files under a sandboxing one.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseBase

NUL_MESSAGE = "Request parameters must not contain NUL (0x00) characters."


def _is_html(response: HttpResponseBase) -> bool:
    return response.get("Content-Type", "").split(";")[0].strip().lower() in {"text/html", "application/xhtml+xml"}


def with_eval(policy: str) -> str:
    """``policy`` with ``'unsafe-eval'`` added to its script sources (``script-src``, else those of default-src)."""
    directives = [part.split() for part in policy.split(";") if part.strip()]
    names = [d[0].lower() for d in directives]
    if "script-src" in names:
        script = directives[names.index("script-src")]
    else:
        fallback = directives[names.index("default-src")][1:] if "default-src" in names else []
        script = ["script-src", *fallback]
        directives.append(script)
    if "'unsafe-eval'" not in script:
        script.append("'unsafe-eval'")
    return "; ".join(" ".join(d) for d in directives)


class ContentSecurityPolicyMiddleware:
    """Add ``STUDIO_CONTENT_SECURITY_POLICY`` to HTML responses that do not carry a policy of their own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = settings.STUDIO_CONTENT_SECURITY_POLICY  # read per response, so tests can change it
        if not policy or "Content-Security-Policy" in response or not _is_html(response):
            return response
        match = request.resolver_match
        if match is not None and match.view_name in settings.STUDIO_CSP_EVAL_VIEWS:
            policy = with_eval(policy)
        response["Content-Security-Policy"] = policy
        return response


def has_nul(request: HttpRequest) -> bool:
    """Whether the path, the query string or a form body carries a NUL character (JSON bodies: ``studio.api``)."""
    if "\x00" in request.path_info:
        return True
    if "%00" in request.META.get("QUERY_STRING", ""):
        return True
    if request.method in ("POST", "PUT", "PATCH") and request.content_type == "application/x-www-form-urlencoded":
        try:
            body = request.body
        except RequestDataTooBig:
            return False  # Django answers that itself
        return b"%00" in body or b"\x00" in body
    return False


class RefuseNulMiddleware:
    """Refuse requests with NUL characters before any view or access rule sees them: PostgreSQL cannot hold one in a
    text column and psycopg raises on it, so a NUL in a name or a filter would otherwise be a 500 (SQLite stores it)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not has_nul(request):
            return self.get_response(request)
        if request.path.startswith(("/api/", "/ajax-api/")):
            from studio.api import error_response

            return error_response("INVALID_PARAMETER_VALUE", NUL_MESSAGE, 400)
        response: HttpResponse = HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain")
        return response
