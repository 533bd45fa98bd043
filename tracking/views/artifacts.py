"""The artifacts component: folder tree, previews, downloads and folder zips, for runs (and, through the same
views, for any store root another app resolves).

The views are generic over a *root*: a resolver turns a route's URL kwargs into an :class:`ArtifactRoot` (a store
path, the tree's label, the zip's name and the full page's title and breadcrumbs), and :func:`artifact_urlpatterns`
mounts the whole set under one URL prefix. Runs are mounted at ``/runs/<run_id>/artifacts/`` as
``tracking:run-artifacts`` (the full page) and ``tracking:run-artifacts-{list,preview,raw,download,zip}``. A root whose
resolver gives a ``delete_url`` (a run's) gets a Delete button and its confirmation dialog in the preview pane; the
deletion itself is the API's (``tracking.api.artifact_deletion``), so that the page and REST clients share it.

To mount it for another root, e.g. a model version's files in the registry::

    from tracking.views.artifacts import ArtifactRoot, artifact_urlpatterns, browser_context

    def version_files(request, name, version):  # raise StudioError (not_found) when missing or without a copy
        mv = registry_store.get_model_version(name=name, version=version)
        return ArtifactRoot(store_path=mv.storage_path, label="Files", archive_name=f"{name}-v{version}",
                            title=f"{name} version {version}", breadcrumbs=[("Models", reverse(...)), ...],
                            nav="models")

    urlpatterns = [*artifact_urlpatterns("models/<str:name>/versions/<str:version>/files/", "version-files",
                                         version_files)]

and on the version page: put ``browser_context("registry:version-files", {"name": ..., "version": ...}, "Files")``
in the context, ``{% include "tracking/artifacts/browser.html" %}`` where the browser goes, and load
``tracking/artifacts.css`` in ``{% block head %}`` and ``tracking/artifacts.js`` in ``{% block scripts %}``. The
script initialises every ``[data-artifact-browser]`` element; the selected path is the page's ``?path=`` parameter.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_safe

from studio.auth.access import Rule, access
from studio.errors import StudioError
from tracking.api.artifact_proxy import RangeNotSatisfiable, byte_range
from tracking.artifacts import browse, get_artifact_store, proxy_path, zips
from tracking.models import Run
from tracking.store import runs as runs_store

# Inline files are shown in a sandbox whatever they are: no script runs, nothing is fetched but images, media and
# styles from Studio itself (the files beside an HTML report). PDF gets no sandbox: Chromium's viewer refuses one.
INLINE_CSP = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; frame-ancestors 'self'"
)
PDF_CSP = "default-src 'none'; frame-ancestors 'self'"
DOWNLOAD_CSP = "sandbox; default-src 'none'"


@dataclass(frozen=True)
class ArtifactRoot:
    """A folder of the artifact store shown by the component, as a resolver describes it."""

    store_path: str
    label: str = "Artifacts"  # the tree's top entry
    archive_name: str = "artifacts"  # the root's zip is <archive_name>.zip
    title: str = "Artifacts"  # the full page's heading
    breadcrumbs: list[tuple[str, str]] = field(default_factory=list)  # (label, url) above the heading
    nav: str = "experiments"  # the top menu's entry to highlight on the full page
    # Where the preview's Delete button posts (a Studio API endpoint taking ``path`` and these fields, which name the
    # root's owner there). No URL: the root is read-only in the browser, as a model version's files are.
    delete_url: str = ""
    delete_fields: tuple[tuple[str, str], ...] = ()


Resolver = Callable[..., ArtifactRoot]


def browser_context(url_name: str, url_kwargs: dict[str, Any], label: str = "Artifacts") -> dict[str, Any]:
    """The context of ``{% include "tracking/artifacts/browser.html" %}`` for the routes mounted as ``url_name``."""
    return {
        "artifacts": {
            "label": label,
            "page_url": reverse(url_name, kwargs=url_kwargs),
            "list_url": reverse(f"{url_name}-list", kwargs=url_kwargs),
            "preview_url": reverse(f"{url_name}-preview", kwargs=url_kwargs),
            "zip_url": reverse(f"{url_name}-zip", kwargs=url_kwargs),
        }
    }


def run_artifacts_context(run: Run) -> dict[str, Any]:
    """The context for the run page's Artifacts tab: ``{"artifacts": {...}}`` for ``browser.html``."""
    return browser_context("tracking:run-artifacts", {"run_id": run.run_uuid})


