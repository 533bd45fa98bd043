"""``createadmin``: the first admin (a superuser) of a Studio, with a password nobody else chose."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

PASSWORD_ENV = "STUDIO_ADMIN_PASSWORD"


def read_password(*, from_stdin: bool) -> str:
    """The password from standard input, else ``STUDIO_ADMIN_PASSWORD``, else typed twice at a terminal."""
    if from_stdin:
        # One line, as `echo "$PASSWORD" | studio createadmin --password-stdin` sends it.
        return sys.stdin.readline().rstrip("\r\n")
    if password := os.environ.get(PASSWORD_ENV):
        return password
    if not sys.stdin.isatty():
        raise CommandError(f"No password: pass --password-stdin, set {PASSWORD_ENV}, or run this in a terminal.")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Password (again): ") != first:
        raise CommandError("The two passwords differ; nothing was created.")
    return first


class Command(BaseCommand):
    help = (
        "Create the first admin of Studio (a superuser who may sign in, manage users and groups in the admin, and "
        "read and change everything). The password comes from --password-stdin, STUDIO_ADMIN_PASSWORD, or a prompt; "
        "there is never a default one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin", help="the admin's user name (default: %(default)s)")
        parser.add_argument("--email", default="", help="the admin's e-mail address (optional)")
        parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"].strip()
        if not username:
            raise CommandError("The user name cannot be empty.")
        users = get_user_model()
        try:
            users.username_validator(username)
            if options["email"]:
                validate_email(options["email"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if users.objects.filter(username=username).exists():
            raise CommandError(
                f"A user {username!r} already exists; nothing was changed. Change their password in the admin or "
                f"with `studio manage changepassword {username}`."
            )
        password = read_password(from_stdin=options["password_stdin"])
        if not password:
            raise CommandError("The password cannot be empty.")
        user = users(username=username, email=options["email"], is_staff=True, is_superuser=True)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        user.set_password(password)
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # created by someone else since the check above
            raise CommandError(f"A user {username!r} already exists; nothing was changed.") from None
        self.stdout.write(f"Created the admin {username!r} (superuser). Sign in at /signin/ with this password.")
