"""The artifacts component: folder tree, previews, downloads and folder zips, for runs (and, through the same
views, for any store root another app resolves)."""

from __future__ import annotations

urlpatterns: list = []