def _url_name(request: HttpRequest, route: str) -> str:
    namespace = request.resolver_match.namespace if request.resolver_match else ""
    return f"{namespace}:{route}" if namespace else route


def _plain_error(exc: StudioError) -> HttpResponse:
    """An error as plain text: what a download link or a media element gets."""
    return HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")


@require_safe
def ArtifactPageView(request: HttpRequest, resolve: Resolver, route: str, **kwargs: Any) -> HttpResponse:
    """The browser on a page of its own, for the root the URL names."""
    try:
        root = resolve(request, **kwargs)
    except StudioError as exc:
        raise Http404(exc.message) from None
    context = browser_context(_url_name(request, route), kwargs, root.label)
    return render(request, "tracking/artifacts/artifact_page.html", {"root": root, "nav": root.nav, **context})


@require_safe
def ArtifactListView(request: HttpRequest, resolve: Resolver, route: str, **kwargs: Any) -> HttpResponse:
    """One folder's children as JSON, for the tree: ``{path, entries: [{name, path, is_dir, size}], total}``."""
    try:
        listing = browse.list_folder(root=resolve(request, **kwargs).store_path, path=request.GET.get("path", ""))
    except StudioError as exc:
        return JsonResponse({"error_code": exc.error_code, "message": exc.message}, status=exc.status)
    entries = [{"name": e.name, "path": e.path, "is_dir": e.is_dir, "size": e.size} for e in listing.entries]
    return JsonResponse({"path": listing.path, "entries": entries, "total": listing.total})


@require_safe
def ArtifactPreviewView(request: HttpRequest, resolve: Resolver, route: str, **kwargs: Any) -> HttpResponse:
    """The preview pane of one file or folder, as an HTML fragment."""
    try:
        root = resolve(request, **kwargs)
        preview = browse.build_preview(root=root.store_path, path=request.GET.get("path", ""))
    except StudioError as exc:
        context = {"message": exc.message, "path": request.GET.get("path", "")}
        return render(request, "tracking/artifacts/preview_error.html", context, status=exc.status)
    links = _preview_links(_url_name(request, route), kwargs, preview)
    context = {"preview": preview, "links": links, "root": root, "limits": _limits()}
    return render(request, "tracking/artifacts/preview.html", context)


def _preview_links(url_name: str, kwargs: dict[str, Any], preview: browse.Preview) -> dict[str, str]:
    """Where the pane's buttons and embeds point: a folder's zip, or a file's raw and download URLs."""
    if preview.kind == "folder":
        query = "?" + urllib.parse.urlencode({"path": preview.path}) if preview.path else ""
        return {"zip": reverse(f"{url_name}-zip", kwargs=kwargs) + query}
    return {
        "raw": reverse(f"{url_name}-raw", kwargs={**kwargs, "path": preview.path}),
        "download": reverse(f"{url_name}-download", kwargs={**kwargs, "path": preview.path}),
    }


def _limits() -> dict[str, int]:
    return {
        "text": browse.TEXT_HEAD_BYTES,
        "table_rows": browse.TABLE_ROWS,
        "table_bytes": browse.TABLE_HEAD_BYTES,
        "embed": browse.EMBED_MAX_BYTES,
    }


def _file_response(request: HttpRequest, store_path: str, file_name: str, *, attachment: bool) -> HttpResponseBase:
    """A file streamed from the store, a single byte range of it when asked (audio and video seek with these)."""
    store = get_artifact_store()
    size = store.size(store_path)
    try:
        requested = byte_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        response = HttpResponse(f"Range not satisfiable for {size} bytes", status=416, content_type="text/plain")
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, length = requested or (0, size)
    kind = browse.preview_kind(file_name)
    if attachment:
        mime, policy = browse.content_type(file_name), DOWNLOAD_CSP
    elif kind in browse.TEXT_KINDS or kind == "table":
        mime, policy = "text/plain; charset=utf-8", INLINE_CSP  # shown as text rather than downloaded
    else:
        mime, policy = browse.content_type(file_name), PDF_CSP if kind == "pdf" else INLINE_CSP
    body = store.open(store_path, start, length) if request.method != "HEAD" else iter(())
    response = StreamingHttpResponse(body, status=206 if requested else 200, content_type=mime)
    if requested:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(attachment, file_name)
    response["Content-Security-Policy"] = policy
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-cache"  # artifacts can be overwritten: revalidate
    return response


