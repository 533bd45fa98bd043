"""The scoring gateway's views: ``POST /endpoints/<name>/invocations`` (and ``/score``, Azure's name for it),
authenticated by the endpoint's keys. The work is in ``deployments.gateway``."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from deployments import gateway
from studio.api import error_response, translate_exception
from studio.errors import StudioError

app_name = "deployments-gateway"


def read_body(request: HttpRequest) -> bytes:
    """The request body, or 413 for one larger than ``STUDIO_MAX_REQUEST_BYTES``."""
    try:
        return request.body
    except RequestDataTooBig:
        raise StudioError("The request body is larger than this Studio accepts (STUDIO_MAX_REQUEST_BYTES)",
                          "REQUEST_ENTITY_TOO_LARGE") from None  # fmt: skip


def content_type(request: HttpRequest) -> str:
    """The client's Content-Type as sent (with its parameters: MLflow reads ``format=pandas-split`` from it)."""
    return request.META.get("CONTENT_TYPE", "") or "application/json"


def answer_response(answer: gateway.Answer) -> HttpResponse:
    """The scoring server's answer as it came, with the deployment that gave it."""
    response = HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)
    response[gateway.DEPLOYMENT_HEADER] = answer.deployment
    return response


@csrf_exempt
def invocations(request: HttpRequest, name: str) -> HttpResponse:
    """Score with an endpoint key (``Authorization: Bearer <key>``); ``X-Studio-Deployment`` picks a deployment
    instead of the traffic split (to try a deployment with no traffic yet)."""
    if request.method != "POST":
        response = error_response("BAD_REQUEST", f"Use POST to score with endpoint '{name}'", 405)
        response["Allow"] = "POST"
        return response
    try:
        route = gateway.authenticate(name, request.headers.get("Authorization", ""))
        body = read_body(request)
        answer = gateway.score(route, body, content_type(request),
                               deployment=request.headers.get(gateway.DEPLOYMENT_HEADER, ""))  # fmt: skip
    except Exception as exc:
        response = translate_exception(exc)
        if response.status_code == 401:
            response["WWW-Authenticate"] = f'Bearer realm="{name}"'
        return response
    return answer_response(answer)


urlpatterns = [
    path("endpoints/<str:name>/invocations", invocations, name="invocations"),
    path("endpoints/<str:name>/score", invocations, name="score"),
]
