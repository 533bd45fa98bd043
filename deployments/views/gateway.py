"""The scoring gateway's HTTP side: ``POST /endpoints/<name>/invocations`` (and ``/score``, Azure's name for it),
authenticated by the endpoint's keys. The work is in ``deployments.gateway``.

``handle`` turns one request into one answer and is served two ways: ``GatewayApp`` answers the gateway's paths
in front of Django in ``studio.wsgi`` (what gunicorn runs: no middleware, no URL resolving, a fraction of a
millisecond per request), and the Django view below for every other server (Django's test and live servers)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from deployments import gateway
from studio.api import translate_exception
from studio.auth.access import PUBLIC, access
from studio.errors import StudioError

app_name = "deployments-gateway"
PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/(?:invocations|score)/?$")
Headers = list[tuple[str, str]]


def too_large() -> StudioError:
    return StudioError("The request body is larger than this Studio accepts (STUDIO_MAX_REQUEST_BYTES)",
                       "REQUEST_ENTITY_TOO_LARGE")  # fmt: skip


def read_body(request: HttpRequest) -> bytes:
    """A Django request's body, or 413 for one larger than ``STUDIO_MAX_REQUEST_BYTES``."""
    try:
        return request.body
    except RequestDataTooBig:
        raise too_large() from None


def content_type(request: HttpRequest) -> str:
    """The client's Content-Type as sent (with its parameters: MLflow reads ``format=pandas-split`` from it)."""
    return request.META.get("CONTENT_TYPE", "") or "application/json"


def handle(
    name: str, method: str, authorization: str, media_type: str, deployment: str, body: Callable[[], bytes]
) -> tuple[int, Headers, bytes]:
    """One gateway request: (status, headers, body). ``body`` reads the request body (it may raise 413)."""
    if method != "POST":
        payload = {"error_code": "BAD_REQUEST", "message": f"Use POST to score with endpoint '{name}'"}
        return 405, [("Content-Type", "application/json"), ("Allow", "POST")], orjson.dumps(payload)
    try:
        route = gateway.authenticate(name, authorization)
        answer = gateway.score(route, body(), media_type or "application/json", deployment=deployment)
    except Exception as exc:
        response = translate_exception(exc)
        headers = [("Content-Type", "application/json")]
        if response.status_code == 401:
            headers.append(("WWW-Authenticate", f'Bearer realm="{name}"'))
        return response.status_code, headers, response.content
    return (
        answer.status,
        [("Content-Type", answer.content_type), (gateway.DEPLOYMENT_HEADER, answer.deployment)],
        (answer.body),
    )


def answer_response(answer: gateway.Answer) -> HttpResponse:
    """The scoring server's answer as it came, with the deployment that gave it."""
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    response[gateway.DEPLOYMENT_HEADER] = answer.deployment
    return response


# PUBLIC to Studio's sign-in: the endpoint's own keys protect it (``gateway.authenticate``: ``Bearer <key>`` compared
# in constant time with both key hashes, 401 otherwise), and scoring clients hold a key, not a Studio account.
@access(PUBLIC)
@csrf_exempt
def invocations(request: HttpRequest, name: str) -> HttpResponse:
    """Score with an endpoint key (``Authorization: Bearer <key>``); ``X-Studio-Deployment`` picks a deployment
    instead of the traffic split (to try a deployment with no traffic yet)."""
    status, headers, body = handle(
        name, request.method or "", request.headers.get("Authorization", ""), content_type(request),
        request.headers.get(gateway.DEPLOYMENT_HEADER, ""), lambda: read_body(request),
    )  # fmt: skip
    response = HttpResponse(body, status=status)
    for header, value in headers:
        response[header] = value
    return response


REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
           413: "Content Too Large", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout"}  # fmt: skip


class GatewayApp:
    """WSGI middleware: the gateway's paths are answered here, everything else goes to ``app`` (Django)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        match = PATH.match(environ.get("PATH_INFO", ""))
        if match is None:
            return self.app(environ, start_response)
        close_old_connections()  # as Django does around each request: no connection outlives its max age
        try:
            status, headers, body = handle(
                match["name"], environ.get("REQUEST_METHOD", ""), environ.get("HTTP_AUTHORIZATION", ""),
                environ.get("CONTENT_TYPE", ""), environ.get("HTTP_X_STUDIO_DEPLOYMENT", ""),
                lambda: _wsgi_body(environ),
            )  # fmt: skip
        finally:
            close_old_connections()
        start_response(f"{status} {REASONS.get(status, 'Unknown')}", [*headers, ("Content-Length", str(len(body)))])
        return [body]


def _wsgi_body(environ: dict[str, Any]) -> bytes:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if limit is not None and length > limit:
        raise too_large()
    stream = environ["wsgi.input"]
    if length:
        return stream.read(length)
    data = stream.read(limit + 1) if limit is not None else stream.read()  # chunked: read to the end
    if limit is not None and len(data) > limit:
        raise too_large()
    return data


urlpatterns = [
    path("endpoints/<str:name>/invocations", invocations, name="invocations"),
    path("endpoints/<str:name>/score", invocations, name="score"),
]
