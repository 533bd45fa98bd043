"""Plumbing shared by every MLflow-protocol view: argument reading, JSON responses and the error envelope.

Requests follow MLflow's wire rules (../shared/MLFLOW-WIRE.md): GET carries every field as a query parameter with
repeated keys for lists; POST, PATCH and DELETE carry a JSON body. Arguments are read with small typed readers
instead of protobuf's ``ParseDict``, which costs ~9 ms per 1,000 metrics and would dominate ``log-batch``.
"""

from __future__ import annotations

import base64
import functools
import logging
import math
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.views.decorators.csrf import csrf_exempt

from studio.errors import StudioError, invalid

log = logging.getLogger(__name__)

FLOAT_MAX = 1.7976931348623157e308
_DOCS_HINT = " See the API docs for more information about request parameters."
_MISSING = object()


def _type_error(name: str, value: Any) -> StudioError:
    return invalid(
        f"Invalid value {value!r} for parameter '{name}' supplied. Hint: Value was of type "
        f"'{type(value).__name__}'.{_DOCS_HINT}"
    )


def missing(name: str) -> StudioError:
    """MLflow's error for an absent required field."""
    return invalid(f"Missing value for required parameter '{name}'.{_DOCS_HINT}")


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def to_int(name: str, value: Any) -> int:
    """An int64 that proto3 JSON may send as a number or a numeric string; out of range is a client error, not a
    database overflow (which would be a 500 that the client retries for minutes)."""
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            number = None
    if number is None or not INT64_MIN <= number <= INT64_MAX:
        raise _type_error(name, value)
    return number


def to_float(name: str, value: Any) -> float | None:
    """A double as MLflow sends it: a number, or "NaN"/"Infinity"/"-Infinity". NaN becomes None (stored as NULL);
    infinities are clamped to the largest double, as MLflow's server returns them."""
    if isinstance(value, bool):
        raise _type_error(name, value)
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise _type_error(name, value) from None
    else:
        raise _type_error(name, value)
    if math.isnan(number):
        return None
    if math.isinf(number):
        return FLOAT_MAX if number > 0 else -FLOAT_MAX
    return number


def wire_float(value: float | None) -> float | str:
    """The JSON form of a stored double: NULL is NaN, which MLflow sends as a string."""
    return "NaN" if value is None else value


class Args:
    """The fields of one request, read by name with the type the protobuf contract gives them."""

    def __init__(self, data: dict[str, Any], *, from_query: bool = False) -> None:
        self.data = data
        self.from_query = from_query

    def _get(self, name: str) -> Any:
        value = self.data.get(name, _MISSING)
        if self.from_query and isinstance(value, list):
            return value[-1] if value else _MISSING
        return _MISSING if value is None else value

    def has(self, name: str) -> bool:
        """Whether the field was sent at all."""
        return self._get(name) is not _MISSING

    def str(self, name: str, *, required: bool = False, default: Any = None) -> Any:
        value = self._get(name)
        if value is _MISSING or (required and value == ""):
            if required:
                raise missing(name)
            return default
        if not isinstance(value, str):
            raise _type_error(name, value)
        return value

    def int(self, name: str, *, required: bool = False, default: Any = None) -> Any:
        value = self._get(name)
        if value is _MISSING:
            if required:
                raise missing(name)
            return default
        return to_int(name, value)

    def float(self, name: str, *, required: bool = False) -> float | None:
        value = self._get(name)
        if value is _MISSING:
            if required:
                raise missing(name)
            return None
        return to_float(name, value)

    def bool(self, name: str, *, default: bool = False) -> bool:
        value = self._get(name)
        if value is _MISSING:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        raise _type_error(name, value)

    def list(self, name: str, *, required: bool = False) -> list[Any]:
        value = self.data.get(name)
        if value is None:
            value = []
        if not isinstance(value, list):
            raise _type_error(name, value)
        if required and not value:
            raise missing(name)
        return value

    def str_list(self, name: str, *, required: bool = False) -> list[str]:
        values = self.list(name, required=required)
        if not all(isinstance(v, str) for v in values):
            raise _type_error(name, values)
        return values

    def enum(self, name: str, choices: Iterable[str], default: str) -> str:
        value = self.str(name, default=default)
        if value not in set(choices):
            raise invalid(f"Invalid value {value!r} for parameter '{name}': expected one of {sorted(choices)}.")
        return value

    def run_id(self) -> str:
        """The run id, accepting MLflow's legacy ``run_uuid`` alias."""
        value = self.str("run_id") or self.str("run_uuid")
        if not value:
            raise missing("run_id")
        return value

    def key_values(self, name: str) -> list[tuple[str, str]]:
        """A repeated ``{key, value}`` message (tags, params) as pairs; the key is required, the value may be empty."""
        pairs = []
        for i, item in enumerate(self.list(name)):
            entry = self.sub(item, f"{name}[{i}]")
            pairs.append((entry.str("key", required=True), entry.str("value", default="")))
        return pairs

    def sub(self, value: Any, name: str) -> Args:
        """Arguments of a nested message (a list item of a JSON body)."""
        if not isinstance(value, dict):
            raise _type_error(name, value)
        return Args(value)


