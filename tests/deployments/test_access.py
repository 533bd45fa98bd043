"""Who may do what with endpoints and deployments with ``STUDIO_AUTH`` on: a deployment follows the registered model
it serves, an endpoint every model its deployments serve; lists show the endpoints whose models the caller may read;
the scoring gateway answers to the endpoint's keys, not to Studio's users.

No scoring server starts here: the services write rows and enqueue their tasks on commit, and these tests run in a
transaction that never commits, so no task runs (the deployments stay as the test sets them)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from deployments import services
from deployments.models import Deployment, DeploymentStatus, Endpoint
from registry.models import RegisteredModel
from studio.auth import permissions
from studio.auth.permissions import EDIT, NO_PERMISSIONS, READ, Level
from tests.registry.conftest import logged_model, register  # noqa: F401 - fixtures
from tests.registry.test_access import TokenClient

API = "/api/2.0/studio/"


@pytest.fixture
def served(register: Callable[..., dict]) -> dict[str, Any]:  # noqa: F811
    """Endpoint ``prod`` with deployment ``blue`` serving ``m`` v1 (healthy), and endpoint ``empty`` with none."""
    register("m")
    keys = services.create_endpoint(name="prod")
    services.create_endpoint(name="empty")
    services.create_deployment(endpoint="prod", name="blue", model_name="m", version=1, runtime="local")
    Deployment.objects.filter(name="blue").update(status=DeploymentStatus.HEALTHY)
    return {"model": RegisteredModel.objects.get(name="m"), "key": keys.primary_key}


@pytest.fixture
def alice(db: None, settings: Any) -> User:
    settings.STUDIO_AUTH = True
    return User.objects.create_user("alice")


def grant(user: User, model: RegisteredModel, level: Level) -> None:
    permissions.set_permission(kind="registered_model", object_id=model.pk, user=user, level=level)


# (method, path, payload, level needed on the served model, the deployment's status first)
TABLE = [
    ("GET", "endpoints/get", {"name": "prod"}, READ, None),
    ("POST", "endpoints/update", {"name": "prod", "description": "d"}, EDIT, None),
    ("POST", "endpoints/update", {"name": "prod", "traffic": {"blue": 100}}, EDIT, None),
    ("POST", "endpoints/regenerate-key", {"name": "prod", "key": "secondary"}, EDIT, None),
    ("POST", "endpoints/delete", {"name": "prod"}, EDIT, None),
    ("GET", "deployments/get", {"endpoint": "prod", "name": "blue"}, READ, None),
    ("GET", "deployments/list", {"endpoint": "prod"}, READ, None),
    ("GET", "deployments/events", {"endpoint": "prod", "name": "blue"}, READ, None),
    ("GET", "deployments/logs", {"endpoint": "prod", "name": "blue"}, READ, None),
    (
        "POST",
        "deployments/create",
        {"endpoint": "prod", "name": "green", "model_name": "m", "version": "1"},
        EDIT,
        None,
    ),
    ("POST", "deployments/update", {"endpoint": "prod", "name": "blue", "instances": 2}, EDIT, None),
    ("POST", "deployments/stop", {"endpoint": "prod", "name": "blue"}, EDIT, None),
    ("POST", "deployments/start", {"endpoint": "prod", "name": "blue"}, EDIT, DeploymentStatus.STOPPED),
    ("POST", "deployments/delete", {"endpoint": "prod", "name": "blue"}, EDIT, None),
]


@pytest.mark.parametrize(
    ("method", "path", "payload", "needed", "status"), TABLE, ids=[f"{r[0]} {r[1]} {sorted(r[2])}" for r in TABLE]
)
def test_api_needs_its_level_on_the_served_model(
    served: dict, alice: User, method: str, path: str, payload: dict, needed: Level, status: str | None
) -> None:
    if status:
        Deployment.objects.filter(name="blue").update(status=status)
    client = TokenClient(alice)
    grant(alice, served["model"], Level(needed - 1))
    code, body = client.call(method, API + path, payload)
    assert (code, body.get("error_code")) == (403, "PERMISSION_DENIED"), body
    grant(alice, served["model"], needed)
    code, body = client.call(method, API + path, payload)
    assert code == 200, body


def test_scoring_through_the_api_needs_read_on_every_served_model(
    served: dict,
    alice: User,
    register: Callable[..., dict],  # noqa: F811
    settings: Any,
) -> None:
    settings.STUDIO_AUTH = False
    register("other")
    services.create_deployment(endpoint="prod", name="green", model_name="other", version=1, runtime="local")
    settings.STUDIO_AUTH = True
    other = RegisteredModel.objects.get(name="other")
    grant(alice, other, NO_PERMISSIONS)
    client = TokenClient(alice).client
    url = f"{API}endpoints/prod/invocations?deployment=blue"
    response = client.post(url, b"{}", content_type="application/json")
    assert (response.status_code, response.json()["error_code"]) == (403, "PERMISSION_DENIED")
    grant(alice, other, READ)
    response = client.post(url, b"{}", content_type="application/json")
    assert response.status_code != 403  # no scoring server runs: the gateway's own answer (503)
    assert response.json().get("error_code") != "PERMISSION_DENIED"


def test_deploying_into_an_endpoint_needs_edit_on_what_it_serves(
    served: dict,
    alice: User,
    register: Callable[..., dict],  # noqa: F811
    settings: Any,
) -> None:
    settings.STUDIO_AUTH = False
    register("mine")
    settings.STUDIO_AUTH = True
    grant(alice, RegisteredModel.objects.get(name="mine"), EDIT)  # her model; "m" in prod she only reads
    client = TokenClient(alice)
    payload = {"endpoint": "prod", "name": "green", "model_name": "mine", "version": "1", "traffic_weight": 100}
    code, body = client.call("POST", API + "deployments/create", payload)
    assert (code, body["error_code"]) == (403, "PERMISSION_DENIED")
    code, body = client.call("POST", API + "deployments/create", {**payload, "endpoint": "empty"})
    assert code == 200, body
    # Nor may she switch the deployment of "m" to her model.
    update = {"endpoint": "prod", "name": "blue", "model_name": "mine", "version": "1"}
    assert client.call("POST", API + "deployments/update", update)[0] == 403
    assert Deployment.objects.get(endpoint__name="prod", name="blue").model_name == "m"


def test_a_group_edit_lets_a_member_stop_a_deployment(served: dict, alice: User) -> None:
    team = Group.objects.create(name="ops")
    alice.groups.add(team)
    client = TokenClient(alice)
    stop = {"endpoint": "prod", "name": "blue"}
    assert client.call("POST", API + "deployments/stop", stop)[0] == 403  # the default is READ
    permissions.set_permission(kind="registered_model", object_id=served["model"].pk, group=team, level=EDIT)
    assert client.call("POST", API + "deployments/stop", stop)[0] == 200


def test_an_endpoint_without_deployments_is_anyones_who_is_signed_in(served: dict, alice: User) -> None:
    client = TokenClient(alice)
    assert client.call("POST", API + "endpoints/update", {"name": "empty", "description": "mine"})[0] == 200
    assert client.call("POST", API + "endpoints/regenerate-key", {"name": "empty", "key": "primary"})[0] == 200
    code, body = TokenClient(None).call("POST", API + "endpoints/update", {"name": "empty", "description": "x"})
    assert (code, body["error_code"]) == (401, "UNAUTHENTICATED")


def test_signed_in_users_create_endpoints_and_list_runtimes(alice: User) -> None:
    client = TokenClient(alice)
    assert client.call("POST", API + "endpoints/create", {"name": "new-one"})[0] == 200
    assert client.call("GET", API + "deployments/runtimes")[0] == 200
    anonymous = TokenClient(None)
    assert anonymous.call("POST", API + "endpoints/create", {"name": "other-one"})[0] == 401
    assert anonymous.call("GET", API + "deployments/runtimes")[0] == 401
    assert list(Endpoint.objects.values_list("name", flat=True)) == ["new-one"]


def test_lists_show_only_endpoints_whose_models_are_readable(served: dict, alice: User) -> None:
    client = TokenClient(alice)
    _, body = client.call("GET", API + "endpoints/list")
    assert sorted(e["name"] for e in body["endpoints"]) == ["empty", "prod"]
    grant(alice, served["model"], NO_PERMISSIONS)
    _, body = client.call("GET", API + "endpoints/list")
    assert [e["name"] for e in body["endpoints"]] == ["empty"]  # an endpoint with no deployment hides nothing
    _, body = client.call("GET", API + "deployments/list")
    assert body["deployments"] == []
    code, body = client.call("GET", API + "endpoints/get", {"name": "prod"})
    assert (code, body["error_code"]) == (403, "PERMISSION_DENIED")


def _listed(response: Any) -> list[str]:
    """The endpoints the list page renders (as JSON, for its script)."""
    return [e["name"] for e in json.loads(re.search(rb'id="endpoints-data"[^>]*>(.*?)</script>', response.content,
                                                  re.S)[1])]  # fmt: skip


def test_pages_list_and_show_only_readable_endpoints(served: dict, alice: User) -> None:
    browser = Client()
    browser.force_login(alice)
    assert sorted(_listed(browser.get("/deployments/"))) == ["empty", "prod"]
    assert browser.get("/deployments/prod/").status_code == 200
    grant(alice, served["model"], NO_PERMISSIONS)
    listing = browser.get("/deployments/")
    assert listing.status_code == 200
    assert _listed(listing) == ["empty"]
    assert browser.get("/deployments/prod/").status_code == 403
    assert browser.get("/deployments/empty/").status_code == 200
    assert Client().get("/deployments/").status_code == 302  # anonymous: to the sign-in page


# Transactional: the gateway writes its request log from a thread of its own, which needs a committed database.
@pytest.mark.django_db(transaction=True)
def test_the_gateway_answers_to_the_endpoint_key_while_auth_is_on(served: dict, alice: User) -> None:
    url = "/endpoints/prod/invocations"
    with_key = Client(headers={"Authorization": f"Bearer {served['key']}"})
    response = with_key.post(url, b'{"inputs": [1]}', content_type="application/json")
    assert response.status_code != 401, response.content  # no scoring server runs: 503, past the key check
    assert response.status_code == 503
    wrong = Client(headers={"Authorization": "Bearer sk-not-the-key"})
    response = wrong.post(url, b"{}", content_type="application/json")
    assert response.status_code == 401
    assert "not a key of endpoint 'prod'" in response.json()["message"]
    response = Client().post(url, b"{}", content_type="application/json")  # no key, no session: the gateway's 401
    assert response.status_code == 401
    assert "needs a key" in response.json()["message"]
