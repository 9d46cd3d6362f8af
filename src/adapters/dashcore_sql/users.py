"""Users and email tokens in SQL, with explicit row <-> entity mapping."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.domain.email import Email
from dashcore.domain.email_tokens import EmailToken, TokenPurpose
from dashcore.domain.users import LoginThrottle, Role, User, UserStatus
from dashcore.ports.users import (
    EmailTokenRepository,
    KnownDevices,
    UserDirectory,
    UserRepository,
)
from dashcore_sql.tables import email_tokens, known_devices, users
from dashcore_sql.uow import SqlUnitOfWork, unit_of_work

__all__ = [
    "SqlEmailTokenRepository",
    "SqlKnownDevices",
    "SqlUserDirectory",
    "SqlUserRepository",
]

_users = users.c
_tokens = email_tokens.c
_devices = known_devices.c


class SqlUserRepository(UserRepository):
    """A taken canonical email is ``Conflict(code="users_email_taken")``. On PostgreSQL
    ``lock_throttle`` holds the user's row until the unit of work ends, so concurrent failed
    logins are counted one by one; SQLite serializes writers on its own."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, user: User) -> None:
        await self._uow.execute(insert(users).values(id=user.id, **_columns(user)))

    async def get(self, user_id: UUID) -> User | None:
        row = (await self._uow.execute(select(users).where(_users.id == user_id))).one_or_none()
        return None if row is None else _user(row)

    async def get_by_email_key(self, email_key: str) -> User | None:
        query = select(users).where(_users.email_key == email_key)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _user(row)

    async def save(self, user: User) -> None:
        await self._uow.execute(update(users).where(_users.id == user.id).values(**_columns(user)))

    async def lock_throttle(self, user_id: UUID) -> LoginThrottle | None:
        query = (
            select(
                _users.failed_logins,
                _users.last_failed_login_at,
                _users.locked_until,
                _users.password_login_disabled,
            )
            .where(_users.id == user_id)
            .with_for_update()
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _throttle(row)

    async def save_throttle(self, user_id: UUID, throttle: LoginThrottle) -> None:
        await self._uow.execute(
            update(users).where(_users.id == user_id).values(**_throttle_columns(throttle))
        )

    async def page(self, *, after: UUID | None, limit: int) -> Sequence[User]:
        query = select(users).order_by(_users.id).limit(limit)
        if after is not None:
            query = query.where(_users.id > after)
        return [_user(row) for row in await self._uow.execute(query)]

    async def count_admins(self) -> int:
        query = select(func.count()).select_from(users).where(_users.role == Role.ADMIN.value)
        return int((await self._uow.execute(query)).scalar_one())


class SqlUserDirectory(UserDirectory):
    """One short unit of work per read."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, user_id: UUID) -> User | None:
        async with unit_of_work(self._engine) as uow:
            return await SqlUserRepository(uow).get(user_id)


class SqlEmailTokenRepository(EmailTokenRepository):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, token: EmailToken) -> None:
        await self._uow.execute(
            insert(email_tokens).values(
                id=token.id,
                user_id=token.user_id,
                purpose=token.purpose.value,
                token_hash=token.token_hash,
                email_key=token.email_key,
                created_at=token.created_at,
                expires_at=token.expires_at,
                used_at=token.used_at,
            )
        )

    async def find(self, token_hash: bytes, purpose: TokenPurpose) -> EmailToken | None:
        query = select(email_tokens).where(
            _tokens.token_hash == token_hash, _tokens.purpose == purpose.value
        )
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _token(row)

    async def consume(self, token_id: UUID, at: datetime) -> bool:
        statement = (
            update(email_tokens)
            .where(_tokens.id == token_id, _tokens.used_at.is_(None))
            .values(used_at=at)
        )
        return (await self._uow.execute(statement)).rowcount == 1

    async def void_for_user(self, user_id: UUID, purpose: TokenPurpose) -> int:
        statement = delete(email_tokens).where(
            _tokens.user_id == user_id,
            _tokens.purpose == purpose.value,
            _tokens.used_at.is_(None),
        )
        return (await self._uow.execute(statement)).rowcount


class SqlKnownDevices(KnownDevices):
    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def count(self, user_id: UUID) -> int:
        query = select(func.count()).select_from(known_devices).where(_devices.user_id == user_id)
        return int((await self._uow.execute(query)).scalar_one())

    async def remember(self, user_id: UUID, fingerprint: str, at: datetime) -> bool:
        seen = (
            update(known_devices)
            .where(_devices.user_id == user_id, _devices.fingerprint == fingerprint)
            .values(last_seen_at=at)
        )
        if (await self._uow.execute(seen)).rowcount:
            return False
        await self._uow.execute(
            insert(known_devices).values(
                user_id=user_id, fingerprint=fingerprint, first_seen_at=at, last_seen_at=at
            )
        )
        return True


def _throttle_columns(throttle: LoginThrottle) -> dict[str, Any]:
    return {
        "failed_logins": throttle.failures,
        "last_failed_login_at": throttle.last_failure_at,
        "locked_until": throttle.locked_until,
        "password_login_disabled": throttle.password_login_disabled,
    }


def _columns(user: User) -> dict[str, Any]:
    return {
        "email": user.email.value,
        "email_key": user.email.key,
        "password_hash": user.password_hash,
        "verified": user.verified,
        "role": user.role.value,
        "status": user.status.value,
        "plan": user.plan,
        "display_name": user.display_name,
        "pending_email": None if user.pending_email is None else user.pending_email.value,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        **_throttle_columns(user.throttle),
    }


def _throttle(row: Row[Any]) -> LoginThrottle:
    return LoginThrottle(
        failures=row.failed_logins,
        last_failure_at=row.last_failed_login_at,
        locked_until=row.locked_until,
        password_login_disabled=row.password_login_disabled,
    )


def _user(row: Row[Any]) -> User:
    return User(
        id=row.id,
        email=Email(row.email),
        password_hash=row.password_hash,
        created_at=row.created_at,
        updated_at=row.updated_at,
        verified=row.verified,
        role=Role(row.role),
        status=UserStatus(row.status),
        plan=row.plan,
        display_name=row.display_name,
        pending_email=None if row.pending_email is None else Email(row.pending_email),
        throttle=_throttle(row),
    )


def _token(row: Row[Any]) -> EmailToken:
    return EmailToken(
        id=row.id,
        user_id=row.user_id,
        purpose=TokenPurpose(row.purpose),
        token_hash=row.token_hash,
        email_key=row.email_key,
        created_at=row.created_at,
        expires_at=row.expires_at,
        used_at=row.used_at,
    )
