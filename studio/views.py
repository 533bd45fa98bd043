"""Probes (``/health``, ``/version``), ``server-info``, and the start page."""

from __future__ import annotations

import mlflow
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from studio.api import api_view
from studio.auth.access import PUBLIC, SIGNED_IN, access


@access(PUBLIC)  # probes carry no credentials
def health(request: HttpRequest) -> HttpResponse:
    """MLflow's liveness probe: 200 ``OK``."""
    return HttpResponse("OK", content_type="text/plain")


@access(PUBLIC)
def version(request: HttpRequest) -> HttpResponse:
    """The MLflow version Studio speaks."""
    return HttpResponse(mlflow.__version__, content_type="text/plain")


@access(PUBLIC)  # the client asks before it sends anything else; it says whether auth is on, nothing more
@api_view("GET")
def server_info(request: HttpRequest, args: object) -> dict:
    """Capabilities the 3.x client asks for once per process; Studio proxies artifacts with plain PUT/GET."""
    return {
        "store_type": "SqlStore",
        "artifact_serving_enabled": True,
        "multipart_uploads_enabled": settings.STUDIO_MULTIPART_UPLOADS,
        "multipart_downloads_enabled": False,
        "artifacts_presigned_only": False,
        "workspaces_enabled": False,
        "tracking_auth": "basic" if settings.STUDIO_AUTH else "none",
    }


@access(SIGNED_IN)
def home(request: HttpRequest) -> HttpResponse:
    """The start page is the experiments page, as in MLflow's UI."""
    return redirect("tracking:experiment-list")
