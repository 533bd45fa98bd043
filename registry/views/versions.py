"""A model version's page: overview (lineage, description, tags, stage, the code that loads it), its files through
the tracking UI's artifacts component, and the MLmodel viewer. The tab is ``?tab=``. The edits call the same
``registry.store.versions`` functions as the REST API; their errors are shown next to the form that caused them."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST, require_safe

from registry import mlmodel
from registry.access import model_in_path
from registry.models import ModelVersion, Stage
from registry.store import versions as store
from studio.api import request_user
from studio.auth import permissions
from studio.auth.access import access, on
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.errors import StudioError, not_found
from tracking.artifacts import browse, get_artifact_store
from tracking.views.artifacts import ArtifactRoot, artifact_urlpatterns, browser_context

# A version follows its registered model, as in the REST API.
READ_MODEL = on("registered_model", READ, model_in_path("name"))
EDIT_MODEL = on("registered_model", EDIT, model_in_path("name"))
MANAGE_MODEL = on("registered_model", MANAGE, model_in_path("name"))
TABS = {"overview": "Overview", "artifacts": "Artifacts", "mlmodel": "MLmodel"}
STAGES = [Stage.NONE, Stage.STAGING, Stage.PRODUCTION, Stage.ARCHIVED]


def version_url(name: str, version: int | str, tab: str = "overview") -> str:
    """The version page's URL on one tab."""
    url = reverse("registry:version-detail", kwargs={"name": name, "version": str(version)})
    return url if tab == "overview" else f"{url}?tab={tab}"


def store_reader(storage_path: str) -> mlmodel.FileReader:
    """A reader of a version's files in the artifact store, for ``registry.mlmodel`` (None for what is not a file)."""
    store = get_artifact_store()

    def read(name: str, limit: int) -> bytes | None:
        try:
            full = browse.store_path(storage_path, name)
            entry = store.stat(full)
        except StudioError:  # a traversing name
            return None
        if entry is None or entry.is_dir:
            return None
        return browse.read_head(store, full, limit)

    return read


def load_snippets(version: ModelVersion) -> list[tuple[str, str]]:
    """(label, code) that loads the version, by number and by each of its aliases, with the loader its MLmodel
    file allows (pyfunc, or the flavor's own for a model without the python_function flavor)."""
    name = version.registered_model.name
    loader = mlmodel.loader_module(store_reader(version.storage_path)) if version.storage_path else "mlflow.pyfunc"
    uris = [("By version", f"models:/{name}/{version.version}")]
    uris += [(f"By alias {alias}", f"models:/{name}@{alias}") for alias in version.alias_list]
    return [(label, f"import mlflow\n\nmodel = {loader}.load_model({json.dumps(uri)})") for label, uri in uris]


def _tab_context(tab: str, version: ModelVersion) -> dict[str, Any]:
    """What the chosen tab needs beyond the version: the artifacts component, or the MLmodel file read."""
    name, number = version.registered_model.name, str(version.version)
    if not version.storage_path or tab == "overview":
        return {}
    if tab == "artifacts":
        return browser_context("registry:version-files", files_kwargs(name, number), "Files")
    kwargs = {**files_kwargs(name, number), "path": mlmodel.MLMODEL}
    return {
        "mlmodel": mlmodel.read_mlmodel(store_reader(version.storage_path)),
        "mlmodel_raw_url": reverse("registry:version-files-raw", kwargs=kwargs),
        "mlmodel_download_url": reverse("registry:version-files-download", kwargs=kwargs),
        # The files the viewer names open in the page's own Artifacts tab: ``?tab=artifacts&path=...``.
        "artifacts_tab_url": version_url(name, number, "artifacts"),
    }


def _render(request: HttpRequest, name: str, version: str, tab: str, status: int = 200, **forms: Any) -> HttpResponse:
    """The page on ``tab``; ``forms`` reopens a refused form with what was typed and its error."""
    try:
        lineage = store.get_lineage(
            name=name, version=version, readable=permissions.visibility(request.user, "experiment")
        )
    except StudioError as exc:
        raise Http404(exc.message) from None
    row = lineage.version
    context = {
        "nav": "models",
        "lineage": lineage,
        "version": row,
        "model_name": row.registered_model.name,
        "tab": tab,
        "tabs": [(key, label, version_url(row.registered_model.name, row.version, key)) for key, label in TABS.items()],
        "snippets": load_snippets(row) if tab == "overview" else [],
        "stages": STAGES,
        **_tab_context(tab, row),
        **forms,
    }
    return render(request, "registry/version_detail.html", context, status=status)


@access(READ_MODEL)
@require_safe
def VersionDetailView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """One version of a registered model, on the tab the query string names (the overview by default)."""
    tab = request.GET.get("tab", "overview")
    return _render(request, name, version, tab if tab in TABS else "overview")


