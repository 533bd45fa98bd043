"""The ``studio`` command line: argument parsing, the commands it builds, and ``studio migrate`` for real."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from studio import cli

STUDIO = Path(sys.executable).with_name("studio")


def test_run_defaults_leave_address_to_settings() -> None:
    args = cli.parse_args(["run"])
    assert (args.command, args.host, args.port, args.no_worker) == ("run", None, None, False)
    assert args.workers == cli.default_web_workers() >= 2


def test_run_accepts_address_processes_and_no_worker() -> None:
    args = cli.parse_args(["run", "--host", "0.0.0.0", "--port", "5001", "--workers", "3", "--no-worker"])
    assert (args.host, args.port, args.workers, args.no_worker) == ("0.0.0.0", 5001, 3, True)


@pytest.mark.parametrize(
    "argv",
    [[], ["run", "--workers", "0"], ["run", "--port", "http"], ["serve"], ["migrate", "--fake"]],
)
def test_bad_arguments_exit_with_usage(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.parse_args(argv)
    assert exited.value.code == 2
    assert "usage: studio" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "rest"),
    [
        (["worker", "--concurrency", "4", "-Q", "builds"], ["--concurrency", "4", "-Q", "builds"]),
        (["worker", "--help"], ["--help"]),
        (["manage", "createsuperuser", "--username", "ada"], ["createsuperuser", "--username", "ada"]),
        (["manage", "--help"], ["--help"]),
        (["manage"], []),
    ],
)
def test_passthrough_commands_keep_their_arguments_verbatim(argv: list[str], rest: list[str]) -> None:
    args = cli.parse_args(argv)
    assert (args.command, args.rest) == (argv[0], rest)


def test_gunicorn_command_uses_studio_config_and_brackets_ipv6() -> None:
    command = cli.gunicorn_command("::1", 5001, 3)
    assert command[:3] == [sys.executable, "-m", "gunicorn"]
    assert command[command.index("--config") + 1] == "python:studio.gunicorn_conf"
    assert command[command.index("--bind") + 1] == "[::1]:5001"
    assert command[command.index("--workers") + 1] == "3"
    assert cli.gunicorn_command("127.0.0.1", 5000, 2)[command.index("--bind") + 1] == "127.0.0.1:5000"


def test_worker_command_lets_later_options_override_defaults() -> None:
    command = cli.worker_command(["--concurrency", "8"])
    assert command[:6] == [sys.executable, "-m", "celery", "-A", "studio", "worker"]
    assert command[-2:] == ["--concurrency", "8"]


def test_the_embedded_worker_runs_the_beat_of_registered_periodic_tasks() -> None:
    from django.conf import settings

    from studio.celery import app

    assert "--beat" in cli.embedded_worker_command()
    assert "--beat" not in cli.worker_command()
    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks, entry


def test_tracking_uri_names_a_reachable_host() -> None:
    assert cli.tracking_uri("127.0.0.1", 5000) == "http://127.0.0.1:5000"
    assert cli.tracking_uri("::1", 5000) == "http://[::1]:5000"
    assert "0.0.0.0" not in cli.tracking_uri("0.0.0.0", 5000)


def test_migrate_creates_the_database_in_the_data_dir(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "STUDIO_ARTIFACT_ROOT"}}
    env["STUDIO_DATA_DIR"] = str(tmp_path)
    done = subprocess.run([STUDIO, "migrate"], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(tmp_path / "studio.sqlite3") as db:
        applied = {app for (app,) in db.execute("SELECT DISTINCT app FROM django_migrations")}
    assert {"auth", "tracking"} <= applied

    shown = subprocess.run(
        [STUDIO, "manage", "showmigrations", "tracking"], env=env, capture_output=True, text=True, timeout=300
    )
    assert shown.returncode == 0, shown.stderr
    assert "[X] 0001_initial" in shown.stdout
    assert "[ ]" not in shown.stdout


@pytest.mark.parametrize(
    ("host", "auth", "warned"), [("0.0.0.0", False, True), ("127.0.0.1", False, False), ("0.0.0.0", True, False)]
)
def test_run_warns_when_an_open_address_has_no_authentication(
    host: str,
    auth: bool,
    warned: bool,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings.STUDIO_AUTH = auth
    served: list[str] = []
    monkeypatch.setattr(cli, "run", lambda host, port, workers, with_worker: served.append(host) or 0)
    assert cli.main(["run", "--host", host]) == 0
    assert served == [host]
    assert ("STUDIO_AUTH is off" in capsys.readouterr().err) is warned
