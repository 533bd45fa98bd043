"""Fuzz the REST API from its OpenAPI description with schemathesis: no request may answer a 5xx.

Each operation gets ``STUDIO_FUZZ_EXAMPLES`` (25) generated requests, valid and invalid ones, sent in-process to
Django's WSGI handler on the test database, in which an experiment, a run, a registered model and a version exist
(their ids are the examples of the fields that name them, so requests reach real objects and not only 404s).
Once with ``STUDIO_AUTH`` off; once on (``STUDIO_FUZZ_AUTH_EXAMPLES``, 8) with a plain user's token, so that the access
rules, which read the same fields before the view does, get the same inputs.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client, override_settings
from schemathesis.checks import not_a_server_error

from studio.auth.tokens import create_token
from studio.openapi import build_document
from tests.conftest import ApiClient

EXAMPLES = int(os.environ.get("STUDIO_FUZZ_EXAMPLES", "25"))
AUTH_EXAMPLES = int(os.environ.get("STUDIO_FUZZ_AUTH_EXAMPLES", "8"))
DOCUMENT_URL = "/api/2.0/studio/openapi.json"
PROXY = "/api/2.0/mlflow-artifacts/artifacts/"

# Operations that answer a 5xx on purpose, or are left out for time; each says why.
SKIPPED: dict[str, str] = {
    # Scoring forwards the body to a model server: with no deployment running it answers 503 (as it should).
    "POST /api/2.0/studio/endpoints/{name}/invocations": "scoring needs a running model server",
}


def _seed() -> dict[str, Any]:
    """An experiment, a run, a registered model and a version; the values of the fields that name them."""
    api = ApiClient()
    experiment_id = api.post("experiments/create", {"name": "fuzz"})["experiment_id"]
    run = api.post("runs/create", {"experiment_id": experiment_id, "run_name": "fuzz-run"})["run"]["info"]
    model = api.post("logged-models", {"experiment_id": experiment_id, "name": "m", "source_run_id": run["run_id"]})
    model = model["model"]["info"]
    root = model["artifact_uri"].removeprefix("mlflow-artifacts:/")
    response = Client().put(f"{PROXY}{root}/MLmodel", b"flavors: {}\n", content_type="application/octet-stream")
    assert response.status_code == 200, response.content
    api.call("PATCH", f"logged-models/{model['model_id']}", {"status": "LOGGED_MODEL_READY"})
    api.post("registered-models/create", {"name": "fuzz-model"})
    payload = {"name": "fuzz-model", "source": f"models:/{model['model_id']}", "model_id": model["model_id"]}
    api.post("model-versions/create", payload)
    return {
        "model_id": model["model_id"],
        "experiment_id": experiment_id,
        "experiment_ids": [experiment_id],
        "run_id": run["run_id"],
        "run_uuid": run["run_id"],
        "run_ids": [run["run_id"]],
        "name": "fuzz-model",
        "version": "1",
        "key": "loss",
        "metric_key": "loss",
    }


def _aimed(case: Any, seeds: dict[str, Any]) -> None:
    """Point about half the generated ids at the seeded objects (by a hash of the generated value, so the same
    requests are sent on every run): without them nearly every request would end in RESOURCE_DOES_NOT_EXIST."""
    body = case.body if isinstance(case.body, dict) else None
    for fields in (case.query, body, case.path_parameters):
        for name in (fields or {}).keys() & seeds.keys():
            if zlib.crc32(repr(fields[name]).encode()) % 2 == 0:
                fields[name] = seeds[name]


# Loaded at import: schemathesis makes one test per operation from it. The document is the one Studio serves
# (tests/studio/test_openapi.py checks that it is served and valid).
schema = schemathesis.openapi.from_dict(build_document())
schema.app = WSGIHandler()
schema.location = DOCUMENT_URL

FUZZ_SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # every run starts fresh: no examples replayed from .hypothesis/
    derandomize=True,  # the same requests on every run, so CI cannot flake on a lucky draw
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


# With auth on, fewer examples: what is new there is the access rules' reading of the same fields.
AUTH_FUZZ_SETTINGS = hypothesis.settings(FUZZ_SETTINGS, max_examples=AUTH_EXAMPLES)


def _label(case: Any) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def _check(case: Any, seeds: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    label = _label(case)
    if label in SKIPPED:
        pytest.skip(SKIPPED[label])
    _aimed(case, seeds)
    case.call_and_validate(headers=headers, checks=[not_a_server_error])


@pytest.fixture(scope="module")
def module_seeds(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """Seeded once for the module in a transaction rolled back at its end (each test's own transaction nests in
    it as a savepoint): seeding for each of the ~100 operations would cost more than fuzzing them."""
    root = tmp_path_factory.mktemp("fuzz-artifacts")
    with django_db_blocker.unblock(), override_settings(STUDIO_ARTIFACT_ROOT=str(root)):
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _seed()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def seeds(module_seeds: dict[str, Any], db: None, settings: Any) -> Iterator[dict[str, Any]]:
    settings.STUDIO_MULTIPART_UPLOADS = True  # off, mpu/create answers 501 NOT_IMPLEMENTED, as MLflow does
    # As Django's test client does (and undoes after each of its requests): a request must not close the
    # connection that holds the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield module_seeds
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_server_errors(case: Any, seeds: dict[str, Any]) -> None:
    _check(case, seeds)


@pytest.fixture
def user_token(seeds: dict[str, Any], django_user_model: Any, settings: Any) -> str:
    """A plain user's token (the default READ on the seeds, EDIT on one experiment through a group), so that every
    locator and permission check runs on the generated input, not a superuser's shortcut."""
    from django.contrib.auth.models import Group

    from studio.auth import permissions

    settings.STUDIO_AUTH = True  # after the seeds were created without credentials
    user = django_user_model.objects.create_user("fuzz-user")  # no password: no slow hashing per test
    group = Group.objects.create(name="fuzzers")
    user.groups.add(group)
    experiment_id = int(seeds["experiment_id"])
    permissions.set_permission(kind="experiment", object_id=experiment_id, group=group, level=permissions.EDIT)
    return create_token(user=user, name="fuzz")[1]


@schema.parametrize()
@AUTH_FUZZ_SETTINGS
def test_no_server_errors_with_auth_on(case: Any, seeds: dict[str, Any], user_token: str) -> None:
    _check(case, seeds, {"Authorization": f"Bearer {user_token}"})