def page_payload(key: str, items: list[Any], token: str | None) -> dict[str, Any]:
    """A page of a search reply: proto3 JSON omits an empty list and an unset ``next_page_token``."""
    payload: dict[str, Any] = {}
    if items:
        payload[key] = items
    if token:
        payload["next_page_token"] = token
    return payload


def json_response(payload: Any, status: int = 200) -> HttpResponse:
    """Serialize with orjson: several times faster than the stdlib on run and metric lists."""
    return HttpResponse(orjson.dumps(payload), status=status, content_type="application/json")


def error_response(error_code: str, message: str, status: int) -> HttpResponse:
    """MLflow's error envelope."""
    return json_response({"error_code": error_code, "message": message}, status=status)


def request_args(request: HttpRequest, path_kwargs: dict[str, Any]) -> Args:
    """Read a request's fields: query parameters for GET, the JSON body otherwise (DELETE carries one too). Read once
    per request: the access rules' locators and the view share them."""
    cached = getattr(request, "_studio_args", None)
    if cached is None:
        cached = request._studio_args = _read_args(request, path_kwargs)  # type: ignore[attr-defined]
    return cached


def _read_args(request: HttpRequest, path_kwargs: dict[str, Any]) -> Args:
    if request.method in ("GET", "HEAD"):
        data: dict[str, Any] = {key: request.GET.getlist(key) for key in request.GET}
        data.update(path_kwargs)
        return Args(data, from_query=True)
    body = _json_body(request)
    data = {}
    if body.strip():
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise invalid(f"Malformed JSON request body: {exc}") from None
        if not isinstance(data, dict):
            raise invalid("The request body must be a JSON object.")
        # JSON can carry NUL only as an escape; PostgreSQL cannot store it (the middleware refuses it elsewhere).
        if b"\\u0000" in body and _holds_nul(data):
            raise invalid("Request parameters must not contain NUL (0x00) characters.")
    # Some clients send fields of POST requests as query parameters too; the body wins.
    for key in request.GET:
        data.setdefault(key, request.GET.get(key))
    data.update(path_kwargs)
    return Args(data)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _json_body(request: HttpRequest) -> bytes:
    """The body of an unsafe request: JSON only, so that no cross-site HTML form (which can send only form encodings
    or text/plain) can call the API, also where ``STUDIO_AUTH`` is off and no CSRF token is asked for (as MLflow's
    server checks too); and at most ``STUDIO_MAX_REQUEST_BYTES``."""
    try:
        body = request.body
    except RequestDataTooBig:
        message = "The request body is larger than this Studio accepts (STUDIO_MAX_REQUEST_BYTES)."
        raise StudioError(message, "REQUEST_ENTITY_TOO_LARGE") from None
    content_type = request.content_type or ""  # the media type alone: "application/json; charset=utf-8" is JSON
    if body and content_type.lower() != "application/json":
        sent = f"'{content_type}'" if content_type else "none"
        raise invalid(f"Bad Request. Content-Type must be application/json (sent: {sent}).")
    return body


MAX_USER_LENGTH = 256


def request_user(request: HttpRequest) -> str:
    """Who makes the request, for audit trails: the signed-in user, else the user name of the HTTP Basic credentials
    the client sends (``MLFLOW_TRACKING_USERNAME``; not verified while ``STUDIO_AUTH`` is off), else "".
    At most 256 characters, the size of the columns that record it."""
    return _request_user(request)[:MAX_USER_LENGTH]


def _request_user(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user.get_username()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and credentials:
        try:
            return base64.b64decode(credentials, validate=True).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return ""
    return ""


def translate_exception(exc: Exception) -> HttpResponse:
    """Turn a domain or MLflow error into the envelope; anything else is a logged INTERNAL_ERROR."""
    if isinstance(exc, StudioError):
        return error_response(exc.error_code, exc.message, exc.status)
    from mlflow.exceptions import MlflowException  # errors raised by MLflow's own parsers we reuse

    if isinstance(exc, MlflowException):
        return error_response(exc.error_code, exc.message, exc.get_http_status_code())
    log.exception("Unhandled error in API view")
    return error_response("INTERNAL_ERROR", f"Internal error: {type(exc).__name__}: {exc}", 500)


def api_view(*methods: str) -> Callable:
    """Make ``view(request, args, **path_kwargs) -> dict | HttpResponseBase`` an MLflow-protocol endpoint."""
    allowed = {m.upper() for m in methods}

    def decorate(view: Callable[..., Any]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            if request.method not in allowed:
                return endpoint_not_found(request)
            try:
                result = view(request, request_args(request, kwargs), **kwargs)
            except Exception as exc:
                return translate_exception(exc)
            if isinstance(result, HttpResponseBase):  # StreamingHttpResponse too
                return result
            return json_response({} if result is None else result)

        wrapper.api_methods = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorate


@csrf_exempt
def endpoint_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """Unknown API paths answer JSON ENDPOINT_NOT_FOUND, which the registry client's fallback logic relies on."""
    return error_response("ENDPOINT_NOT_FOUND", f"No API endpoint {request.method} {request.path}", 404)


def method_router(**views: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """One URL, several operations by HTTP method (``GET logged-models/<id>`` vs ``PATCH`` vs ``DELETE``)."""

    @csrf_exempt
    def route(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        view = views.get(request.method.lower())
        if view is None:
            return endpoint_not_found(request)
        return view(request, **kwargs)

    return route
