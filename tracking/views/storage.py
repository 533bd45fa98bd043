"""The storage page (``tracking:storage``): bytes and files per experiment, the largest runs and artifacts, the total
and the registry's copies, all read from the usage rows; "Refresh now" rescans the roots written since their last
scan. ``?experiment=<id>`` narrows the page to one experiment."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.views.decorators.http import require_POST, require_safe

from studio.auth.access import STAFF, access
from studio.errors import StudioError
from tracking.store import storage, storage_page

# "Refresh now" answers within a request's time: at most this many roots, for about this long; the rest is left to
# the periodic refresh.
REFRESH_LIMIT = 200
REFRESH_SECONDS = 5.0


def _page_url(experiment_id: str) -> str:
    url = reverse("tracking:storage")
    return f"{url}?{urlencode({'experiment': experiment_id})}" if experiment_id else url


@access(STAFF)
@require_safe
def StorageView(request: HttpRequest) -> HttpResponse:
    """Storage usage of the whole store, or of one experiment."""
    experiment_id = request.GET.get("experiment", "").strip()
    try:
        page = storage_page.storage_page(experiment_id=experiment_id or None)
    except StudioError as exc:
        raise Http404(exc.message) from None
    context = {"nav": "storage", "page": page, "experiment_id": experiment_id, "all_url": reverse("tracking:storage")}
    return render(request, "tracking/storage.html", context)


@access(STAFF)
@require_POST
def StorageRefreshView(request: HttpRequest) -> HttpResponse:
    """Rescan the stale roots now (a bounded batch), then show the page again."""
    done = storage.refresh_stale(limit=REFRESH_LIMIT, seconds=REFRESH_SECONDS)
    left = storage.stale_count()
    note = f"Measured {done} root{'s' if done != 1 else ''} again."
    messages.info(request, note + (f" {left} still wait; they are measured in the background." if left else ""))
    return HttpResponseRedirect(_page_url(request.POST.get("experiment", "").strip()))


urlpatterns = [
    path("storage/", StorageView, name="storage"),
    path("storage/refresh/", StorageRefreshView, name="storage-refresh"),
]
