"""Permissions: the semantics of ``studio.auth.permissions``, and the page that shows and changes them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, Group, User
from django.test import Client

from studio.auth import permissions
from studio.auth.permissions import EDIT, MANAGE, NO_PERMISSIONS, READ
from studio.errors import StudioError
from studio.models import Permission

PASSWORD = "correct-horse-battery-staple"
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # what matters here is not the hash


@pytest.fixture
def auth(settings: Any) -> Any:
    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return settings


@pytest.fixture
def people(db: None, auth: Any) -> dict[str, Any]:
    """ada (in groups readers and editors), bo (in no group), root (an admin)."""
    ada = User.objects.create_user("ada", password=PASSWORD)
    readers, editors = Group.objects.create(name="readers"), Group.objects.create(name="editors")
    ada.groups.add(readers, editors)
    return {
        "ada": ada,
        "bo": User.objects.create_user("bo", password=PASSWORD),
        "root": User.objects.create_superuser("root", password=PASSWORD),
        "readers": readers,
        "editors": editors,
    }


def _fresh(user: User) -> User:
    """The user as the next request loads them (group ids are read once per user object)."""
    return User.objects.get(pk=user.pk)


# --- the semantics ---------------------------------------------------------------------------------------------------


def test_the_best_group_row_counts_and_the_users_own_row_wins(people: dict[str, Any]) -> None:
    ada = people["ada"]
    permissions.set_permission(kind="experiment", object_id=7, group=people["readers"], level=READ)
    permissions.set_permission(kind="experiment", object_id=7, group=people["editors"], level=EDIT)
    assert permissions.level(_fresh(ada), "experiment", 7) == EDIT
    permissions.set_permission(kind="experiment", object_id=7, user=ada, level=NO_PERMISSIONS)
    assert permissions.level(_fresh(ada), "experiment", 7) == NO_PERMISSIONS  # shut out despite her groups
    permissions.set_permission(kind="experiment", object_id=7, user=ada, level=MANAGE)
    assert permissions.level(_fresh(ada), "experiment", 7) == MANAGE
    assert Permission.objects.filter(kind="experiment", object_id=7, user=ada).count() == 1  # replaced, not added
    # Another kind with the same id is another object.
    assert permissions.level(_fresh(ada), "registered_model", 7) == READ


def test_without_rows_the_default_applies_to_signed_in_users_only(people: dict[str, Any], auth: Any) -> None:
    bo, anonymous = people["bo"], AnonymousUser()
    assert permissions.levels(bo, "experiment", [1, 2]) == {1: READ, 2: READ}
    auth.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    assert permissions.level(bo, "experiment", 1) == NO_PERMISSIONS
    auth.STUDIO_DEFAULT_PERMISSION = "edit"
    assert permissions.level(bo, "experiment", 1) == EDIT
    assert permissions.level(anonymous, "experiment", 1) == NO_PERMISSIONS
    permissions.grant_creator(anonymous, "experiment", 1)  # nothing to record
    assert not Permission.objects.exists()


def test_admins_may_do_everything(people: dict[str, Any]) -> None:
    root = people["root"]
    permissions.set_permission(kind="experiment", object_id=3, user=root, level=NO_PERMISSIONS)
    assert permissions.levels(root, "experiment", [3, 4]) == {3: MANAGE, 4: MANAGE}
    assert permissions.visibility(root, "experiment") is permissions.EVERYTHING
    permissions.require(root, "registered_model", [3], MANAGE)


def test_require_refuses_with_mlflows_permission_denied_only_while_auth_is_on(
    people: dict[str, Any], auth: Any
) -> None:
    bo = people["bo"]
    permissions.require(bo, "experiment", [1], READ)
    with pytest.raises(StudioError) as refused:
        permissions.require(bo, "experiment", [1, 2], EDIT)
    assert (refused.value.error_code, refused.value.status) == ("PERMISSION_DENIED", 403)
    auth.STUDIO_AUTH = False
    permissions.require(AnonymousUser(), "experiment", [1], MANAGE)


def test_visibility_with_the_default_read_hides_only_what_is_denied(people: dict[str, Any]) -> None:
    from tracking.models import Experiment
    from tracking.store.experiments import create_experiment

    ids = [create_experiment(name=f"e{i}") for i in range(3)]
    ada = people["ada"]
    permissions.set_permission(kind="experiment", object_id=ids[0], user=ada, level=NO_PERMISSIONS)
    permissions.set_permission(kind="experiment", object_id=ids[1], group=people["readers"], level=NO_PERMISSIONS)
    permissions.set_permission(kind="experiment", object_id=ids[1], group=people["editors"], level=READ)
    seen = permissions.visibility(_fresh(ada), "experiment")
    assert seen.exclude == {ids[0]} and seen.only is None
    assert list(seen.filter(Experiment.objects.filter(pk__in=ids), "pk").values_list("pk", flat=True)) == ids[1:]
    assert seen.ids([ids[2], ids[0], ids[1]]) == [ids[2], ids[1]]
    assert permissions.visibility(AnonymousUser(), "experiment").only == frozenset()


def test_visibility_with_the_default_no_permissions_shows_only_what_is_granted(
    people: dict[str, Any], auth: Any
) -> None:
    auth.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    ada = people["ada"]
    permissions.set_permission(kind="registered_model", object_id=5, group=people["readers"], level=READ)
    permissions.set_permission(kind="registered_model", object_id=6, user=ada, level=NO_PERMISSIONS)
    permissions.set_permission(kind="registered_model", object_id=6, group=people["editors"], level=MANAGE)
    seen = permissions.visibility(_fresh(ada), "registered_model")
    assert seen.only == {5} and not seen.allows(6) and not seen.allows(8)
    assert permissions.visibility(people["bo"], "registered_model").only == frozenset()
    auth.STUDIO_AUTH = False
    assert permissions.visibility(people["bo"], "registered_model") is permissions.EVERYTHING


def test_forget_drops_the_rows_of_purged_objects(people: dict[str, Any]) -> None:
    for object_id in (1, 2):
        permissions.set_permission(kind="experiment", object_id=object_id, user=people["ada"], level=MANAGE)
    permissions.set_permission(kind="registered_model", object_id=1, user=people["ada"], level=MANAGE)
    permissions.forget("experiment", [1])
    left = set(Permission.objects.values_list("kind", "object_id"))
    assert left == {("experiment", 2), ("registered_model", 1)}
    assert permissions.level(_fresh(people["ada"]), "experiment", 1) == READ  # a new experiment 1 inherits nothing


def test_rows_are_for_a_user_or_a_group_and_levels_have_mlflows_names(people: dict[str, Any]) -> None:
    with pytest.raises(StudioError):
        permissions.set_permission(kind="experiment", object_id=1, level=READ)
    with pytest.raises(StudioError):
        permissions.set_permission(
            kind="experiment", object_id=1, level=READ, user=people["ada"], group=people["readers"]
        )
    with pytest.raises(ValueError, match="unknown permission kind"):
        permissions.set_permission(kind="run", object_id=1, level=READ, user=people["ada"])
    assert permissions.parse_level(" manage ") == MANAGE
    with pytest.raises(StudioError, match="expected one of NO_PERMISSIONS, READ, EDIT, MANAGE"):
        permissions.parse_level("OWNER")


# --- the page, through Django's client -------------------------------------------------------------------------------


@pytest.fixture
def experiment(people: dict[str, Any]) -> int:
    """An experiment that ada manages."""
    from tracking.store.experiments import create_experiment

    experiment_id = create_experiment(name="fraud-detection")
    permissions.set_permission(kind="experiment", object_id=experiment_id, user=people["ada"], level=MANAGE)
    return experiment_id


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_needs_manage_and_a_known_object(people: dict[str, Any], experiment: int) -> None:
    url = f"/permissions/experiment/{experiment}/"
    refused = _client(people["bo"]).get(url)
    assert refused.status_code == 403
    assert "MANAGE" in refused.content.decode()
    assert Client().get(url).status_code == 302  # to the sign-in page
    ada = _client(people["ada"])
    assert ada.get(url).status_code == 200
    assert ada.get("/permissions/run/1/").status_code == 404
    assert ada.get("/permissions/experiment/999999/").status_code == 404
    assert _client(people["bo"]).get("/permissions/registered_model/999999/").status_code == 404
    assert _client(people["root"]).get(url).status_code == 200


def test_adding_an_unknown_user_or_group_says_so_and_keeps_the_form(people: dict[str, Any], experiment: int) -> None:
    ada, url = _client(people["ada"]), f"/permissions/experiment/{experiment}/"
    response = ada.post(url, {"action": "add", "principal": "user", "name": "nobody", "level": "EDIT"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is no user named “nobody”." in page
    assert 'value="nobody"' in page and re.search(r'<option value="EDIT"[^>]*selected', page)
    response = ada.post(url, {"action": "add", "principal": "group", "name": "nobody", "level": "READ"})
    assert "There is no group named “nobody”." in response.content.decode()
    response = ada.post(url, {"action": "add", "principal": "user", "name": "bo", "level": "OWNER"})
    assert response.status_code == 400 and "Invalid permission" in response.content.decode()
    assert ada.post(url, {"action": "remove", "row": "123456"}).status_code == 400
    assert list(Permission.objects.values_list("user__username", flat=True)) == ["ada"]


def test_changes_redirect_and_need_the_csrf_token(people: dict[str, Any], experiment: int) -> None:
    url = f"/permissions/experiment/{experiment}/"
    ada = _client(people["ada"])
    response = ada.post(url, {"action": "add", "principal": "group", "name": "readers", "level": "EDIT"})
    assert (response.status_code, response["Location"]) == (302, url)
    assert "Group readers now has EDIT on this experiment." in ada.get(url).content.decode()
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people["ada"])
    assert strict.post(url, {"action": "add", "principal": "user", "name": "bo", "level": "MANAGE"}).status_code == 403
    assert not Permission.objects.filter(user=people["bo"]).exists()


def test_giving_up_ones_own_manage_leaves_the_page(people: dict[str, Any], experiment: int) -> None:
    url = f"/permissions/experiment/{experiment}/"
    ada = _client(people["ada"])
    row = Permission.objects.get(user=people["ada"])
    response = ada.post(url, {"action": "update", "row": row.pk, "level": "READ"})
    assert response["Location"] == f"/experiments/{experiment}/"
    page = _client(people["root"]).get(url).content.decode()
    assert "Nobody but the admins can manage this" in page


def test_check_access_explains_where_a_level_comes_from(people: dict[str, Any], experiment: int) -> None:
    url = f"/permissions/experiment/{experiment}/"
    ada = _client(people["ada"])

    def check(username: str) -> str:
        return re.sub(r"\s+", " ", ada.get(url, {"check": username}).content.decode())

    assert "<strong>ada</strong> has <strong>MANAGE</strong> on this experiment, from their own permission" in check(
        "ada"
    )
    assert "has <strong>READ</strong> on this experiment, from the default permission" in check("bo")
    assert "from an admin" in check("root")
    assert "There is no user named “zed”." in check("zed")
    permissions.set_permission(kind="experiment", object_id=experiment, group=people["editors"], level=EDIT)
    bo = people["bo"]
    bo.groups.add(people["editors"])
    assert "has <strong>EDIT</strong> on this experiment, from the permission of their group “editors”" in check("bo")


def test_a_registered_model_has_its_page_too(people: dict[str, Any]) -> None:
    from registry.store.models import create_registered_model

    model = create_registered_model(name="churn")
    permissions.set_permission(kind="registered_model", object_id=model.pk, user=people["bo"], level=MANAGE)
    page = _client(people["bo"]).get(f"/permissions/registered_model/{model.pk}/").content.decode()
    assert 'href="/models/churn/"' in page and "Registered model" in page
    assert _client(people["ada"]).get(f"/permissions/registered_model/{model.pk}/").status_code == 403


def test_without_auth_the_page_works_and_says_nothing_is_enforced(
    people: dict[str, Any], experiment: int, auth: Any
) -> None:
    auth.STUDIO_AUTH = False
    page = Client().get(f"/permissions/experiment/{experiment}/").content.decode()
    assert "nothing is enforced" in page


# --- the page in Chromium ------------------------------------------------------------------------------------------


def _sign_in(page: Any, live_server: Any, user: User) -> None:
    """Share a session made by Django's test client with the browser (the sign-in form has tests of its own)."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )


