"""The ``studio`` command line: ``run`` (web server and worker), ``worker``, ``migrate``, ``createadmin``, ``gc`` and
``manage``."""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import NoReturn

# Commands whose arguments belong to another program (Django's management, Celery's worker), passed on untouched.
PASSTHROUGH = ("manage", "worker")
WORKER_CONCURRENCY = "2"
# Longer than gunicorn's graceful_timeout, so a clean stop is never cut short by us.
STOP_TIMEOUT = 45.0
PR_SET_PDEATHSIG = 1
LOOPBACK = ("127.0.0.1", "localhost", "::1")
OPEN_WARNING = (
    "Warning: STUDIO_AUTH is off and Studio listens on {host}: anyone who reaches this address can read and change "
    "everything. Set STUDIO_AUTH=on and create an admin with `studio createadmin` for a shared server."
)


def default_web_workers() -> int:
    """Several web processes, but not more than a small machine's cores can keep busy."""
    return max(2, min(4, os.cpu_count() or 1))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``studio`` command."""
    parser = argparse.ArgumentParser(prog="studio", description="Studio: an MLflow-compatible tracking server.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="migrate, then serve the web app (gunicorn) and a Celery worker")
    run.add_argument("--host", help="address to listen on (default: STUDIO_HOST, 127.0.0.1)")
    run.add_argument("--port", type=int, help="port to listen on (default: STUDIO_PORT, 5000)")
    run.add_argument("--workers", type=int, default=default_web_workers(), help="web processes (default: %(default)s)")
    run.add_argument("--no-worker", action="store_true", help="serve the web app only, without a Celery worker")
    commands.add_parser("migrate", help="create or update the database tables")
    admin = commands.add_parser("createadmin", help="create the first admin (a superuser); never a default password")
    admin.add_argument("--username", default="admin", help="the admin's user name (default: %(default)s)")
    admin.add_argument("--email", default="", help="the admin's e-mail address (optional)")
    admin.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (else STUDIO_ADMIN_PASSWORD, else a prompt)",
    )
    gc = commands.add_parser("gc", help="purge deleted runs and experiments for good (like `mlflow gc`)")
    gc.add_argument("--older-than", help="only what was deleted longer ago than this, e.g. 30d or 1d2h3m4s")
    gc.add_argument("--experiment-ids", help="comma-separated ids of deleted experiments (with their runs) to purge")
    gc.add_argument("--run-ids", help="comma-separated ids of deleted runs to purge")
    gc.add_argument("--dry-run", action="store_true", help="print what would be purged and remove nothing")
    commands.add_parser("worker", add_help=False, help="run a Celery worker; arguments go to `celery worker`")
    commands.add_parser("manage", add_help=False, help="run a Django management command, e.g. `manage createsuperuser`")
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; for pass-through commands everything after the command is kept verbatim in ``rest``."""
    parser = build_parser()
    # argparse reorders or swallows option-like words (even --help) that belong to the other program, so split first.
    if argv and argv[0] in PASSTHROUGH:
        args = parser.parse_args(argv[:1])
        args.rest = list(argv[1:])
    else:
        args = parser.parse_args(argv)
        args.rest = []
    if args.command == "run" and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def setup_django() -> None:
    """Load Studio's settings and apps in this process."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    import django

    django.setup()


def migrate(verbosity: int = 1) -> None:
    """Apply all migrations to the configured database."""
    setup_django()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=verbosity)
    # A supervisor that idles for days must not hold a database connection.
    connections.close_all()


def manage(rest: list[str]) -> int:
    """Run a Django management command, exactly as ``manage.py`` would."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["studio manage", *rest])
    return 0


def createadmin(username: str, email: str, password_stdin: bool) -> int:
    """Create the first admin (the ``createadmin`` management command) on a migrated database; 1 if refused."""
    migrate(verbosity=0)  # a fresh data directory has no tables yet, and the admin comes before `studio run`
    from django.core.management import call_command
    from django.core.management.base import CommandError

    try:
        call_command("createadmin", username=username, email=email, password_stdin=password_stdin)
    except CommandError as exc:
        print(f"studio createadmin: {exc}", file=sys.stderr)
        return 1
    return 0


def worker_command(rest: Sequence[str] = ()) -> list[str]:
    """The Celery worker command line; later options in ``rest`` override the defaults."""
    return [sys.executable, "-m", "celery", "-A", "studio", "worker", "--concurrency", WORKER_CONCURRENCY,
            "--loglevel", "INFO", *rest]  # fmt: skip


def embedded_worker_command() -> list[str]:
    """The worker ``studio run`` starts beside the web server: it also runs the beat of Studio's periodic jobs
    (``CELERY_BEAT_SCHEDULE``). Workers started with ``studio worker`` on other hosts do not."""
    return worker_command(["--beat"])


