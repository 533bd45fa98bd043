"""Who may do what in the registry with ``STUDIO_AUTH`` on: every REST endpoint and page needs its level on the
registered model (one level below is refused with MLflow's PERMISSION_DENIED), searches and lists show only readable
models, groups count, the creator gets MANAGE, a version cannot be registered from files the user cannot read, and a
purge forgets the model's permissions.

The data is made with auth off (as an anonymous local user), then auth is switched on and users act with tokens
(the API) or a session (pages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from registry.models import RegisteredModel
from registry.trash import RegisteredModelKind
from studio.auth import permissions
from studio.auth.permissions import EDIT, MANAGE, NO_PERMISSIONS, READ, Level
from studio.auth.tokens import create_token
from studio.models import Permission
from tests.conftest import ApiClient
from tests.registry.conftest import upload

MLFLOW = "/api/2.0/mlflow/"
STUDIO = "/api/2.0/studio/"
PROXY = "/api/2.0/mlflow-artifacts/artifacts/"


class TokenClient:
    """Django's client speaking MLflow's JSON as one user, with a personal access token."""

    def __init__(self, user: User | None) -> None:
        headers = {}
        if user is not None:
            _, secret = create_token(user=user, name="test")
            headers["Authorization"] = f"Bearer {secret}"
        self.client = Client(headers=headers)

    def call(self, method: str, url: str, payload: dict | None = None) -> tuple[int, dict]:
        if method == "GET":
            response = self.client.get(url, payload or {})
        else:
            body = orjson.dumps(payload or {})
            response = getattr(self.client, method.lower())(url, body, content_type="application/json")
        content = b"".join(response.streaming_content) if response.streaming else response.content
        try:
            return response.status_code, orjson.loads(content) if content else {}
        except orjson.JSONDecodeError:
            return response.status_code, {"raw": content[:200]}


@pytest.fixture
def model(register: Callable[..., dict], api: ApiClient) -> RegisteredModel:
    """Model ``m`` with version 1 (from a logged model), a tag and the alias ``champion``."""
    register("m")
    api.post("registered-models/alias", {"name": "m", "alias": "champion", "version": "1"})
    api.post("registered-models/set-tag", {"name": "m", "key": "team", "value": "a"})
    return RegisteredModel.objects.get(name="m")


@pytest.fixture
def auth_on(settings: Any) -> None:
    settings.STUDIO_AUTH = True


@pytest.fixture
def alice(db: None) -> User:
    return User.objects.create_user("alice", password="pw-alice-1234")


def grant(user: User, model: RegisteredModel | int, level: Level) -> None:
    object_id = model if isinstance(model, int) else model.pk
    permissions.set_permission(kind="registered_model", object_id=object_id, user=user, level=level)


def below(level: Level) -> Level:
    return Level(level - 1)


# (method, url, payload, level needed). Payloads name model "m", version 1, alias "champion" (see ``model``).
API_TABLE = [
    ("GET", f"{MLFLOW}registered-models/get", {"name": "m"}, READ),
    ("GET", f"{MLFLOW}registered-models/get-latest-versions", {"name": "m"}, READ),
    ("GET", f"{MLFLOW}registered-models/alias", {"name": "m", "alias": "champion"}, READ),
    ("POST", f"{MLFLOW}registered-models/rename", {"name": "m", "new_name": "m2"}, EDIT),
    ("PATCH", f"{MLFLOW}registered-models/update", {"name": "m", "description": "d"}, EDIT),
    ("POST", f"{MLFLOW}registered-models/set-tag", {"name": "m", "key": "k", "value": "v"}, EDIT),
    ("DELETE", f"{MLFLOW}registered-models/delete-tag", {"name": "m", "key": "team"}, EDIT),
    ("POST", f"{MLFLOW}registered-models/alias", {"name": "m", "alias": "b", "version": "1"}, EDIT),
    ("DELETE", f"{MLFLOW}registered-models/alias", {"name": "m", "alias": "champion"}, EDIT),
    ("DELETE", f"{MLFLOW}registered-models/delete", {"name": "m"}, MANAGE),
    ("GET", f"{MLFLOW}model-versions/get", {"name": "m", "version": "1"}, READ),
    ("GET", f"{MLFLOW}model-versions/get-download-uri", {"name": "m", "version": "1"}, READ),
    ("PATCH", f"{MLFLOW}model-versions/update", {"name": "m", "version": "1", "description": "d"}, EDIT),
    ("POST", f"{MLFLOW}model-versions/transition-stage", {"name": "m", "version": "1", "stage": "Staging"}, EDIT),
    ("POST", f"{MLFLOW}model-versions/set-tag", {"name": "m", "version": "1", "key": "k", "value": "v"}, EDIT),
    ("DELETE", f"{MLFLOW}model-versions/delete-tag", {"name": "m", "version": "1", "key": "k"}, EDIT),
    ("DELETE", f"{MLFLOW}model-versions/delete", {"name": "m", "version": "1"}, MANAGE),
    ("GET", f"{STUDIO}registered-models/alias-history", {"name": "m", "alias": "champion"}, READ),
    ("GET", f"{STUDIO}model-versions/lineage", {"name": "m", "version": "1"}, READ),
]


@pytest.mark.parametrize(("method", "url", "payload", "needed"), API_TABLE, ids=[f"{r[0]} {r[1]}" for r in API_TABLE])
def test_api_needs_its_level_on_the_model(
    model: RegisteredModel, alice: User, auth_on: None, method: str, url: str, payload: dict, needed: Level
) -> None:
    client = TokenClient(alice)
    grant(alice, model, below(needed))
    status, body = client.call(method, url, payload)
    assert (status, body.get("error_code")) == (403, "PERMISSION_DENIED"), body
    assert f"{needed.name} on registered model {model.pk}" in body["message"]
    grant(alice, model, needed)
    status, body = client.call(method, url, payload)
    assert status == 200, body


def test_create_version_needs_edit_on_the_model(
    model: RegisteredModel, logged_model: dict, alice: User, auth_on: None
) -> None:
    client = TokenClient(alice)
    payload = {"name": "m", "source": f"models:/{logged_model['model_id']}", "model_id": logged_model["model_id"]}
    grant(alice, model, READ)
    status, body = client.call("POST", f"{MLFLOW}model-versions/create", payload)
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    grant(alice, model, EDIT)
    status, body = client.call("POST", f"{MLFLOW}model-versions/create", payload)
    assert (status, body["model_version"]["version"]) == (200, "2")


def test_unknown_model_is_the_views_own_404(alice: User, auth_on: None, db: None) -> None:
    status, body = TokenClient(alice).call("GET", f"{MLFLOW}registered-models/get", {"name": "nope"})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")


def test_anonymous_gets_401(model: RegisteredModel, auth_on: None) -> None:
    status, body = TokenClient(None).call("GET", f"{MLFLOW}registered-models/get", {"name": "m"})
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")


# --- the creator ----------------------------------------------------------------------------------------------------


def test_creator_gets_manage_and_others_the_default(alice: User, auth_on: None, db: None) -> None:
    bob = User.objects.create_user("bob")
    status, _ = TokenClient(alice).call("POST", f"{MLFLOW}registered-models/create", {"name": "mine"})
    assert status == 200
    created = RegisteredModel.objects.get(name="mine")
    assert permissions.level(alice, "registered_model", created.pk) == MANAGE
    assert created.user_id == "alice"
    status, body = TokenClient(bob).call("DELETE", f"{MLFLOW}registered-models/delete", {"name": "mine"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    status, _ = TokenClient(alice).call("DELETE", f"{MLFLOW}registered-models/delete", {"name": "mine"})
    assert status == 200


def test_anonymous_cannot_create(auth_on: None, db: None) -> None:
    status, body = TokenClient(None).call("POST", f"{MLFLOW}registered-models/create", {"name": "x"})
    assert (status, body["error_code"]) == (401, "UNAUTHENTICATED")
    assert not RegisteredModel.objects.filter(name="x").exists()


# --- groups ---------------------------------------------------------------------------------------------------------


def test_group_edit_lets_a_member_change_the_model_and_own_row_wins(
    model: RegisteredModel, alice: User, auth_on: None
) -> None:
    team = Group.objects.create(name="team")
    alice.groups.add(team)
    client = TokenClient(alice)
    tag = {"name": "m", "key": "k", "value": "v"}
    assert client.call("POST", f"{MLFLOW}registered-models/set-tag", tag)[0] == 403  # the default is READ
    permissions.set_permission(kind="registered_model", object_id=model.pk, group=team, level=EDIT)
    assert client.call("POST", f"{MLFLOW}registered-models/set-tag", tag)[0] == 200
    grant(alice, model, NO_PERMISSIONS)  # her own row beats the group's
    status, body = client.call("GET", f"{MLFLOW}registered-models/get", {"name": "m"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")


# --- search and lists -----------------------------------------------------------------------------------------------


@pytest.fixture
def three_models(register: Callable[..., dict]) -> dict[str, RegisteredModel]:
    for name in ("a", "b", "c"):
        register(name)
    return {m.name: m for m in RegisteredModel.objects.all()}


def _names(body: dict, key: str = "registered_models") -> list[str]:
    return [m["name"] for m in body.get(key, [])]


def test_search_models_lists_only_readable_ones_and_pages_stay_right(
    three_models: dict[str, RegisteredModel], alice: User, auth_on: None
) -> None:
    grant(alice, three_models["b"], NO_PERMISSIONS)
    client = TokenClient(alice)
    _, body = client.call("GET", f"{MLFLOW}registered-models/search", {"order_by": "name"})
    assert _names(body) == ["a", "c"]
    _, first = client.call("GET", f"{MLFLOW}registered-models/search", {"order_by": "name", "max_results": 1})
    assert _names(first) == ["a"]
    token = first["next_page_token"]
    _, second = client.call(
        "GET", f"{MLFLOW}registered-models/search", {"order_by": "name", "max_results": 1, "page_token": token}
    )
    assert _names(second) == ["c"]
    assert "next_page_token" not in second


def test_search_with_default_no_permissions_shows_only_granted(
    three_models: dict[str, RegisteredModel], alice: User, auth_on: None, settings: Any
) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    grant(alice, three_models["c"], READ)
    client = TokenClient(alice)
    assert _names(client.call("GET", f"{MLFLOW}registered-models/search")[1]) == ["c"]
    _, body = client.call("GET", f"{MLFLOW}model-versions/search")
    assert [v["name"] for v in body["model_versions"]] == ["c"]
    status, body = client.call("GET", f"{MLFLOW}registered-models/get", {"name": "a"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")


def test_search_versions_lists_only_readable_models(
    three_models: dict[str, RegisteredModel], alice: User, auth_on: None
) -> None:
    grant(alice, three_models["a"], NO_PERMISSIONS)
    _, body = TokenClient(alice).call("GET", f"{MLFLOW}model-versions/search", {"order_by": "name"})
    assert sorted(v["name"] for v in body["model_versions"]) == ["b", "c"]


def test_superuser_sees_everything(three_models: dict[str, RegisteredModel], auth_on: None) -> None:
    admin = User.objects.create_superuser("root")
    grant(admin, three_models["a"], NO_PERMISSIONS)
    assert _names(TokenClient(admin).call("GET", f"{MLFLOW}registered-models/search")[1]) == ["a", "b", "c"]


def test_events_of_a_hidden_model_are_not_found(
    three_models: dict[str, RegisteredModel], alice: User, auth_on: None
) -> None:
    grant(alice, three_models["a"], NO_PERMISSIONS)
    client = TokenClient(alice)
    status, body = client.call("GET", f"{STUDIO}registry/events", {"name": "a"})
    assert (status, body["error_code"]) == (404, "RESOURCE_DOES_NOT_EXIST")
    status, body = client.call("GET", f"{STUDIO}registry/events", {"name": "b"})
    assert status == 200
    assert body["events"]
    assert {e["name"] for e in body["events"]} == {"b"}


def test_run_model_versions_needs_read_on_the_run_and_lists_readable_models(
    three_models: dict[str, RegisteredModel], run_id: str, experiment_id: str, alice: User, auth_on: None
) -> None:
    grant(alice, three_models["b"], NO_PERMISSIONS)
    client = TokenClient(alice)
    _, body = client.call("GET", f"{STUDIO}runs/model-versions", {"run_id": run_id})
    assert sorted(v["name"] for v in body["model_versions"]) == ["a", "c"]
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice, level=NO_PERMISSIONS)
    status, body = client.call("GET", f"{STUDIO}runs/model-versions", {"run_id": run_id})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")


def test_lineage_leaves_out_an_unreadable_run(
    model: RegisteredModel, experiment_id: str, alice: User, auth_on: None
) -> None:
    client = TokenClient(alice)
    _, body = client.call("GET", f"{STUDIO}model-versions/lineage", {"name": "m", "version": "1"})
    assert {"run", "experiment", "logged_model"} <= set(body)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice, level=NO_PERMISSIONS)
    _, body = client.call("GET", f"{STUDIO}model-versions/lineage", {"name": "m", "version": "1"})
    assert not {"run", "experiment", "logged_model"} & set(body)
    assert body["model_version"]["version"] == "1"


def test_version_page_hides_an_unreadable_source_run(
    model: RegisteredModel, experiment_id: str, alice: User, auth_on: None
) -> None:
    client = Client()
    client.force_login(alice)
    link = f'href="/experiments/{experiment_id}/"'
    assert link in client.get("/models/m/versions/1/").content.decode()
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice, level=NO_PERMISSIONS)
    page = client.get("/models/m/versions/1/").content.decode()
    assert link not in page
    assert "/runs/" not in page
    assert "(not visible to you)" in page


# --- where a version's files come from --------------------------------------------------------------------------------


@pytest.fixture
def editor(model: RegisteredModel, alice: User, experiment_id: str, auth_on: None) -> TokenClient:
    """Alice may change model ``m`` but not read the experiment its files (and the run's) live in."""
    grant(alice, model, EDIT)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice, level=NO_PERMISSIONS)
    return TokenClient(alice)