@pytest.mark.live
def test_manage_who_has_access_in_chromium(
    page: Any, screenshot: Callable[[str], Any], live_server: Any, transactional_db: None, auth: Any
) -> None:
    from playwright.sync_api import expect

    from tracking.store.experiments import create_experiment

    owner = User.objects.create_user("owner", password=PASSWORD)
    viewer = User.objects.create_user("viewer", password=PASSWORD)
    Group.objects.create(name="data-science")
    experiment_id = create_experiment(name="fraud-detection")
    permissions.set_permission(kind="experiment", object_id=experiment_id, user=owner, level=MANAGE)
    _sign_in(page, live_server, owner)
    page.goto(f"/permissions/experiment/{experiment_id}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Permissions of fraud-detection")
    expect(page.locator("[data-default-level]")).to_have_text("READ")

    # Add a user with READ, then change them to EDIT.
    page.get_by_label("Name").fill("viewer")
    page.get_by_label("Permission", exact=True).select_option("READ")
    page.get_by_role("button", name="Add").click()
    expect(page.get_by_role("status").first).to_contain_text("User viewer now has READ")
    row = page.locator('tr[data-row="user:viewer"]')
    row.get_by_label("Permission of user viewer").select_option("EDIT")
    row.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-row="user:viewer"] select')).to_have_value("EDIT")
    assert permissions.level(viewer, "experiment", experiment_id) == EDIT

    # Add a group; check a user's access; then remove the user again.
    page.get_by_label("Who", exact=True).select_option("group")
    page.get_by_label("Name").fill("data-science")
    page.get_by_label("Permission", exact=True).select_option("MANAGE")
    page.get_by_role("button", name="Add").click()
    expect(page.locator('tr[data-row="group:data-science"] select')).to_have_value("MANAGE")
    page.get_by_label("User", exact=True).fill("viewer")
    page.get_by_role("button", name="Check").click()
    expect(page.locator("[data-check-result]")).to_contain_text("viewer has EDIT on this experiment")
    screenshot("permissions")
    page.locator('tr[data-row="user:viewer"]').get_by_role("button", name="Remove").click()
    expect(page.locator('tr[data-row="user:viewer"]')).to_have_count(0)
    assert permissions.level(_fresh(viewer), "experiment", experiment_id) == READ

    # The viewer, who has only READ, gets the 403 page.
    page.context.clear_cookies()
    _sign_in(page, live_server, viewer)
    response = page.goto(f"/permissions/experiment/{experiment_id}/")
    assert response is not None and response.status == 403
    expect(page.locator("main")).to_contain_text("MANAGE")
    screenshot("forbidden")
