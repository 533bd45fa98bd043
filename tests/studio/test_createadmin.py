"""``studio createadmin`` for real: a subprocess on a data directory of its own, checked in the database it wrote."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import check_password

STUDIO = Path(sys.executable).with_name("studio")
PASSWORD = "granite-harbor-violet-31"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a Studio on an SQLite database of its own (migrated by the first createadmin)."""
    drop = {"DATABASE_URL", "STUDIO_ARTIFACT_ROOT", "STUDIO_ADMIN_PASSWORD"}
    environ = {k: v for k, v in os.environ.items() if k not in drop}
    environ["STUDIO_DATA_DIR"] = str(tmp_path_factory.mktemp("createadmin"))
    return environ


def createadmin(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [STUDIO, "createadmin", *args], input=stdin, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def user_row(env: dict[str, str], username: str) -> dict | None:
    with sqlite3.connect(Path(env["STUDIO_DATA_DIR"]) / "studio.sqlite3") as db:
        db.row_factory = sqlite3.Row
        row = db.execute("SELECT * FROM auth_user WHERE username = ?", (username,)).fetchone()
    return None if row is None else dict(row)


def test_creates_a_superuser_who_can_sign_in_with_the_password_from_stdin(env: dict[str, str]) -> None:
    done = createadmin(env, "--username", "root", "--email", "root@example.com", "--password-stdin", stdin=PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Created the admin 'root' (superuser)" in done.stdout
    row = user_row(env, "root")
    assert row is not None
    assert (row["is_superuser"], row["is_staff"], row["is_active"], row["email"]) == (1, 1, 1, "root@example.com")
    # The stored hash is what signing in checks: the password typed, not the line break after it.
    assert check_password(PASSWORD, row["password"])
    assert not check_password(PASSWORD + "\n", row["password"])


def test_a_weak_password_is_refused_and_nobody_is_created(env: dict[str, str]) -> None:
    done = createadmin(env, "--username", "weak", "--password-stdin", stdin="123\n")
    assert done.returncode == 1
    assert "Password refused" in done.stderr
    assert "too short" in done.stderr and "entirely numeric" in done.stderr
    assert user_row(env, "weak") is None


def test_an_existing_user_is_refused_and_kept_as_is(env: dict[str, str]) -> None:
    assert createadmin(env, "--username", "twice", "--password-stdin", stdin=PASSWORD).returncode == 0
    before = user_row(env, "twice")
    done = createadmin(env, "--username", "twice", "--password-stdin", stdin="another-" + PASSWORD)
    assert done.returncode == 1
    assert "A user 'twice' already exists" in done.stderr
    assert user_row(env, "twice") == before


def test_the_password_comes_from_the_environment_and_the_name_defaults_to_admin(env: dict[str, str]) -> None:
    done = createadmin({**env, "STUDIO_ADMIN_PASSWORD": PASSWORD})
    assert done.returncode == 0, done.stderr
    row = user_row(env, "admin")
    assert row is not None
    assert row["is_superuser"] == 1
    assert check_password(PASSWORD, row["password"])


def test_without_a_password_nothing_is_created(env: dict[str, str]) -> None:
    done = createadmin(env, "--username", "nopass", stdin="")  # not a terminal, so no prompt either
    assert done.returncode == 1
    assert "No password" in done.stderr
    assert user_row(env, "nopass") is None