def test_version_from_an_unreadable_run_or_logged_model_is_refused(
    editor: TokenClient, logged_model: dict, run_id: str, experiment_id: str, alice: User
) -> None:
    sources = [
        {"source": f"models:/{logged_model['model_id']}", "model_id": logged_model["model_id"]},
        {"source": f"runs:/{run_id}/model"},
        {"source": f"{logged_model['artifact_uri']}"},  # a bare mlflow-artifacts:/ path of the experiment
        {"source": "s3://bucket/elsewhere", "run_id": run_id},  # an external source still names the run
    ]
    for fields in sources:
        status, body = editor.call("POST", f"{MLFLOW}model-versions/create", {"name": "m", **fields})
        assert (status, body.get("error_code")) == (403, "PERMISSION_DENIED"), (fields, body)
        assert f"READ on experiment {experiment_id}" in body["message"]
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice, level=READ)
    status, body = editor.call("POST", f"{MLFLOW}model-versions/create", {"name": "m", **sources[0]})
    assert status == 200, body


def test_version_copied_from_an_unreadable_model_is_refused(
    editor: TokenClient, register: Callable[..., dict], alice: User, settings: Any
) -> None:
    settings.STUDIO_AUTH = False
    register("secret")
    settings.STUDIO_AUTH = True
    secret = RegisteredModel.objects.get(name="secret")
    grant(alice, secret, NO_PERMISSIONS)
    status, body = editor.call("POST", f"{MLFLOW}model-versions/create", {"name": "m", "source": "models:/secret/1"})
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert f"READ on registered model {secret.pk}" in body["message"]
    # Its copy in the registry's folder, named as a store path, is the same files.
    storage = secret.versions.get().storage_path
    status, body = editor.call(
        "POST", f"{MLFLOW}model-versions/create", {"name": "m", "source": f"mlflow-artifacts:/{storage}"}
    )
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    grant(alice, secret, READ)
    status, body = editor.call("POST", f"{MLFLOW}model-versions/create", {"name": "m", "source": "models:/secret/1"})
    assert status == 200, body


