"""Shared fixtures: an API client speaking MLflow's JSON, and the real ``mlflow`` client against a live Studio."""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import orjson
import pytest
from django.test import Client
from mlflow.tracking import MlflowClient


@pytest.fixture(autouse=True, scope="session")
def _short_lived_connections() -> None:
    """The live server's request threads must not keep connections past a test, or the test database cannot be
    dropped at the end of the session (PostgreSQL refuses while other sessions are connected)."""
    from django.db import connections

    connections.settings["default"]["CONN_MAX_AGE"] = 0


_namespaces = itertools.count()


@pytest.fixture(autouse=True)
def _own_cache_namespace(settings: Any) -> None:
    """Each test keeps its cache entries (sign-in failure counts) under a prefix of its own: test processes share the
    cache (files in the data dir, or Redis), and clearing it would wipe another process's state (on Redis, the
    Celery broker's too)."""
    prefix = f"test-{os.getpid()}-{next(_namespaces)}"
    settings.CACHES = {alias: {**config, "KEY_PREFIX": prefix} for alias, config in settings.CACHES.items()}


@pytest.fixture(autouse=True)
def _artifact_root(settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Each test writes artifacts into a directory of its own."""
    settings.STUDIO_ARTIFACT_ROOT = str(tmp_path_factory.mktemp("artifacts"))


def _dumps(payload: dict) -> bytes:
    """orjson, or the stdlib for payloads with integers beyond 64 bits (tests of out-of-range values)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload).encode()


class ApiClient:
    """Django's test client with MLflow's conventions: JSON bodies, query strings for GET, parsed replies."""

    def __init__(self, prefix: str = "/api/2.0/mlflow/") -> None:
        self.client = Client()
        self.prefix = prefix

    def call(self, method: str, endpoint: str, payload: dict | None = None, status: int | None = 200) -> dict:
        """One request; ``status=None`` accepts any status (a create that may find the thing existing)."""
        url = self.prefix + endpoint
        if method == "GET":
            response = self.client.get(url, payload or {})
        else:
            response = getattr(self.client, method.lower())(url, _dumps(payload or {}), content_type="application/json")
        assert status is None or response.status_code == status, (response.status_code, response.content[:500])
        return orjson.loads(response.content) if response.content else {}

    def get(self, endpoint: str, payload: dict | None = None, status: int = 200) -> dict:
        return self.call("GET", endpoint, payload, status)

    def post(self, endpoint: str, payload: dict | None = None, status: int = 200) -> dict:
        return self.call("POST", endpoint, payload, status)

    def error(self, method: str, endpoint: str, payload: dict | None, status: int, error_code: str) -> str:
        """Assert MLflow's error envelope and return the message."""
        body = self.call(method, endpoint, payload, status)
        assert body["error_code"] == error_code, body
        return body["message"]


@pytest.fixture
def api(db: None) -> ApiClient:
    return ApiClient()


@pytest.fixture
def experiment_id(api: ApiClient) -> str:
    return api.post("experiments/create", {"name": "exp"})["experiment_id"]


@pytest.fixture
def run_id(api: ApiClient, experiment_id: str) -> str:
    return api.post("runs/create", {"experiment_id": experiment_id, "run_name": "r"})["run"]["info"]["run_id"]


@pytest.fixture
def tracking_uri(live_server: Any) -> Iterator[str]:
    """A live Studio (Django's threaded live server on the test database) as the ``mlflow`` tracking URI."""
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    # Fail fast: the client's default is 7 retries with exponential backoff.
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    mlflow.set_tracking_uri(live_server.url)
    yield live_server.url
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(previous or "")
    mlflow.set_experiment  # noqa: B018 - keep the module imported; experiment state is per tracking URI
    os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES", None)


@pytest.fixture
def mlflow_client(tracking_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri)


# --- browser tests ---------------------------------------------------------------------------------------------------
# Debian's chromium (``make test`` installs it), driven by Playwright; screenshots go under the test output.
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("STUDIO_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))
SCREENSHOTS = SCREENSHOTS / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_server: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser tab on the live Studio at 1280 px; a script error on any page fails the test.

    The content security policy is bypassed (Playwright's polling predicates are evaluated strings, which the policy
    forbids, and an XSS test must show escaping, not the policy, at work) except in tests marked ``csp``."""
    viewport = {"width": 1280, "height": 900}
    context = browser.new_context(
        base_url=live_server.url,
        viewport=viewport,
        accept_downloads=True,
        bypass_csp=request.node.get_closest_marker("csp") is None,
    )
    context.set_default_timeout(15_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert not errors, f"script errors: {errors}"


@pytest.fixture
def screenshot(page: Any, request: pytest.FixtureRequest) -> Callable[[str], Path]:
    """``screenshot("label")`` saves the whole page as test-output/screenshots/<test>-<label>.png."""

    def save(label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "-", f"{request.node.name}-{label}").strip("-")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
