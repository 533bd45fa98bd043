"""Response hardening that Django does not ship: a Content-Security-Policy on every page.

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
from django.http import HttpRequest, HttpResponseBase


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