def test_version_from_files_no_one_owns_is_for_staff(editor: TokenClient, alice: User, settings: Any) -> None:
    settings.STUDIO_AUTH = False
    upload("mlflow-artifacts:/loose/folder", {"MLmodel": b"flavors: {}\n"})  # a folder of no experiment or model
    settings.STUDIO_AUTH = True
    payload = {"name": "m", "source": "mlflow-artifacts:/loose/folder"}
    status, body = editor.call("POST", f"{MLFLOW}model-versions/create", payload)
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    alice.is_staff = True
    alice.save()
    status, body = editor.call("POST", f"{MLFLOW}model-versions/create", payload)
    assert status == 200, body


# --- the artifact proxy ---------------------------------------------------------------------------------------------


def test_proxy_reads_a_versions_copy_with_read_on_its_model(model: RegisteredModel, alice: User, auth_on: None) -> None:
    storage = model.versions.get().storage_path
    assert storage.startswith(f"registry/{model.pk}/")
    client = TokenClient(alice)
    grant(alice, model, NO_PERMISSIONS)
    status, body = client.call("GET", f"{PROXY}{storage}/MLmodel")
    assert (status, body.get("error_code")) == (403, "PERMISSION_DENIED")
    status, _ = client.call("GET", f"{MLFLOW.replace('mlflow/', 'mlflow-artifacts/')}artifacts", {"path": storage})
    assert status == 403
    grant(alice, model, READ)
    status, body = client.call("GET", f"{PROXY}{storage}/MLmodel")
    assert status == 200, body


