"""The models page (find registered models by name as you type and by tag, sort, page) and a model's page
(description, tags, aliases with their history, versions, rename, delete). Every action calls the same
``registry.store`` function as the REST API, with the acting user; its errors (MLflow's codes and messages) are shown
next to the form that caused them, and an unknown model is a 404 page."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST, require_safe

from registry.access import model_in_path, visible_models
from registry.store import aliases, model_pages
from registry.store import models as store
from registry.store.model_pages import DetailState, ModelListing
from studio.api import request_user
from studio.auth.access import SIGNED_IN, access, on
from studio.auth.permissions import EDIT, MANAGE, READ
from studio.errors import StudioError

# The same levels as the REST API's: reading READ, changing EDIT, deleting MANAGE; the list shows readable models.
READ_MODEL = on("registered_model", READ, model_in_path("name"))
EDIT_MODEL = on("registered_model", EDIT, model_in_path("name"))
MANAGE_MODEL = on("registered_model", MANAGE, model_in_path("name"))

# --- the models page -----------------------------------------------------------------------------------------------


def _results_context(request: HttpRequest, listing: ModelListing) -> dict[str, Any]:
    """What the results fragment needs: one page of the models the user may read, and the links of its headers and
    pager."""
    page = model_pages.model_page(listing, visible=visible_models(request))
    return {"page": page, "listing": listing, "headers": listing.headers()}


@access(SIGNED_IN)
@require_safe
def ModelListView(request: HttpRequest) -> HttpResponse:
    """Registered models (prompts aside) whose name contains ``q`` and that carry the ``tag``, sorted and paged."""
    listing = ModelListing.from_params(request.GET)
    context = {**_results_context(request, listing), "nav": "models", "next": listing.query_string()}
    return render(request, "registry/model_list.html", context)


@access(SIGNED_IN)
@require_safe
def ModelListResultsView(request: HttpRequest) -> HttpResponse:
    """The same listing's results alone, which the page's script fetches as the user types, sorts or pages."""
    listing = ModelListing.from_params(request.GET)
    return render(request, "registry/model_list_results.html", _results_context(request, listing))


# --- a model's page ------------------------------------------------------------------------------------------------


def _detail_url(name: str, anchor: str = "") -> str:
    """A model page's address, optionally at one of its sections."""
    return reverse("registry:model-detail", args=[name]) + (f"#{anchor}" if anchor else "")


def _render_detail(request: HttpRequest, name: str, *, status: int = 200, **forms: Any) -> HttpResponse:
    """The model page; ``forms`` shows a refused form again with what was typed and its error (``description=``,
    ``tag=``, ``alias=``, ``rename=``) or an action's error under the heading (``action_error=``)."""
    try:
        page = model_pages.model_detail_page(name, DetailState.from_params(request.GET))
    except StudioError as error:
        raise Http404(error.message) from None
    context = {"nav": "models", "page": page, "model": page.model, "details": page.details, **forms}
    return render(request, "registry/model_detail.html", context, status=status)


@access(READ_MODEL)
@require_safe
def ModelDetailView(request: HttpRequest, name: str) -> HttpResponse:
    """One registered model: about, description, tags, aliases and their history, and a page of its versions."""
    return _render_detail(request, name)


def _act(
    request: HttpRequest, name: str, call: Callable[[], object], *, form: str, typed: dict[str, str], done: str, at: str
) -> HttpResponse:
    """Run one domain call; on success say so and go back to the model page's section ``at``, else show the page
    with the form ``form`` filled with what was typed and MLflow's message (400; 404 when the model is unknown)."""
    try:
        call()
    except StudioError as error:
        return _render_detail(request, name, status=400, **{form: {**typed, "error": error.message}})
    messages.success(request, done)
    return HttpResponseRedirect(_detail_url(name, at))


@access(EDIT_MODEL)
@require_POST
def ModelDescriptionView(request: HttpRequest, name: str) -> HttpResponse:
    """Replace the model's description (Markdown) through ``update_registered_model``."""
    text = request.POST.get("description", "").replace("\r\n", "\n")
    call = partial(store.update_registered_model, name=name, description=text, user=request_user(request))
    return _act(request, name, call, form="description", typed={"text": text}, done="Saved the description.", at="")


