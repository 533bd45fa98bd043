"""Access rules of the tracking views with ``STUDIO_AUTH`` on: each endpoint's level, search filtering, groups, the
default permission, the creator's MANAGE, the artifact proxy's path checks, and the pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.test import Client

from studio.auth import permissions, tokens
from studio.auth.permissions import EDIT, MANAGE, NO_PERMISSIONS, READ
from studio.models import Permission
from tracking import access
from tracking.store import experiments as experiment_store
from tracking.store import purge

pytestmark = pytest.mark.django_db
API = "/api/2.0/mlflow/"
STUDIO = "/api/2.0/studio/"
ARTIFACTS = "/api/2.0/mlflow-artifacts/"


@pytest.fixture(autouse=True)
def _auth_on(settings: Any) -> None:
    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"


class Caller:
    """A Django test client that authenticates with a personal access token, as the ``mlflow`` client does."""

    def __init__(self, user: User) -> None:
        self.user = user
        _, secret = tokens.create_token(user=user, name="test")
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def call(self, method: str, url: str, payload: dict | None = None, body: bytes | None = None) -> Any:
        if method == "GET":
            return self.client.get(url, payload or {})
        data = body if body is not None else orjson.dumps(payload or {})
        return getattr(self.client, method.lower())(url, data, content_type="application/json")

    def ok(self, method: str, url: str, payload: dict | None = None) -> dict:
        response = self.call(method, url, payload)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        return orjson.loads(response.content) if response.content else {}


def _user(name: str, **extra: Any) -> User:
    return User.objects.create_user(name, **extra)  # no password: tokens sign in, and hashing one is slow


@dataclass
class World:
    """An experiment made by ``owner`` with a run (a metric, a tag, an artifact) and a logged model, and ``alice``,
    whose level on the experiment each test sets."""

    owner: Caller
    alice: Caller
    experiment_id: str
    run_id: str
    model_id: str

    def grant(self, level: permissions.Level) -> None:
        permissions.set_permission(
            kind="experiment", object_id=int(self.experiment_id), user=self.alice.user, level=level
        )


def _experiment(caller: Caller, name: str) -> str:
    return caller.ok("POST", API + "experiments/create", {"name": name})["experiment_id"]


def _run(caller: Caller, experiment_id: str) -> str:
    return caller.ok("POST", API + "runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]


@pytest.fixture
def world() -> World:
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    experiment_id = _experiment(owner, "exp")
    owner.ok("POST", API + "experiments/set-experiment-tag", {"experiment_id": experiment_id, "key": "k", "value": "v"})
    run_id = _run(owner, experiment_id)
    owner.ok("POST", API + "runs/set-tag", {"run_id": run_id, "key": "t", "value": "v"})
    owner.ok("POST", API + "runs/log-metric", {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "step": 0})
    put = owner.call("PUT", f"{ARTIFACTS}artifacts/{experiment_id}/{run_id}/artifacts/f.txt", body=b"hello")
    assert put.status_code == 200, put.content
    model = owner.ok("POST", API + "logged-models", {"experiment_id": experiment_id, "name": "m"})["model"]
    model_id = model["info"]["model_id"]
    owner.ok("PATCH", f"{API}logged-models/{model_id}/tags", {"tags": [{"key": "k", "value": "v"}]})
    return World(owner, alice, experiment_id, run_id, model_id)


Request = Callable[[World], tuple[str, str, dict | None]]


def _api(method: str, endpoint: str, payload: Callable[[World], dict] = lambda w: {}) -> Request:
    return lambda w: (method, API + endpoint.format(w=w), payload(w))


def _exp(**extra: Any) -> Callable[[World], dict]:
    return lambda w: {"experiment_id": w.experiment_id, **extra}


def _run_of(**extra: Any) -> Callable[[World], dict]:
    return lambda w: {"run_id": w.run_id, **extra}


def _raw(method: str, url: str, payload: Callable[[World], dict] = lambda w: {}) -> Request:
    return lambda w: (method, url.format(w=w), payload(w))


_ART = ARTIFACTS + "artifacts/{w.experiment_id}/{w.run_id}/artifacts/"
# (what, request, level needed, status when allowed)
ENDPOINTS: list[tuple[str, Request, permissions.Level, int]] = [
    ("experiments/get", _api("GET", "experiments/get", _exp()), READ, 200),
    (
        "experiments/get-by-name",
        _api("GET", "experiments/get-by-name", lambda w: {"experiment_name": "exp"}),
        READ,
        200,
    ),
    ("experiments/update", _api("POST", "experiments/update", _exp(new_name="renamed")), EDIT, 200),
    ("set-experiment-tag", _api("POST", "experiments/set-experiment-tag", _exp(key="a", value="b")), EDIT, 200),
    ("delete-experiment-tag", _api("POST", "experiments/delete-experiment-tag", _exp(key="k")), EDIT, 200),
    ("experiments/delete", _api("POST", "experiments/delete", _exp()), MANAGE, 200),
    ("experiments/restore", _api("POST", "experiments/restore", _exp()), MANAGE, 400),  # allowed; it is active
    ("runs/create", _api("POST", "runs/create", _exp()), EDIT, 200),
    ("runs/get", _api("GET", "runs/get", _run_of()), READ, 200),
    ("runs/update", _api("POST", "runs/update", _run_of(status="FINISHED")), EDIT, 200),
    ("runs/delete", _api("POST", "runs/delete", _run_of()), MANAGE, 200),
    ("runs/restore", _api("POST", "runs/restore", _run_of()), MANAGE, 200),
    ("runs/set-tag", _api("POST", "runs/set-tag", _run_of(key="a", value="b")), EDIT, 200),
    ("runs/delete-tag", _api("POST", "runs/delete-tag", _run_of(key="t")), EDIT, 200),
    ("runs/log-parameter", _api("POST", "runs/log-parameter", _run_of(key="p", value="1")), EDIT, 200),
    ("runs/log-metric", _api("POST", "runs/log-metric", _run_of(key="m", value=2.0, timestamp=2, step=1)), EDIT, 200),
    ("runs/log-batch", _api("POST", "runs/log-batch", _run_of(params=[{"key": "q", "value": "1"}])), EDIT, 200),
    ("runs/log-inputs", _api("POST", "runs/log-inputs", _run_of()), EDIT, 200),
    (
        "runs/outputs",
        _api("POST", "runs/outputs", lambda w: {"run_id": w.run_id, "models": [{"model_id": w.model_id}]}),
        EDIT,
        200,
    ),
    ("metrics/get-history", _api("GET", "metrics/get-history", _run_of(metric_key="m")), READ, 200),
    (
        "get-history-bulk",
        _api("GET", "metrics/get-history-bulk", lambda w: {"run_id": [w.run_id], "metric_key": "m"}),
        READ,
        200,
    ),
    (
        "get-history-bulk-interval",
        _api("GET", "metrics/get-history-bulk-interval", lambda w: {"run_ids": [w.run_id], "metric_key": "m"}),
        READ,
        200,
    ),
    ("artifacts/list", _api("GET", "artifacts/list", _run_of()), READ, 200),
    ("logged-models create", _api("POST", "logged-models", _exp()), EDIT, 200),
    ("logged-models get", _api("GET", "logged-models/{w.model_id}"), READ, 200),
    (
        "logged-models finalize",
        _api("PATCH", "logged-models/{w.model_id}", lambda w: {"status": "LOGGED_MODEL_READY"}),
        EDIT,
        200,
    ),
    ("logged-models delete", _api("DELETE", "logged-models/{w.model_id}"), MANAGE, 200),
    (
        "logged-models params",
        _api("POST", "logged-models/{w.model_id}/params", lambda w: {"params": [{"key": "a", "value": "1"}]}),
        EDIT,
        200,
    ),
    (
        "logged-models set tags",
        _api("PATCH", "logged-models/{w.model_id}/tags", lambda w: {"tags": [{"key": "a", "value": "1"}]}),
        EDIT,
        200,
    ),
    ("logged-models delete tag", _api("DELETE", "logged-models/{w.model_id}/tags/k"), MANAGE, 200),
    ("logged-models artifacts", _api("GET", "logged-models/{w.model_id}/artifacts/directories"), READ, 200),
    (
        "studio metrics/sample",
        _raw("POST", STUDIO + "metrics/sample", lambda w: {"run_ids": [w.run_id], "metric_keys": ["m"]}),
        READ,
        200,
    ),
    ("studio runs/delete-artifact", _raw("POST", STUDIO + "runs/delete-artifact", _run_of(path="f.txt")), MANAGE, 200),
    ("studio set-trash-retention", _raw("POST", STUDIO + "experiments/set-trash-retention", _exp(days=5)), MANAGE, 200),
    ("proxy download", _raw("GET", _ART + "f.txt"), READ, 200),
    (
        "proxy list",
        _raw("GET", ARTIFACTS + "artifacts", lambda w: {"path": f"{w.experiment_id}/{w.run_id}/artifacts"}),
        READ,
        200,
    ),
    ("proxy upload", _raw("PUT", _ART + "g.txt"), EDIT, 200),
    ("proxy delete", _raw("DELETE", _ART + "f.txt"), MANAGE, 200),
    (
        "proxy mpu create",
        _raw(
            "POST",
            ARTIFACTS + "mpu/create/{w.experiment_id}/{w.run_id}/artifacts",
            lambda w: {"path": "/tmp/big.bin", "num_parts": 1},
        ),
        EDIT,
        501,
    ),  # multipart is off
    ("page experiment", _raw("GET", "/experiments/{w.experiment_id}/"), READ, 200),
    ("page experiment runs", _raw("GET", "/experiments/{w.experiment_id}/runs/"), READ, 200),
    ("page experiment columns", _raw("GET", "/experiments/{w.experiment_id}/columns/"), READ, 200),
    ("page run children", _raw("GET", "/experiments/{w.experiment_id}/runs/{w.run_id}/children/"), READ, 200),
    ("page rename", _raw("POST", "/experiments/{w.experiment_id}/rename/"), EDIT, 302),
    ("page delete", _raw("POST", "/experiments/{w.experiment_id}/delete/"), MANAGE, 302),
    ("page restore", _raw("POST", "/experiments/{w.experiment_id}/restore/"), MANAGE, 400),  # allowed; it is active
    ("page retention", _raw("POST", "/experiments/{w.experiment_id}/retention/"), MANAGE, 302),
    ("page run", _raw("GET", "/runs/{w.run_id}/"), READ, 200),
    ("page run artifacts", _raw("GET", "/runs/{w.run_id}/artifacts/"), READ, 200),
    ("page run artifact raw", _raw("GET", "/runs/{w.run_id}/artifacts/raw/f.txt"), READ, 200),
    ("page compare", _raw("GET", "/compare/?runs={w.run_id}"), READ, 200),
]


def _send(caller: Caller, method: str, url: str, payload: dict | None) -> Any:
    if url.startswith("/api/"):
        if method == "PUT":
            return caller.call(method, url, body=b"data")
        return caller.call(method, url, payload)
    if method == "GET":
        return caller.client.get(url)
    return caller.client.post(url, {"new_name": "renamed", "days": "3"})


@pytest.mark.parametrize(
    ("request_of", "needed", "allowed_status"), [e[1:] for e in ENDPOINTS], ids=[e[0] for e in ENDPOINTS]
)
def test_endpoint_refuses_one_level_below_and_allows_its_level(
    world: World, request_of: Request, needed: permissions.Level, allowed_status: int
) -> None:
    method, url, payload = request_of(world)
    world.grant(permissions.Level(needed - 1))
    refused = _send(world.alice, method, url, payload)
    assert refused.status_code == 403, (refused.status_code, refused.content[:300])
    if url.startswith("/api/"):
        assert orjson.loads(refused.content)["error_code"] == "PERMISSION_DENIED"
    world.grant(needed)
    allowed = _send(world.alice, method, url, payload)
    assert allowed.status_code == allowed_status, (allowed.status_code, allowed.content[:300])


def test_anonymous_callers_are_refused_with_401() -> None:
    response = Client().get(API + "experiments/search")
    assert response.status_code == 401
    assert orjson.loads(response.content)["error_code"] == "UNAUTHENTICATED"


def test_creator_gets_manage_through_the_api_and_the_page() -> None:
    alice = Caller(_user("alice"))
    by_api = _experiment(alice, "by-api")
    assert permissions.level(alice.user, "experiment", int(by_api)) == MANAGE
    assert alice.client.post("/experiments/create/", {"name": "by-page"}).status_code == 302
    by_page = experiment_store.get_experiment_by_name("by-page").pk
    assert permissions.level(alice.user, "experiment", by_page) == MANAGE
    alice.ok("POST", API + "experiments/delete", {"experiment_id": by_api})


def _search_all(caller: Caller, endpoint: str, key: str, payload: dict, method: str = "POST") -> list[list[str]]:
    """Every page of a search, as lists of ids."""
    pages, token = [], None
    while True:
        body = caller.ok(method, API + endpoint, {**payload, **({"page_token": token} if token else {})})
        items = body.get(key, [])
        pages.append([item["experiment_id"] if key == "experiments" else _item_id(item) for item in items])
        token = body.get("next_page_token")
        if not token:
            return pages


def _item_id(item: dict) -> str:
    return item["info"].get("run_id") or item["info"].get("model_id")


def test_search_experiments_lists_only_readable_ones_across_pages(settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    ids = [_experiment(owner, f"e{i}") for i in range(6)]
    for experiment_id in ids[1::2]:
        permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice.user, level=READ)
    pages = _search_all(alice, "experiments/search", "experiments", {"max_results": 2})
    assert [len(p) for p in pages] == [2, 1]
    assert sorted(i for p in pages for i in p) == sorted(ids[1::2])
    # Hidden by default, also to a direct read.
    assert alice.call("GET", API + "experiments/get", {"experiment_id": ids[0]}).status_code == 403


def test_default_read_shows_everything_but_a_no_permissions_row() -> None:
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    shown, hidden = _experiment(owner, "shown"), _experiment(owner, "hidden")
    permissions.set_permission(kind="experiment", object_id=int(hidden), user=alice.user, level=NO_PERMISSIONS)
    listed = {e["experiment_id"] for e in alice.ok("GET", API + "experiments/search").get("experiments", [])}
    assert shown in listed
    assert hidden not in listed


def test_search_runs_and_logged_models_leave_out_unreadable_experiments(settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    mine, theirs = _experiment(owner, "mine"), _experiment(owner, "theirs")
    permissions.set_permission(kind="experiment", object_id=int(mine), user=alice.user, level=READ)
    readable = {_run(owner, mine) for _ in range(3)}
    for _ in range(3):
        _run(owner, theirs)
    for experiment_id in (mine, theirs):
        owner.ok("POST", API + "logged-models", {"experiment_id": experiment_id})
    pages = _search_all(alice, "runs/search", "runs", {"experiment_ids": [theirs, mine], "max_results": 2})
    assert [len(p) for p in pages] == [2, 1]
    assert {i for p in pages for i in p} == readable
    models = alice.ok("POST", API + "logged-models/search", {"experiment_ids": [mine, theirs]})["models"]
    assert [m["info"]["experiment_id"] for m in models] == [mine]
    assert alice.ok("POST", API + "runs/search", {"experiment_ids": [theirs]}) == {}


def test_a_users_no_permissions_row_overrides_a_groups_read(settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    owner, alice, bob = Caller(_user("owner")), Caller(_user("alice")), Caller(_user("bob"))
    experiment_id = _experiment(owner, "team")
    team = Group.objects.create(name="team")
    team.user_set.add(alice.user, bob.user)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), group=team, level=READ)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=alice.user, level=NO_PERMISSIONS)
    assert alice.call("GET", API + "experiments/get", {"experiment_id": experiment_id}).status_code == 403
    assert bob.call("GET", API + "experiments/get", {"experiment_id": experiment_id}).status_code == 200
    assert "experiments" not in alice.ok("GET", API + "experiments/search")
    assert [e["experiment_id"] for e in bob.ok("GET", API + "experiments/search")["experiments"]] == [experiment_id]


def test_a_groups_edit_lets_a_member_log() -> None:
    owner, alice, carol = Caller(_user("owner")), Caller(_user("alice")), Caller(_user("carol"))
    experiment_id = _experiment(owner, "team")
    run_id = _run(owner, experiment_id)
    team = Group.objects.create(name="team")
    team.user_set.add(alice.user)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), group=team, level=EDIT)
    metric = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1}
    alice.ok("POST", API + "runs/log-metric", metric)
    assert carol.call("POST", API + "runs/log-metric", metric).status_code == 403


def test_logging_a_metric_to_another_experiments_logged_model_needs_edit_there(settings: Any) -> None:
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    mine, theirs = _experiment(alice, "mine"), _experiment(owner, "theirs")
    run_id = _run(alice, mine)
    model_id = owner.ok("POST", API + "logged-models", {"experiment_id": theirs})["model"]["info"]["model_id"]
    metric = {"run_id": run_id, "key": "m", "value": 1.0, "timestamp": 1, "model_id": model_id}
    assert alice.call("POST", API + "runs/log-metric", metric).status_code == 403
    batch = {"run_id": run_id, "metrics": [{"key": "m", "value": 1.0, "timestamp": 1, "model_id": model_id}]}
    assert alice.call("POST", API + "runs/log-batch", batch).status_code == 403
    outputs = {"run_id": run_id, "models": [{"model_id": model_id}]}
    assert alice.call("POST", API + "runs/outputs", outputs).status_code == 403


# --- the artifact proxy's paths ---------------------------------------------------------------------------------------


@pytest.fixture
def two_experiments(settings: Any) -> tuple[Caller, str, str]:
    """Alice may write experiment ``a`` and has NO_PERMISSIONS on experiment ``b``."""
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    a, b = _experiment(alice, "a"), _experiment(owner, "b")
    permissions.set_permission(kind="experiment", object_id=int(b), user=alice.user, level=NO_PERMISSIONS)
    return alice, a, b


def _files_under(folder: str) -> list[Path]:
    root = Path(django_settings.STUDIO_ARTIFACT_ROOT) / folder
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize(
    "path",
    [
        "{b}/x.txt",
        "{a}/../{b}/x.txt",
        "{a}/%2e%2e/{b}/x.txt",
        "{a}/%252e%252e/{b}/x.txt",
        "{a}%2F..%2F{b}/x.txt",
        "./{a}/../{b}/x.txt",
        "/{b}/x.txt",
        "%2F{b}/x.txt",
        "0{b}/x.txt",
        "{b}%2Fx.txt",
        "{a}/..%5C{b}/x.txt",
        "x.txt",
        "unknown-root/x.txt",
    ],
)
def test_proxy_writes_never_reach_an_experiment_the_user_cannot_write(
    two_experiments: tuple[Caller, str, str], path: str
) -> None:
    alice, a, b = two_experiments
    url = f"{ARTIFACTS}artifacts/{path.format(a=a, b=b)}"
    response = alice.call("PUT", url, body=b"evil")
    assert response.status_code in (400, 403), (url, response.status_code, response.content)
    assert not _files_under(b)
    assert not _files_under(a)
    assert not [p for p in Path(django_settings.STUDIO_ARTIFACT_ROOT).rglob("*") if p.is_file()]
    for method in ("GET", "DELETE"):
        assert alice.call(method, url).status_code in (400, 403, 404)
    mpu = alice.call("POST", url.replace("/artifacts/", "/mpu/create/", 1), {"path": "big.bin"})
    assert mpu.status_code in (400, 403), mpu.content


def test_proxy_lists_only_readable_folders(two_experiments: tuple[Caller, str, str]) -> None:
    alice, a, b = two_experiments
    assert alice.call("PUT", f"{ARTIFACTS}artifacts/{a}/r/artifacts/f.txt", body=b"ok").status_code == 200
    listing = alice.call("GET", ARTIFACTS + "artifacts", {"path": f"{a}/r/artifacts"})
    assert listing.status_code == 200
    for path in (b, f"{a}/../{b}", f"{a}/%2e%2e/{b}", "", "/", f"0{b}"):
        assert alice.call("GET", ARTIFACTS + "artifacts", {"path": path}).status_code in (400, 403), path


def test_paths_outside_every_experiment_are_for_staff_only() -> None:
    staff, alice = Caller(_user("staff", is_staff=True)), Caller(_user("alice"))
    assert alice.call("PUT", f"{ARTIFACTS}artifacts/loose/x.txt", body=b"x").status_code == 403
    assert staff.call("PUT", f"{ARTIFACTS}artifacts/loose/x.txt", body=b"x").status_code == 200
    assert staff.call("GET", ARTIFACTS + "artifacts", {"path": ""}).status_code == 200


def test_registered_roots_are_judged_on_their_own_objects() -> None:
    access.register_artifact_root(
        "Things", "registered_model", lambda parts: access.canonical_id(parts[1]) if len(parts) > 1 else None
    )
    try:
        assert access.artifact_owner("things/12/x") == ("registered_model", 12)
        assert access.artifact_owner("THINGS/12/x") == ("registered_model", 12)
        assert access.artifact_owner("things/012/x") is None
        assert access.artifact_owner("things") is None
        assert access.artifact_owner("things%2F12/x") is None
    finally:
        access._ROOTS.pop("things")


def test_artifact_owner_needs_an_existing_experiment_spelled_as_the_store_spells_it() -> None:
    experiment_id = experiment_store.create_experiment(name="e")
    assert access.artifact_owner(f"{experiment_id}/r/artifacts") == ("experiment", experiment_id)
    assert access.artifact_owner(f"./{experiment_id}//r") == ("experiment", experiment_id)
    for path in (f"0{experiment_id}/r", f"+{experiment_id}/r", "\u0661/r", "999999/r", "99999999999999999999/r"):
        assert access.artifact_owner(path) is None, path


# --- pages ------------------------------------------------------------------------------------------------------------


def test_experiment_list_page_and_table_show_only_readable_experiments(settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    visible = _experiment(owner, "visible-experiment")
    _experiment(owner, "secret-experiment")
    permissions.set_permission(kind="experiment", object_id=int(visible), user=alice.user, level=READ)
    for url in ("/experiments/", "/experiments/table/", "/experiments/?q=experiment"):
        html = alice.client.get(url).content.decode()
        assert "visible-experiment" in html, url
        assert "secret-experiment" not in html, url
    owner_html = owner.client.get("/experiments/").content.decode()
    assert "secret-experiment" in owner_html


def test_forbidden_page_is_a_403_page_and_anonymous_pages_go_to_sign_in(settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    experiment_id = _experiment(owner, "secret")
    response = alice.client.get(f"/experiments/{experiment_id}/")
    assert response.status_code == 403
    assert "secret" not in response.content.decode()
    anonymous = Client().get(f"/experiments/{experiment_id}/")
    assert anonymous.status_code == 302
    assert "next=" in anonymous["Location"]


def test_compare_needs_read_on_every_run(settings: Any) -> None:
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    mine, theirs = _experiment(alice, "mine"), _experiment(owner, "theirs")
    permissions.set_permission(kind="experiment", object_id=int(theirs), user=alice.user, level=NO_PERMISSIONS)
    runs = f"{_run(alice, mine)},{_run(owner, theirs)}"
    assert alice.client.get(f"/compare/?runs={runs}").status_code == 403
    assert owner.client.get(f"/compare/?runs={runs}").status_code == 200


def test_storage_pages_are_for_staff() -> None:
    staff, alice = Caller(_user("staff", is_staff=True)), Caller(_user("alice"))
    assert alice.client.get("/storage/").status_code == 403
    assert alice.client.post("/storage/refresh/").status_code == 403
    assert staff.client.get("/storage/").status_code == 200


def test_run_page_hides_a_parent_in_an_unreadable_experiment() -> None:
    owner, alice = Caller(_user("owner")), Caller(_user("alice"))
    mine, theirs = _experiment(alice, "mine"), _experiment(owner, "theirs")
    parent = owner.ok("POST", API + "runs/create", {"experiment_id": theirs, "run_name": "hidden-parent"})
    parent_id = parent["run"]["info"]["run_id"]
    permissions.set_permission(kind="experiment", object_id=int(theirs), user=alice.user, level=NO_PERMISSIONS)
    child = _run(alice, mine)
    alice.ok("POST", API + "runs/set-tag", {"run_id": child, "key": "mlflow.parentRunId", "value": parent_id})
    assert "hidden-parent" not in alice.client.get(f"/runs/{child}/").content.decode()
    assert "hidden-parent" in owner.client.get(f"/runs/{child}/").content.decode()


def test_purging_an_experiment_forgets_its_permissions() -> None:
    alice = _user("alice")
    experiment_id = experiment_store.create_experiment(name="doomed", owner=alice)
    assert Permission.objects.filter(kind="experiment", object_id=experiment_id).exists()
    experiment_store.delete_experiment(experiment_id=str(experiment_id))
    assert purge.purge_experiment_rows(str(experiment_id))
    assert not Permission.objects.filter(kind="experiment", object_id=experiment_id).exists()