# --- purges ---------------------------------------------------------------------------------------------------------


def test_purging_a_model_forgets_its_permissions(model: RegisteredModel, alice: User, api: ApiClient) -> None:
    other = api.post("registered-models/create", {"name": "other"})["registered_model"]
    other_pk = RegisteredModel.objects.get(name=other["name"]).pk
    grant(alice, model, EDIT)
    grant(alice, other_pk, EDIT)
    api.call("DELETE", "registered-models/delete", {"name": "m"})
    assert RegisteredModelKind().purge(str(model.pk))
    assert not Permission.objects.filter(kind="registered_model", object_id=model.pk).exists()
    assert Permission.objects.filter(kind="registered_model", object_id=other_pk).exists()


# --- pages ----------------------------------------------------------------------------------------------------------

PAGE_TABLE = [
    ("GET", "/models/m/", {}, READ),
    ("POST", "/models/m/description/", {"description": "d"}, EDIT),
    ("POST", "/models/m/tags/", {"key": "k", "value": "v"}, EDIT),
    ("POST", "/models/m/tags/delete/", {"key": "team"}, EDIT),
    ("POST", "/models/m/aliases/", {"alias": "b", "version": "1"}, EDIT),
    ("POST", "/models/m/aliases/delete/", {"alias": "champion"}, EDIT),
    ("POST", "/models/m/rename/", {"new_name": "m2"}, EDIT),
    ("POST", "/models/m/delete/", {}, MANAGE),
    ("GET", "/models/m/versions/1/", {}, READ),
    ("GET", "/models/m/versions/1/?tab=mlmodel", {}, READ),
    ("POST", "/models/m/versions/1/description/", {"description": "d"}, EDIT),
    ("POST", "/models/m/versions/1/tags/", {"key": "k", "value": "v"}, EDIT),
    ("POST", "/models/m/versions/1/tags/delete/", {"key": "k"}, EDIT),
    ("POST", "/models/m/versions/1/stage/", {"stage": "Staging"}, EDIT),
    ("POST", "/models/m/versions/1/delete/", {}, MANAGE),
    ("GET", "/models/m/versions/1/files/", {}, READ),
    ("GET", "/models/m/versions/1/files/list", {}, READ),
    ("GET", "/models/m/versions/1/files/raw/MLmodel", {}, READ),
    ("GET", "/models/m/versions/1/files/download/MLmodel", {}, READ),
]


