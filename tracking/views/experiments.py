"""The experiments page: find an experiment by name as you type, sort and page through them, create, rename, delete
and restore, and a view of the deleted ones. The actions call the same ``tracking.store.experiments`` functions as
the REST API; their errors (MLflow's codes and messages) are shown next to the form that caused them."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from studio.api import request_user
from studio.auth import permissions
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import EDIT, MANAGE
from studio.errors import StudioError
from tracking.access import EXPERIMENT, experiment_kwarg
from tracking.store import experiment_pages
from tracking.store import experiments as store
from tracking.store.experiment_pages import ExperimentListing


def _listing(params: QueryDict) -> ExperimentListing:
    """The listing a query string asks for."""
    return ExperimentListing.from_params(params)


def _posted_listing(request: HttpRequest) -> ExperimentListing:
    """The listing a form was sent from (its ``next`` field holds that listing's query string)."""
    return _listing(QueryDict(request.POST.get("next", "")))


def _table_context(request: HttpRequest, listing: ExperimentListing) -> dict[str, Any]:
    """What the table fragment needs: one page of experiments and the links of its headers and pager."""
    page = experiment_pages.experiment_page(listing, visible=permissions.visibility(request.user, "experiment"))
    return {
        "page": page,
        "listing": listing,
        "headers": experiment_pages.sort_headers(listing),
        # Forms send it back, so that the page after an action shows the same search, order and page.
        "next": listing.query_string(),
    }


def _render_list(request: HttpRequest, listing: ExperimentListing, status: int = 200, **forms: Any) -> HttpResponse:
    """The whole page; ``forms`` reopens a dialog with what was typed and its error (``create=``, ``rename=``) or
    shows an action's error above the table (``action_error=``)."""
    context = {
        **_table_context(request, listing),
        "nav": "experiments",
        "only_default": listing.view == "active"
        and experiment_pages.only_default_experiment(visible=permissions.visibility(request.user, "experiment")),
        "tracking_uri": request.build_absolute_uri("/").rstrip("/"),
        "view_links": {view: listing.view_link(view) for view in experiment_pages.VIEWS},
        **forms,
    }
    return render(request, "tracking/experiment_list.html", context, status=status)


def _error_status(error: StudioError) -> int:
    """The status of a page showing a domain error: MLflow's for client errors, else 400 (the form was refused)."""
    return error.status if 400 <= error.status < 500 else 400


def _back_to(listing: ExperimentListing) -> HttpResponseRedirect:
    """Redirect after a successful action to the listing it was made from."""
    query = listing.query_string()
    return HttpResponseRedirect(reverse("tracking:experiment-list") + (f"?{query}" if query else ""))


def _experiment_link(experiment_id: int, name: str) -> str:
    """An experiment's name linked to its page, for the notices after an action."""
    return format_html('<a href="{}">{}</a>', reverse("tracking:experiment-detail", args=[experiment_id]), name)


@access(SIGNED_IN)
@require_GET
def ExperimentListView(request: HttpRequest) -> HttpResponse:
    """Experiments whose name contains ``q`` (case-insensitive), sorted and paged as the query string says."""
    return _render_list(request, _listing(request.GET))


@access(SIGNED_IN)
@require_GET
def ExperimentListTableView(request: HttpRequest) -> HttpResponse:
    """The same listing's table alone, which the page's script fetches while the user types, sorts or pages."""
    listing = _listing(request.GET)
    return render(request, "tracking/experiment_list_table.html", _table_context(request, listing))


@access(SIGNED_IN)
@require_POST
def ExperimentCreateView(request: HttpRequest) -> HttpResponse:
    """Create an experiment from the form (a name and an optional artifact location)."""
    listing = _posted_listing(request)
    name = request.POST.get("name", "").strip()
    location = request.POST.get("artifact_location", "").strip()
    try:
        experiment_id = store.create_experiment(name=name, artifact_location=location or None, owner=request.user)
    except StudioError as error:
        form = {"name": name, "artifact_location": location, "error": error.message}
        return _render_list(request, listing, status=_error_status(error), create=form)
    messages.success(request, format_html("Created experiment {}.", _experiment_link(experiment_id, name)))
    return _back_to(listing)


@access(on(EXPERIMENT, EDIT, experiment_kwarg()))
@require_POST
def ExperimentRenameView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """Rename an experiment from the rename dialog."""
    listing = _posted_listing(request)
    new_name = request.POST.get("new_name", "").strip()
    try:
        store.rename_experiment(experiment_id=str(experiment_id), new_name=new_name)
    except StudioError as error:
        form = {"id": experiment_id, "name": new_name, "error": error.message}
        return _render_list(request, listing, status=_error_status(error), rename=form)
    messages.success(request, format_html("Renamed experiment {} to {}.", experiment_id, new_name))
    return _back_to(listing)


@access(on(EXPERIMENT, MANAGE, experiment_kwarg()))
@require_POST
def ExperimentDeleteView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """Delete an experiment (and its runs, which come back with it on restore)."""
    listing = _posted_listing(request)
    try:
        store.delete_experiment(experiment_id=str(experiment_id), user=request_user(request))
    except StudioError as error:
        return _render_list(request, listing, status=_error_status(error), action_error=error.message)
    name = store.get_experiment(experiment_id, with_tags=False).name
    deleted_view = reverse("tracking:experiment-list") + "?view=deleted"
    messages.success(
        request,
        format_html('Deleted experiment {}. <a href="{}">Deleted experiments</a> can restore it.', name, deleted_view),
    )
    return _back_to(listing)


@access(on(EXPERIMENT, MANAGE, experiment_kwarg()))
@require_POST
def ExperimentRestoreView(request: HttpRequest, experiment_id: int) -> HttpResponse:
    """Restore a deleted experiment with the runs deleted together with it."""
    listing = _posted_listing(request)
    try:
        store.restore_experiment(experiment_id=str(experiment_id))
    except StudioError as error:
        return _render_list(request, listing, status=_error_status(error), action_error=error.message)
    name = store.get_experiment(experiment_id, with_tags=False).name
    messages.success(request, format_html("Restored experiment {}.", _experiment_link(experiment_id, name)))
    return _back_to(listing)


urlpatterns = [
    path("experiments/", ExperimentListView, name="experiment-list"),
    path("experiments/table/", ExperimentListTableView, name="experiment-list-table"),
    path("experiments/create/", ExperimentCreateView, name="experiment-create"),
    path("experiments/<int:experiment_id>/rename/", ExperimentRenameView, name="experiment-rename"),
    path("experiments/<int:experiment_id>/delete/", ExperimentDeleteView, name="experiment-delete"),
    path("experiments/<int:experiment_id>/restore/", ExperimentRestoreView, name="experiment-restore"),
]