@require_safe
@xframe_options_sameorigin  # the HTML and PDF previews frame it
def ArtifactRawView(request: HttpRequest, resolve: Resolver, route: str, path: str, **kwargs: Any) -> HttpResponseBase:
    """A file for the preview's frames and media elements; relative links of an HTML report resolve beside it."""
    try:
        root = resolve(request, **kwargs)
        entry = browse.stat(root=root.store_path, path=path)
        return _file_response(request, browse.store_path(root.store_path, entry.path), entry.name, attachment=False)
    except StudioError as exc:
        return _plain_error(exc)


@require_safe
def ArtifactDownloadView(
    request: HttpRequest, resolve: Resolver, route: str, path: str, **kwargs: Any
) -> HttpResponseBase:
    """A file as an attachment, with its own Content-Type, streamed."""
    try:
        root = resolve(request, **kwargs)
        entry = browse.stat(root=root.store_path, path=path)
        return _file_response(request, browse.store_path(root.store_path, entry.path), entry.name, attachment=True)
    except StudioError as exc:
        return _plain_error(exc)


@require_safe
def ArtifactZipView(request: HttpRequest, resolve: Resolver, route: str, **kwargs: Any) -> HttpResponseBase:
    """A folder (the root without ``path``) as a zip, streamed while it is built."""
    folder = request.GET.get("path", "")
    try:
        root = resolve(request, **kwargs)
        chunks = zips.zip_folder(root=root.store_path, path=folder, root_name=root.archive_name)
        file_name = zips.zip_name(path=folder, root_name=root.archive_name)
    except StudioError as exc:
        return _plain_error(exc)
    response = StreamingHttpResponse(chunks, content_type="application/zip")
    response["Content-Disposition"] = content_disposition_header(True, file_name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _bind(
    view: Callable[..., HttpResponseBase], resolve: Resolver, route: str, rule: Rule | None
) -> Callable[..., HttpResponseBase]:
    """A view of this module with its root's resolver and route name filled in (as ``route``: the URL's own kwargs,
    such as a model's ``name``, pass through untouched), under the root's access rule."""

    @functools.wraps(view)
    def bound(request: HttpRequest, **kwargs: Any) -> HttpResponseBase:
        return view(request, resolve, route, **kwargs)

    if rule is not None:
        access(rule)(bound)
    return bound


def artifact_urlpatterns(prefix: str, name: str, resolve: Resolver, *, rule: Rule | None = None) -> list[URLPattern]:
    """The component's routes under ``prefix`` (ending in "/"), named ``name`` and ``name-{list,preview,raw,...}``;
    ``rule`` is who may read the root (every route only reads)."""
    return [
        path(prefix, _bind(ArtifactPageView, resolve, name, rule), name=name),
        path(f"{prefix}list", _bind(ArtifactListView, resolve, name, rule), name=f"{name}-list"),
        path(f"{prefix}preview", _bind(ArtifactPreviewView, resolve, name, rule), name=f"{name}-preview"),
        path(f"{prefix}raw/<path:path>", _bind(ArtifactRawView, resolve, name, rule), name=f"{name}-raw"),
        path(
            f"{prefix}download/<path:path>", _bind(ArtifactDownloadView, resolve, name, rule), name=f"{name}-download"
        ),
        path(f"{prefix}zip", _bind(ArtifactZipView, resolve, name, rule), name=f"{name}-zip"),
    ]


def run_root(request: HttpRequest, run_id: str) -> ArtifactRoot:
    """A run's artifact folder, whose files and folders can be deleted one by one; a missing run is a 404."""
    run = runs_store.get_run(run_id)
    experiment = run.experiment
    return ArtifactRoot(
        store_path=proxy_path(run.artifact_uri),
        label="Artifacts",
        archive_name=f"{run.name or run.run_uuid}-artifacts",
        title=f"Artifacts of {run}",
        breadcrumbs=[
            ("Experiments", reverse("tracking:experiment-list")),
            (experiment.name, reverse("tracking:experiment-detail", args=[experiment.id])),
            (str(run), reverse("tracking:run-detail", args=[run.run_uuid])),
        ],
        delete_url=reverse("studio-ajax-api:run-delete-artifact"),
        delete_fields=(("run_id", run.run_uuid),),
    )


from tracking.access import RUN_READ  # noqa: E402 - kept beside its one use

urlpatterns: list = artifact_urlpatterns("runs/<str:run_id>/artifacts/", "run-artifacts", run_root, rule=RUN_READ)
