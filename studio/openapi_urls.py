"""The OpenAPI description, mounted under ``/api/2.0/studio/``."""

from __future__ import annotations

from django.urls import path

from studio.openapi import OpenApiDocumentApi

urlpatterns = [
    path("openapi.json", OpenApiDocumentApi, name="openapi"),
]
