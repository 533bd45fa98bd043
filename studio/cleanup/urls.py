"""The trash page and its job views."""

from __future__ import annotations

from django.urls import path

from studio.cleanup import views

urlpatterns = [
    path("trash/", views.TrashView, name="trash"),
]