def _refused(
    request: HttpRequest, name: str, version: str, form: str, error: StudioError, **typed: Any
) -> HttpResponse:
    """The overview again with the form's error (MLflow's message) beside it; a vanished version is a 404."""
    if error.error_code == "RESOURCE_DOES_NOT_EXIST":
        raise Http404(error.message)
    status = error.status if 400 <= error.status < 500 else 400
    return _render(request, name, version, "overview", status=status, **{form: {**typed, "error": error.message}})


@access(EDIT_MODEL)
@require_POST
def VersionDescriptionView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Change the version's description (Markdown)."""
    description = request.POST.get("description", "")
    try:
        store.update_model_version(name=name, version=version, description=description, user=request_user(request))
    except StudioError as exc:
        return _refused(request, name, version, "description_form", exc, description=description)
    messages.success(request, "Saved the description.")
    return HttpResponseRedirect(version_url(name, version))


@access(EDIT_MODEL)
@require_POST
def VersionTagSetView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Set a tag of the version (a new one, or a new value for an existing key)."""
    key, value = request.POST.get("key", "").strip(), request.POST.get("value", "")
    try:
        store.set_model_version_tag(name=name, version=version, key=key, value=value, user=request_user(request))
    except StudioError as exc:
        return _refused(request, name, version, "tag_form", exc, key=key, value=value)
    messages.success(request, format_html("Set tag <code>{}</code>.", key))
    return HttpResponseRedirect(version_url(name, version) + "#version-tags")


@access(EDIT_MODEL)
@require_POST
def VersionTagDeleteView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Remove a tag of the version."""
    key = request.POST.get("key", "")
    try:
        store.delete_model_version_tag(name=name, version=version, key=key, user=request_user(request))
    except StudioError as exc:
        return _refused(request, name, version, "tag_delete_form", exc, key=key)
    messages.success(request, format_html("Removed tag <code>{}</code>.", key))
    return HttpResponseRedirect(version_url(name, version) + "#version-tags")


@access(EDIT_MODEL)
@require_POST
def VersionStageView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Move the version to a stage, archiving the others in that stage when asked."""
    stage = request.POST.get("stage", "")
    archive = request.POST.get("archive_existing_versions") in ("on", "true", "1")
    try:
        row = store.transition_model_version_stage(
            name=name, version=version, stage=stage, archive_existing_versions=archive, user=request_user(request)
        )
    except StudioError as exc:
        return _refused(request, name, version, "stage_form", exc, stage=stage, archive=archive)
    archived = " and archived the other versions in that stage" if archive else ""
    messages.success(request, f"Moved version {row.version} to {row.current_stage}{archived}.")
    return HttpResponseRedirect(version_url(name, version))


@access(MANAGE_MODEL)
@require_POST
def VersionDeleteView(request: HttpRequest, name: str, version: str) -> HttpResponse:
    """Delete the version (its number stays taken) and go to the model's page."""
    try:
        store.delete_model_version(name=name, version=version, user=request_user(request))
    except StudioError as exc:
        return _refused(request, name, version, "delete_form", exc)
    messages.success(request, f"Moved version {version} of {name} to the trash.")
    return HttpResponseRedirect(reverse("registry:model-detail", kwargs={"name": name}))


def files_kwargs(name: str, version: int | str) -> dict[str, str]:
    """The URL kwargs of the files routes: ``model_name``, since the component's views take ``name`` themselves."""
    return {"model_name": name, "version": str(version)}


def version_files(request: HttpRequest, model_name: str, version: str) -> ArtifactRoot:
    """The artifacts component's root for a version: its own copy of its files (none for an external source)."""
    name = model_name
    try:
        row = store.get_model_version(name=name, version=version)
    except StudioError as exc:  # "abc" is not a version number: no such version, as the page says
        raise not_found(exc.message) from None
    if not row.storage_path:
        raise not_found(f"Version {version} of {name} has an external source; Studio keeps no copy of its files.")
    return ArtifactRoot(
        store_path=row.storage_path,
        label="Files",
        archive_name=f"{name}-v{row.version}",
        title=f"{name} version {row.version}: files",
        breadcrumbs=[
            ("Models", reverse("registry:model-list")),
            (name, reverse("registry:model-detail", kwargs={"name": name})),
            (f"Version {row.version}", version_url(name, row.version)),
        ],
        nav="models",
    )


PREFIX = "models/<str:name>/versions/<str:version>/"
urlpatterns = [
    path(PREFIX, VersionDetailView, name="version-detail"),
    path(f"{PREFIX}description/", VersionDescriptionView, name="version-description"),
    path(f"{PREFIX}tags/", VersionTagSetView, name="version-tag-set"),
    path(f"{PREFIX}tags/delete/", VersionTagDeleteView, name="version-tag-delete"),
    path(f"{PREFIX}stage/", VersionStageView, name="version-stage"),
    path(f"{PREFIX}delete/", VersionDeleteView, name="version-delete"),
    *artifact_urlpatterns(
        "models/<str:model_name>/versions/<str:version>/files/",
        "version-files",
        version_files,
        rule=on("registered_model", READ, model_in_path("model_name")),
    ),
]
