"""`aidpack user add EMAIL --role R [--org CODE] [--password-stdin]`, `aidpack user unlock EMAIL`: accounts for the
web and the API."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from aidpack.auth.roles import Role
from aidpack.cli import common
from aidpack.errors import ValidationFailed

user_app = typer.Typer(help="Accounts for the web UI and the API.", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat the password: ") != first:
        raise ValidationFailed("the two passwords differ")
    return first


@user_app.command("add")
def add(
    email: Annotated[str, typer.Argument(help="The account's e-mail address (its login).")],
    role: Annotated[Role, typer.Option("--role", help="admin, coordinator, recipient, donor or viewer.")],
    org: Annotated[
        str | None, typer.Option("--org", help="Organisation code (required for donor and recipient).")
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of standard input."),
    ] = False,
) -> None:
    """Create an account with an argon2-hashed password."""
    from aidpack.auth.service import create_user

    def run() -> None:
        password = _read_password(password_stdin)
        with common.transaction() as session:
            user = create_user(
                session, actor=common.cli_actor(), email=email, password=password, role=role, org_code=org
            )
            created = f"created {user.email} ({user.role.value}{', ' + org if org else ''})"
        common.console.print(created, highlight=False)  # once committed (as `allocate` prints)

    common.guarded(run)


@user_app.command("unlock")
def unlock_command(
    email: Annotated[str, typer.Argument(help="The account's e-mail address.")],
) -> None:
    """Lift every sign-in lock on an account, from every client, and forget its failed sign-ins."""
    from aidpack.auth.service import unlock

    def run() -> None:
        with common.transaction() as session:
            unlocked = unlock(session, actor=common.cli_actor(), email=email)
        common.console.print(
            f"unlocked {unlocked.email}: {unlocked.locks_lifted} lock(s) lifted, "
            f"{unlocked.counts_cleared} count(s) of failed sign-ins forgotten",
            highlight=False,
        )

    common.guarded(run)


def register(app: typer.Typer, plan_app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
