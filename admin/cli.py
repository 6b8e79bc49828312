"""flask --app wsgi admin create-user EMAIL"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from storefront.errors import DomainError

from . import auth

admin_cli = AppGroup("admin", help="Shop owner accounts.")


@admin_cli.command("create-user")
@click.argument("email")
def create_user_command(email: str) -> None:
    """Create (or reset the password of) an admin. The password is asked for, or read
    from standard input when it is not a terminal."""
    from marshmallow import ValidationError

    from .views import LoginSchema

    try:  # the address the login form will take, before a password is asked for
        LoginSchema(only=("email",)).load({"email": email.strip()})
    except ValidationError as exc:
        raise click.BadParameter(" ".join(exc.messages.get("email", ["Not valid."])),
                                 param_hint="EMAIL") from None
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = auth.create_user(email, password)
    except DomainError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Admin {user.email} is ready. Log in at /admin/login.")
