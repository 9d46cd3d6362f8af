"""The PostgreSQL role the application runs as: it appends to the audit trail and can never
change or remove what is there (security.md AUD-2).

The owner of the schema migrates it (``dashcore migrate up``), then runs
:func:`grant_app_role`; the application connects as a role of its own, which holds exactly:

- ``USAGE`` on the schema, never ``CREATE``;
- ``SELECT, INSERT, UPDATE, DELETE`` on every table of ``metadata``, except
- ``audit_events``: ``SELECT, INSERT``. Nothing in dashcore edits or deletes an event (the
  audit trail has no retention), so any statement that tries, whoever sends it through the
  application's connection, fails with PostgreSQL's ``insufficient_privilege``;
- ``audit_chain_heads``: ``SELECT, INSERT, UPDATE``. An append creates its chain's head or
  moves it on (its ``SELECT … FOR UPDATE`` needs ``UPDATE`` too); nothing removes a head;
- ``alembic_version``: ``SELECT``. Readiness reads the revision; only the owner migrates.

No table has a sequence (ids are UUIDs the application makes), so there is none to grant.

Granting first revokes everything the role was given on the schema and on those tables, all
in one transaction: running it again, or after a migration that added a table, leaves exactly
these grants. A role that owns the schema or a table (or is a member of their owner) is
refused, and so is one that can *effectively* still do more once granted: a superuser, or a
role given more by another grantor, through another role or through ``PUBLIC``. Grants cannot
restrict such a role; a refusal changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dashcore.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from dashcore_sql.errors import database_errors, not_migrated
from dashcore_sql.tables import audit_chain_heads, audit_events, metadata

__all__ = ["VERSION_TABLE", "AppRoleGrants", "app_role_privileges", "grant_app_role"]

VERSION_TABLE: Final = "alembic_version"
"""Alembic's table of the schema revision (its default name, which dashcore keeps)."""

READ_WRITE: Final = ("SELECT", "INSERT", "UPDATE", "DELETE")
_TABLE_PRIVILEGES: Final = (*READ_WRITE, "TRUNCATE", "REFERENCES", "TRIGGER")
"""Every privilege a table has (PostgreSQL 15): what the role may hold beyond its grants."""

ROLE_NAME: Final = re.compile(r"(?!pg_)[a-z_][a-z0-9_]{0,62}")
"""A role name as an operator types it unquoted; ``pg_…`` names are PostgreSQL's own roles."""


def app_role_privileges() -> dict[str, tuple[str, ...]]:
    """The privileges the application's role holds on each table it uses, by table name."""
    restricted = {
        audit_events.name: ("SELECT", "INSERT"),
        audit_chain_heads.name: ("SELECT", "INSERT", "UPDATE"),
        VERSION_TABLE: ("SELECT",),
    }
    names = sorted([*metadata.tables, VERSION_TABLE])
    return {name: restricted.get(name, READ_WRITE) for name in names}


@dataclass(frozen=True, slots=True)
class AppRoleGrants:
    """What :func:`grant_app_role` left ``role`` holding: ``USAGE`` on ``schema``, and
    ``tables`` (table name -> privileges)."""

    role: str
    schema: str
    tables: Mapping[str, tuple[str, ...]]


async def grant_app_role(engine: AsyncEngine, role: str) -> AppRoleGrants:
    """Leave ``role`` holding exactly the application's privileges (see the module docstring)
    on the schema ``engine``'s connections work in (``current_schema()``); run as its owner.

    Before any SQL, ``InvalidInput`` refuses a name that :data:`ROLE_NAME` does not match
    and a database that is not PostgreSQL. Then ``NotFound``: no such role; ``Forbidden``: the
    connecting role does not own the schema or one of the tables; ``Conflict``: grants cannot
    restrict the role (see above); ``database_not_migrated``: a table is missing.
    """
    if not ROLE_NAME.fullmatch(role):
        raise InvalidInput(
            f"{role!r} is not a role name this command accepts: lowercase letters, digits "
            "and _, not starting with a digit or pg_, at most 63 characters.",
            code="invalid_role_name",
        )
    if engine.dialect.name != "postgresql":
        raise InvalidInput(
            f"The database is {engine.dialect.name}, which has no roles: the application "
            "role is for PostgreSQL only.",
            code="roles_need_postgresql",
        )
    privileges = app_role_privileges()
    with database_errors():
        async with engine.begin() as connection:
            schema = await _schema_to_grant_in(connection, role, list(privileges))
            quote = engine.dialect.identifier_preparer.quote_identifier
            grantee, where = quote(role), quote(schema)
            statements = [
                f"REVOKE ALL ON SCHEMA {where} FROM {grantee}",
                f"GRANT USAGE ON SCHEMA {where} TO {grantee}",
            ]
            for table, granted in privileges.items():
                target = f"{where}.{quote(table)}"
                statements.append(f"REVOKE ALL ON TABLE {target} FROM {grantee}")
                statements.append(f"GRANT {', '.join(granted)} ON TABLE {target} TO {grantee}")
            for statement in statements:
                await connection.exec_driver_sql(statement)
            await _refuse_more_than(connection, role, schema, privileges)
    return AppRoleGrants(role, schema, privileges)