@access(EDIT_MODEL)
@require_POST
def ModelTagSetView(request: HttpRequest, name: str) -> HttpResponse:
    """Add a tag, or change the value of one the model has."""
    key, value = request.POST.get("key", "").strip(), request.POST.get("value", "")
    call = partial(store.set_registered_model_tag, name=name, key=key, value=value, user=request_user(request))
    done = format_html("Set tag {} = {}.", key, value)
    return _act(request, name, call, form="tag", typed={"key": key, "value": value}, done=done, at="model-tags")


@access(EDIT_MODEL)
@require_POST
def ModelTagDeleteView(request: HttpRequest, name: str) -> HttpResponse:
    """Remove a tag of the model."""
    key = request.POST.get("key", "")
    call = partial(store.delete_registered_model_tag, name=name, key=key, user=request_user(request))
    return _act(request, name, call, form="tag", typed={"key": key}, done=f"Deleted tag {key}.", at="model-tags")


@access(EDIT_MODEL)
@require_POST
def ModelAliasSetView(request: HttpRequest, name: str) -> HttpResponse:
    """Point an alias at a version: a new alias, or an existing one moved (MLflow's alias rules apply)."""
    alias, version = request.POST.get("alias", "").strip(), request.POST.get("version", "").strip()
    user = request_user(request)
    call = partial(aliases.set_registered_model_alias, name=name, alias=alias, version=version, user=user)
    done = format_html("Alias @{} now points to version {}.", alias, version)
    typed = {"alias": alias, "version": version}
    return _act(request, name, call, form="alias", typed=typed, done=done, at="model-aliases")


@access(EDIT_MODEL)
@require_POST
def ModelAliasDeleteView(request: HttpRequest, name: str) -> HttpResponse:
    """Remove an alias (the version it pointed to stays)."""
    alias = request.POST.get("alias", "")
    call = partial(aliases.delete_registered_model_alias, name=name, alias=alias, user=request_user(request))
    done = f"Deleted alias @{alias}."
    return _act(request, name, call, form="alias", typed={"alias": alias}, done=done, at="model-aliases")


@access(EDIT_MODEL)
@require_POST
def ModelRenameView(request: HttpRequest, name: str) -> HttpResponse:
    """Rename the model and go to its page under the new name."""
    new_name = request.POST.get("new_name", "").strip()
    try:
        model = store.rename_registered_model(name=name, new_name=new_name, user=request_user(request))
    except StudioError as error:
        return _render_detail(request, name, status=400, rename={"name": new_name, "error": error.message})
    messages.success(request, f"Renamed model {name} to {model.name}.")
    return HttpResponseRedirect(_detail_url(model.name))


@access(MANAGE_MODEL)
@require_POST
def ModelDeleteView(request: HttpRequest, name: str) -> HttpResponse:
    """Delete the model with its versions, tags and aliases, and go back to the models page."""
    try:
        store.delete_registered_model(name=name, user=request_user(request))
    except StudioError as error:
        return _render_detail(request, name, status=400, action_error=error.message)
    messages.success(request, f"Moved model {name} and its versions to the trash.")
    return HttpResponseRedirect(reverse("registry:model-list"))


urlpatterns = [
    path("models/", ModelListView, name="model-list"),
    # Two segments after models/, so that no model name (one segment, never with "/") can take this address.
    path("models/-/results/", ModelListResultsView, name="model-list-results"),
    path("models/<str:name>/", ModelDetailView, name="model-detail"),
    path("models/<str:name>/description/", ModelDescriptionView, name="model-description"),
    path("models/<str:name>/tags/", ModelTagSetView, name="model-tag-set"),
    path("models/<str:name>/tags/delete/", ModelTagDeleteView, name="model-tag-delete"),
    path("models/<str:name>/aliases/", ModelAliasSetView, name="model-alias-set"),
    path("models/<str:name>/aliases/delete/", ModelAliasDeleteView, name="model-alias-delete"),
    path("models/<str:name>/rename/", ModelRenameView, name="model-rename"),
    path("models/<str:name>/delete/", ModelDeleteView, name="model-delete"),
]
