"""``dashcore users create-admin``: the first administrator (or promote an existing account).

The password is asked for twice on a terminal, or read from standard input with
``--password-stdin`` (for scripts); it is never accepted as an argument, where it would land in
shell history and the process list.
"""

from __future__ import annotations

import sys

import click

from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import CallerContext
from dashcore.domain.users import User
from dashcore_app import Dashcore
from dashcore_cli.context import load_settings, require_database, run

__all__ = ["users"]

CLI_ACTOR = CallerContext(actor="cli:users", user_agent="dashcore-cli")


@click.group()
def users() -> None:
    """Manage accounts."""


@users.command("create-admin")
@click.option("--email", required=True, help="The administrator's address.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input (scripts)."
)
def create_admin(email: str, password_stdin: bool) -> None:
    """Create a verified administrator, or promote the account that has this address."""
    settings = require_database(load_settings())
    if settings.uses_memory_database:
        raise click.ClickException("DASHCORE_DATABASE_URL=memory:// keeps nothing to log in to")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def work() -> User:
        async with Dashcore.open(settings) as core, core.scope() as scope:
            return await (await scope.get(CreateAdmin))(email, password, CLI_ACTOR)

    user = run(work())
    click.echo(f"administrator {user.email.value} ({user.id}) is ready")
