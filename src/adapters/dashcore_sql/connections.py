"""Provider connections and pending authorizations in SQL, with explicit row <-> entity mapping.

A connection never changes owner or provider: ``save`` rewrites the row only where id, user
and provider all match, and raises ``NotFound`` (``connection_not_found``) otherwise. Deleting
a connection deletes its pending authorizations (``ON DELETE CASCADE``), and deleting a user
deletes both. Using up
a pending authorization is one ``UPDATE … WHERE consumed_at IS NULL AND expires_at > :at
RETURNING``, so of two callbacks carrying the same state exactly one gets the row: on
PostgreSQL the second waits for the first one's row lock and then re-checks the condition;
SQLite runs each transaction under the database's write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update

from dashcore.domain.connections import (
    ConnectionError_,
    ConnectionScope,
    ConnectionStatus,
    PendingAuthorization,
    ProviderConnection,
)
from dashcore.domain.errors import NotFound
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderConnectionRepository,
)
from dashcore_sql.tables import pending_authorizations, provider_connections
from dashcore_sql.uow import SqlUnitOfWork

__all__ = ["SqlPendingAuthorizationRepository", "SqlProviderConnectionRepository"]

_connections = provider_connections.c
_pending = pending_authorizations.c
_USABLE = (ConnectionStatus.CONNECTED.value, ConnectionStatus.REFRESHING.value)


class SqlProviderConnectionRepository(ProviderConnectionRepository):
    """On PostgreSQL ``lock`` holds the connection's row until the unit of work ends, so two
    requests changing one connection run one after the other; SQLite serializes writers on its
    own. ``expiring`` finds the connections whose credentials end (the refresh horizon where
    there is one, else the access token's expiry) before a given instant."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, connection: ProviderConnection) -> None:
        row = {
            "id": connection.id,
            "user_id": connection.user_id,
            "provider": connection.provider,
            **_columns(connection),
        }
        await self._uow.execute(insert(provider_connections).values(row))

    async def get(self, connection_id: UUID) -> ProviderConnection | None:
        query = select(provider_connections).where(_connections.id == connection_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _connection(row)

    async def lock(self, connection_id: UUID) -> ProviderConnection | None:
        query = (
            select(provider_connections).where(_connections.id == connection_id).with_for_update()
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _connection(row)

    async def save(self, connection: ProviderConnection) -> None:
        statement = (
            update(provider_connections)
            .where(
                _connections.id == connection.id,
                _connections.user_id == connection.user_id,
                _connections.provider == connection.provider,
            )
            .values(_columns(connection))
        )
        if (await self._uow.execute(statement)).rowcount != 1:
            raise NotFound("No such connection.", code="connection_not_found")

    async def delete(self, connection_id: UUID) -> bool:
        statement = delete(provider_connections).where(_connections.id == connection_id)
        return (await self._uow.execute(statement)).rowcount == 1

    async def list_for_user(self, user_id: UUID) -> Sequence[ProviderConnection]:
        query = (
            select(provider_connections)
            .where(_connections.user_id == user_id)
            .order_by(_connections.created_at, _connections.id)
        )
        return [_connection(row) for row in await self._uow.execute(query)]

    async def expiring(self, before: datetime, *, limit: int) -> Sequence[ProviderConnection]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        ends_at = func.coalesce(_connections.refresh_expires_at, _connections.expires_at)
        # COALESCE(refresh_expires_at, expires_at) < before, written so that each branch can
        # use the index on its column.
        ends_before = or_(
            _connections.refresh_expires_at < before,
            and_(_connections.refresh_expires_at.is_(None), _connections.expires_at < before),
        )
        query = (
            select(provider_connections)
            .where(_connections.status.in_(_USABLE), ends_before)
            .order_by(ends_at, _connections.id)
            .limit(limit)
        )
        return [_connection(row) for row in await self._uow.execute(query)]

    async def access_expiring(
        self, before: datetime, *, providers: Collection[str], limit: int
    ) -> Sequence[ProviderConnection]:
        if limit < 0:
            raise ValueError("limit must not be negative")
        query = (
            select(provider_connections)
            .where(
                _connections.status == ConnectionStatus.CONNECTED.value,
                _connections.provider.in_(list(providers)),
                _connections.expires_at < before,
            )
            .order_by(_connections.expires_at, _connections.id)
            .limit(limit)
        )
        return [_connection(row) for row in await self._uow.execute(query)]


class SqlPendingAuthorizationRepository(PendingAuthorizationRepository):
    """A pending authorization is open strictly before ``expires_at`` and used up once."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, pending: PendingAuthorization) -> None:
        await self._uow.execute(insert(pending_authorizations).values(_pending_row(pending)))

    async def consume(self, state_hash: str, at: datetime) -> PendingAuthorization | None:
        statement = (
            update(pending_authorizations)
            .where(
                _pending.state_hash == state_hash,
                _pending.consumed_at.is_(None),
                _pending.expires_at > at,
            )
            .values(consumed_at=at)
            .returning(*pending_authorizations.c)
        )
        row = (await self._uow.execute(statement)).one_or_none()
        return None if row is None else _pending_authorization(row)

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(pending_authorizations).where(_pending.expires_at < before)
        return (await self._uow.execute(statement)).rowcount


def _scopes_text(scopes: frozenset[ConnectionScope]) -> str:
    return " ".join(sorted(scope.value for scope in scopes))


def _columns(connection: ProviderConnection) -> dict[str, Any]:
    """Every column a ``save`` may change (all but the id, the owner and the provider)."""
    error = connection.last_error
    return {
        "alias": connection.alias,
        "status": connection.status.value,
        "scopes": _scopes_text(connection.scopes),
        "created_at": connection.created_at,
        "updated_at": connection.updated_at,
        "connected_at": connection.connected_at,
        "expires_at": connection.expires_at,
        "refresh_expires_at": connection.refresh_expires_at,
        "last_refreshed_at": connection.last_refreshed_at,
        "last_error_code": None if error is None else error.code,
        "last_error_message": None if error is None else error.message,
        "reauth_warned_for": connection.reauth_warned_for,
    }


def _connection(row: Row[Any]) -> ProviderConnection:
    error = (
        None
        if row.last_error_code is None
        else ConnectionError_(row.last_error_code, row.last_error_message)
    )
    return ProviderConnection(
        id=row.id,
        user_id=row.user_id,
        provider=row.provider,
        status=ConnectionStatus(row.status),
        scopes=frozenset(ConnectionScope(name) for name in row.scopes.split()),
        created_at=row.created_at,
        updated_at=row.updated_at,
        alias=row.alias,
        connected_at=row.connected_at,
        expires_at=row.expires_at,
        refresh_expires_at=row.refresh_expires_at,
        last_refreshed_at=row.last_refreshed_at,
        last_error=error,
        reauth_warned_for=row.reauth_warned_for,
    )


def _pending_row(pending: PendingAuthorization) -> dict[str, Any]:
    return {
        "state_hash": pending.state_hash,
        "user_id": pending.user_id,
        "session_id": pending.session_id,
        "connection_id": pending.connection_id,
        "provider": pending.provider,
        "redirect_uri": pending.redirect_uri,
        "code_verifier": pending.code_verifier,
        "return_to": pending.return_to,
        "created_at": pending.created_at,
        "expires_at": pending.expires_at,
        "consumed_at": pending.consumed_at,
    }


def _pending_authorization(row: Row[Any]) -> PendingAuthorization:
    return PendingAuthorization(
        state_hash=row.state_hash,
        user_id=row.user_id,
        session_id=row.session_id,
        connection_id=row.connection_id,
        provider=row.provider,
        redirect_uri=row.redirect_uri,
        created_at=row.created_at,
        expires_at=row.expires_at,
        code_verifier=row.code_verifier,
        return_to=row.return_to,
        consumed_at=row.consumed_at,
    )