def worker(rest: Sequence[str]) -> NoReturn:
    """Become a Celery worker, so that signals reach Celery directly and its exit code is ours."""
    command = worker_command(rest)
    os.execv(command[0], command)


def gunicorn_command(host: str, port: int, workers: int) -> list[str]:
    """The gunicorn command line; its behaviour (gthread, keep-alive, logging) lives in ``studio.gunicorn_conf``."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return [sys.executable, "-m", "gunicorn", "--config", "python:studio.gunicorn_conf", "--bind", bind,
            "--workers", str(workers), "studio.wsgi:application"]  # fmt: skip


def tracking_uri(host: str, port: int) -> str:
    """The URI a client uses; a wildcard address is reached through this machine's name."""
    if host in {"0.0.0.0", "::", ""}:
        host = socket.getfqdn()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _die_with_parent() -> None:
    # Children run in their own process group (so a terminal's Ctrl-C reaches them once, through the supervisor);
    # this asks the kernel to stop them too if the supervisor itself is killed outright.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_child(command: list[str]) -> subprocess.Popen[bytes]:
    """Start a supervised child: its own process group, logs merged into our stdout as they are written."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(command, stderr=subprocess.STDOUT, env=env, process_group=0, preexec_fn=_die_with_parent)


@dataclass
class Supervisor:
    """Keeps the web server and the worker running together: if one stops, both stop."""

    children: dict[str, subprocess.Popen[bytes]]
    stop_requested: bool = False
    failed: list[str] = field(default_factory=list)
    deadline: float | None = None

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """First SIGINT/SIGTERM: stop the children gracefully; a second one: kill them."""
        if self.stop_requested:
            self.kill()
        self.stop_requested = True

    def stop(self) -> None:
        """Ask every living child to finish its work and exit (SIGTERM is graceful for gunicorn and Celery)."""
        print("studio: stopping the web server and the worker.", flush=True)
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        self.deadline = time.monotonic() + STOP_TIMEOUT

    def kill(self) -> None:
        """Kill every child's whole process group, gunicorn's and Celery's own workers included."""
        for child in self.children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)

    def check_children(self) -> None:
        """Note children that exited on their own; any such exit is a failure of ``studio run``."""
        for name, child in self.children.items():
            if child.poll() is not None and name not in self.failed and self.deadline is None:
                print(f"studio: {name} exited with code {child.returncode}; stopping.", flush=True)
                self.failed.append(name)

    def wait(self) -> int:
        """Supervise until both children are gone; 0 after a requested clean stop, 1 otherwise."""
        while any(child.poll() is None for child in self.children.values()):
            self.check_children()
            if self.deadline is None and (self.stop_requested or self.failed):
                self.stop()
            elif self.deadline is not None and time.monotonic() > self.deadline:
                self.kill()
            time.sleep(0.1)
        self.check_children()
        # A child that was still starting when asked to stop dies of the SIGTERM itself; that is a clean stop too.
        clean = all(child.returncode in (0, -signal.SIGTERM) for child in self.children.values())
        return 0 if clean and not self.failed else 1


def run(host: str, port: int, workers: int, with_worker: bool) -> int:
    """Migrate, then run gunicorn and (unless disabled) a Celery worker until stopped or one of them dies."""
    migrate()
    uri = tracking_uri(host, port)
    print(f'Studio is serving on {uri}. Point mlflow at it: mlflow.set_tracking_uri("{uri}")', flush=True)
    supervisor = Supervisor(children={})
    # Handlers first: a signal that arrives between starting the children must not leave one of them behind.
    signal.signal(signal.SIGINT, supervisor.on_signal)
    signal.signal(signal.SIGTERM, supervisor.on_signal)
    supervisor.children["web server"] = start_child(gunicorn_command(host, port, workers))
    if with_worker:
        supervisor.children["worker"] = start_child(embedded_worker_command())
    return supervisor.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``studio`` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "migrate":
        migrate()
        return 0
    if args.command == "createadmin":
        return createadmin(args.username, args.email, args.password_stdin)
    if args.command == "manage":
        return manage(args.rest)
    if args.command == "worker":
        worker(args.rest)
    setup_django()
    if args.command == "gc":
        from studio.cleanup import gc

        return gc.run(
            older_than=args.older_than, experiment_ids=args.experiment_ids, run_ids=args.run_ids, dry_run=args.dry_run
        )
    from django.conf import settings

    host = settings.STUDIO_HOST if args.host is None else args.host
    port = settings.STUDIO_PORT if args.port is None else args.port
    if not settings.STUDIO_AUTH and host not in LOOPBACK:
        print(OPEN_WARNING.format(host=host), file=sys.stderr, flush=True)
    return run(host, port, args.workers, with_worker=not args.no_worker)


if __name__ == "__main__":
    sys.exit(main())