@pytest.mark.parametrize(("method", "url", "data", "needed"), PAGE_TABLE, ids=[f"{r[0]} {r[1]}" for r in PAGE_TABLE])
def test_pages_need_their_level_on_the_model(
    model: RegisteredModel, alice: User, auth_on: None, method: str, url: str, data: dict, needed: Level
) -> None:
    client = Client()
    client.force_login(alice)
    grant(alice, model, below(needed))
    response = client.get(url) if method == "GET" else client.post(url, data)
    assert response.status_code == 403
    assert b"Permission denied" in response.content
    grant(alice, model, needed)
    response = client.get(url) if method == "GET" else client.post(url, data)
    assert response.status_code == (200 if method == "GET" else 302), response.content[:300]


def test_pages_send_anonymous_to_sign_in(model: RegisteredModel, auth_on: None) -> None:
    response = Client().get("/models/m/")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('studio:signin')}?next=%2Fmodels%2Fm%2F"


def test_model_list_shows_only_readable_models(
    three_models: dict[str, RegisteredModel], alice: User, auth_on: None
) -> None:
    grant(alice, three_models["b"], NO_PERMISSIONS)
    client = Client()
    client.force_login(alice)
    for url in ("/models/", "/models/-/results/"):
        response = client.get(url)
        assert response.status_code == 200
        listed = {name for name in ("a", "b", "c") if f'href="/models/{name}/"'.encode() in response.content}
        assert listed == {"a", "c"}, url


def test_auth_off_changes_nothing(model: RegisteredModel, alice: User) -> None:
    grant(alice, model, NO_PERMISSIONS)  # rows are ignored while STUDIO_AUTH is off
    assert Client().get("/models/m/").status_code == 200
    status, _ = TokenClient(None).call("DELETE", f"{MLFLOW}registered-models/delete", {"name": "m"})
    assert status == 200
