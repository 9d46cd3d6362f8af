"""``dashcore db grant-app-role``: the PostgreSQL role the application runs as (AUD-2).

The schema's owner runs it after every ``dashcore migrate up``; the application's
``DASHCORE_DATABASE_URL`` then names the restricted role (docs/operations.md).
"""

from __future__ import annotations

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_cli.context import load_settings, run, with_engine
from dashcore_sql.app_role import AppRoleGrants, grant_app_role

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database roles (PostgreSQL)."""


@db.command("grant-app-role")
@click.argument("role")
def grant_app_role_command(role: str) -> None:
    """Leave ROLE holding exactly what the running application needs, with the audit trail
    append-only; revoke everything else on dashcore's tables. Run as the schema's owner."""

    async def work(engine: AsyncEngine) -> AppRoleGrants:
        return await grant_app_role(engine, role)

    granted = run(with_engine(load_settings(), work))
    click.echo(f"role {granted.role} in schema {granted.schema}: USAGE on the schema")
    width = max(len(table) for table in granted.tables)
    for table, privileges in granted.tables.items():
        click.echo(f"  {table:<{width}}  {', '.join(privileges)}")
    click.echo(f"everything else on the schema and these tables revoked from {granted.role}")
