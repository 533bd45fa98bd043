"""Studio's own views with ``STUDIO_AUTH`` on: the trash and purge jobs are for staff (page and REST API), the probes
and ``server-info`` answer anyone, and the start page wants a signed-in user."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from studio.models import PurgeJob
from tests.conftest import ApiClient
from tests.registry.test_access import TokenClient

API = "/api/2.0/studio/"
STAFF_API = [
    ("GET", "trash/list", {}),
    ("GET", "trash/list", {"kind": "experiment"}),
    ("POST", "trash/restore", {"kind": "experiment", "id": "12345"}),
    ("POST", "trash/plan", {"older_than_days": 0}),
    ("POST", "purge-jobs/create", {"items": [{"kind": "experiment", "id": "12345"}]}),
    ("GET", "purge-jobs/list", {}),
    ("GET", "purge-jobs/get", {"job_id": "1"}),
]


@pytest.fixture
def users(db: None, settings: Any) -> dict[str, User]:
    settings.STUDIO_AUTH = True
    return {
        "user": User.objects.create_user("user"),
        "staff": User.objects.create_user("staff", is_staff=True),
    }


@pytest.mark.parametrize(("method", "path", "payload"), STAFF_API, ids=[f"{m} {p}" for m, p, _ in STAFF_API])
def test_trash_api_is_for_staff(users: dict[str, User], method: str, path: str, payload: dict) -> None:
    status, body = TokenClient(users["user"]).call(method, API + path, payload)
    assert (status, body["error_code"]) == (403, "PERMISSION_DENIED")
    assert TokenClient(None).call(method, API + path, payload)[0] == 401
    status, body = TokenClient(users["staff"]).call(method, API + path, payload)
    assert body.get("error_code") != "PERMISSION_DENIED"
    assert status in (200, 400, 404), body  # the view's own answer (an unknown id is its 404)


def test_staff_lists_and_purges_the_trash(users: dict[str, User], settings: Any) -> None:
    settings.STUDIO_AUTH = False
    api = ApiClient()
    api.post("experiments/delete", {"experiment_id": api.post("experiments/create", {"name": "old"})["experiment_id"]})
    settings.STUDIO_AUTH = True
    staff = TokenClient(users["staff"])
    status, body = staff.call("GET", API + "trash/list")
    assert status == 200
    assert body["counts"]["experiment"] == 1
    status, body = staff.call("POST", API + "purge-jobs/create", {"older_than_days": 0})
    assert status == 200
    assert PurgeJob.objects.filter(pk=int(body["job"]["job_id"])).exists()


def test_trash_page_is_for_staff(users: dict[str, User]) -> None:
    browser = Client()
    assert browser.get("/trash/").status_code == 302  # anonymous: to the sign-in page
    browser.force_login(users["user"])
    response = browser.get("/trash/")
    assert response.status_code == 403
    assert b"staff" in response.content
    browser.force_login(users["staff"])
    assert browser.get("/trash/").status_code == 200


def test_probes_answer_anyone_and_home_wants_a_user(users: dict[str, User]) -> None:
    anonymous = Client()
    assert anonymous.get("/health").content == b"OK"
    assert anonymous.get("/version").status_code == 200
    info = anonymous.get("/api/3.0/mlflow/server-info")
    assert (info.status_code, orjson.loads(info.content)["tracking_auth"]) == (200, "basic")
    assert anonymous.get("/ajax-api/3.0/mlflow/server-info").status_code == 200
    home = anonymous.get("/")
    assert (home.status_code, home["Location"].split("?")[0]) == (302, "/signin/")
    browser = Client()
    browser.force_login(users["user"])
    home = browser.get("/")
    assert (home.status_code, home["Location"]) == (302, "/experiments/")