_SCHEMA = text(
    "SELECT n.nspname, pg_has_role(n.nspowner, 'USAGE') AS owned, r.oid AS role_oid,"
    " pg_has_role(r.oid, n.nspowner, 'MEMBER') AS role_owns"
    " FROM pg_namespace n LEFT JOIN pg_roles r ON r.rolname = :role"
    " WHERE n.nspname = current_schema()"
)
_SEARCH_PATH = text("SELECT current_setting('search_path')")
_TABLES = text(
    "SELECT c.relname, pg_has_role(c.relowner, 'USAGE') AS owned,"
    " pg_has_role(CAST(:role AS name), c.relowner, 'MEMBER') AS role_owns"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND c.relname = ANY(:tables)"
)


async def _schema_to_grant_in(connection: AsyncConnection, role: str, tables: list[str]) -> str:
    """The schema to grant in, once ``role`` exists, the connecting role owns the schema and
    every table in it, and ``role`` does not (nor may it act as their owner: grants never
    restrict an owner, who may grant itself anything again)."""
    schema = (await connection.execute(_SCHEMA, {"role": role})).one_or_none()
    if schema is None:
        search_path = (await connection.execute(_SEARCH_PATH)).scalar_one()
        raise NotFound(
            f"No schema on the search path ({search_path}) exists, or the connecting role may "
            "not use it: run this as the schema's owner, after `dashcore migrate up`.",
            code="schema_not_found",
        )
    if schema.role_oid is None:
        raise NotFound(
            f"Role {role!r} does not exist: create it first (CREATE ROLE {role} LOGIN …).",
            code="role_not_found",
        )
    parameters = {"schema": schema.nspname, "tables": tables, "role": role}
    found = (await connection.execute(_TABLES, parameters)).all()
    if len(found) < len(tables):
        raise not_migrated()
    foreign = sorted(row.relname for row in found if not row.owned)
    if not schema.owned or foreign:
        what = f"table {foreign[0]}" if foreign else "the schema"
        raise Forbidden(
            f"Run this as the owner of schema {schema.nspname!r} and its tables (the role "
            f"that runs `dashcore migrate`): the connecting role does not own {what}.",
            code="not_schema_owner",
        )
    if schema.role_owns or any(row.role_owns for row in found):
        raise Conflict(
            f"Role {role!r} owns schema {schema.nspname!r} or its tables (or is a member of "
            "their owner), so grants cannot restrict it: give the application a role of its "
            "own.",
            code="app_role_not_restricted",
        )
    return str(schema.nspname)


_HELD = text(
    "SELECT c.relname, p.privilege"
    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " CROSS JOIN unnest(CAST(:privileges AS text[])) AS p(privilege)"
    " WHERE n.nspname = :schema AND c.relname = ANY(:tables)"
    " AND has_table_privilege(:role, c.oid, p.privilege)"
)
_CREATES = text(
    "SELECT has_schema_privilege(:role, n.oid, 'CREATE') FROM pg_namespace n"
    " WHERE n.nspname = :schema"
)


async def _refuse_more_than(
    connection: AsyncConnection,
    role: str,
    schema: str,
    privileges: Mapping[str, tuple[str, ...]],
) -> None:
    """Raise ``Conflict`` if ``role`` can effectively do more than ``privileges``."""
    parameters = {
        "role": role,
        "schema": schema,
        "tables": list(privileges),
        "privileges": list(_TABLE_PRIVILEGES),
    }
    held = (await connection.execute(_HELD, parameters)).all()
    excess = sorted(
        f"{row.privilege} on {row.relname}"
        for row in held
        if row.privilege not in privileges[row.relname]
    )
    if (await connection.execute(_CREATES, parameters)).scalar_one():
        excess.insert(0, f"CREATE on schema {schema}")
    if excess:
        raise Conflict(
            f"Role {role!r} would still hold {', '.join(excess[:3])}"
            f"{' …' if len(excess) > 3 else ''}: it is a superuser, or holds them from another "
            "grantor, through another role or through PUBLIC. Use a role that holds nothing "
            "else; nothing was changed.",
            code="app_role_not_restricted",
        )
