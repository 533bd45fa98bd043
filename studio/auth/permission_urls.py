"""The permissions page of an experiment or a registered model (namespace ``studio``)."""

from __future__ import annotations

from django.urls import path

from studio.auth import permission_views

urlpatterns = [
    path("permissions/<str:kind>/<int:object_id>/", permission_views.PermissionsView, name="permissions"),
]
