"""Permissions with the real ``mlflow`` client against a live Studio (``STUDIO_AUTH`` on, tokens in
``MLFLOW_TRACKING_TOKEN``): READ cannot log, search shows only what the caller may read, a group's EDIT lets a member
log, and the creator of an experiment may do everything with it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pytest
from django.contrib.auth.models import Group, User
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from studio.auth import permissions, tokens
from studio.auth.permissions import EDIT, READ

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _auth_on(settings: Any) -> Iterator[None]:
    settings.STUDIO_AUTH = True
    settings.STUDIO_DEFAULT_PERMISSION = "READ"
    previous = os.environ.get("MLFLOW_TRACKING_TOKEN")
    yield
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    else:
        os.environ["MLFLOW_TRACKING_TOKEN"] = previous


def _token(name: str) -> tuple[User, str]:
    user = User.objects.create_user(name)
    return user, tokens.create_token(user=user, name="client")[1]


@contextmanager
def _as(secret: str) -> Iterator[None]:
    """Requests made inside carry this token, as ``export MLFLOW_TRACKING_TOKEN=...`` would make them."""
    os.environ["MLFLOW_TRACKING_TOKEN"] = secret
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)


def _denied(excinfo: pytest.ExceptionInfo[MlflowException]) -> None:
    assert excinfo.value.error_code == "PERMISSION_DENIED", excinfo.value


def test_the_creator_does_everything_and_a_reader_cannot_log(tracking_uri: str, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri)
    _, owner = _token("owner")
    reader, reader_token = _token("reader")
    with _as(owner):
        experiment_id = client.create_experiment("owned")
        run = client.create_run(experiment_id)
        client.log_metric(run.info.run_id, "loss", 0.5)
        client.log_text(run.info.run_id, "hello", "notes/hello.txt")
        client.rename_experiment(experiment_id, "owned-renamed")
        client.set_experiment_tag(experiment_id, "k", "v")
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), user=reader, level=READ)
    with _as(reader_token):
        assert client.get_run(run.info.run_id).data.metrics == {"loss": 0.5}
        assert client.download_artifacts(run.info.run_id, "notes/hello.txt", str(tmp_path))
        with pytest.raises(MlflowException) as excinfo:
            client.log_metric(run.info.run_id, "loss", 0.1)
        _denied(excinfo)
        with pytest.raises(MlflowException) as excinfo:
            client.create_run(experiment_id)
        _denied(excinfo)
        with pytest.raises(Exception):  # noqa: B017, PT011 - the artifact client raises requests' HTTPError
            client.log_text(run.info.run_id, "evil", "notes/evil.txt")
        with pytest.raises(MlflowException) as excinfo:
            client.delete_experiment(experiment_id)
        _denied(excinfo)
    with _as(owner):
        assert [f.path for f in client.list_artifacts(run.info.run_id, "notes")] == ["notes/hello.txt"]
        client.delete_run(run.info.run_id)
        client.delete_experiment(experiment_id)


def test_search_shows_only_permitted_experiments_and_runs(tracking_uri: str, settings: Any) -> None:
    settings.STUDIO_DEFAULT_PERMISSION = "NO_PERMISSIONS"
    client = MlflowClient(tracking_uri)
    _, owner = _token("owner")
    alice, alice_token = _token("alice")
    with _as(owner):
        shared, private = client.create_experiment("shared"), client.create_experiment("private")
        shared_run = client.create_run(shared).info.run_id
        client.create_run(private)
    permissions.set_permission(kind="experiment", object_id=int(shared), user=alice, level=READ)
    with _as(alice_token):
        assert [e.name for e in mlflow.search_experiments()] == ["shared"]
        runs = mlflow.search_runs(experiment_ids=[shared, private], output_format="list")
        assert [r.info.run_id for r in runs] == [shared_run]
        with pytest.raises(MlflowException) as excinfo:
            client.get_experiment(private)
        _denied(excinfo)


def test_a_groups_edit_lets_its_member_log(tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    _, owner = _token("owner")
    member, member_token = _token("member")
    _, outsider_token = _token("outsider")
    with _as(owner):
        experiment_id = client.create_experiment("team")
        run_id = client.create_run(experiment_id).info.run_id
    team = Group.objects.create(name="team")
    team.user_set.add(member)
    permissions.set_permission(kind="experiment", object_id=int(experiment_id), group=team, level=EDIT)
    with _as(member_token):
        client.log_batch(run_id, params=[mlflow.entities.Param("lr", "0.1")])
        client.log_text(run_id, "by a member", "member.txt")
    with _as(outsider_token), pytest.raises(MlflowException) as excinfo:
        client.log_param(run_id, "lr2", "0.2")
    _denied(excinfo)
    with _as(owner):
        assert client.get_run(run_id).data.params == {"lr": "0.1"}
        assert [f.path for f in client.list_artifacts(run_id)] == ["member.txt"]
