"""Second factors and login challenges in SQL, with explicit row <-> entity mapping.

Every operation that decides who wins is one statement, so concurrent requests cannot both
win: spending a recovery code or closing a challenge is an ``UPDATE … WHERE … IS NULL`` whose
row count says whether this call did it, and counting an attempt is one conditional
``UPDATE … RETURNING``. On PostgreSQL a second writer waits for the first one's row lock and
then re-checks the condition (so it sees the code already spent); SQLite runs each transaction
under the database's write lock (``BEGIN IMMEDIATE``), so the second never overlaps the first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Insert, Row, delete, insert, select, update

from dashcore.domain.mfa import (
    ChallengeKind,
    FactorStatus,
    LoginChallenge,
    RecoveryCode,
    TotpFactor,
)
from dashcore.ports.mfa import (
    LoginChallengeRepository,
    RecoveryCodeRepository,
    TotpFactorRepository,
)
from dashcore_sql.tables import login_challenges, recovery_codes, totp_factors
from dashcore_sql.uow import SqlUnitOfWork
from dashcore_sql.upserts import conflict_insert

__all__ = [
    "SqlLoginChallengeRepository",
    "SqlRecoveryCodeRepository",
    "SqlTotpFactorRepository",
]

_factors = totp_factors.c
_codes = recovery_codes.c
_challenges = login_challenges.c


class SqlTotpFactorRepository(TotpFactorRepository):
    """One row per user; ``save`` inserts or replaces it. On PostgreSQL ``lock`` holds the row
    until the unit of work ends, so two checks of one user's codes run one after the other and
    a time step cannot be accepted twice; SQLite serializes writers on its own."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID) -> TotpFactor | None:
        query = select(totp_factors).where(_factors.user_id == user_id)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _factor(row)

    async def lock(self, user_id: UUID) -> TotpFactor | None:
        query = select(totp_factors).where(_factors.user_id == user_id).with_for_update()
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _factor(row)

    async def save(self, factor: TotpFactor) -> None:
        await self._uow.execute(_upsert_factor(self._uow.dialect_name, factor))

    async def delete(self, user_id: UUID) -> bool:
        statement = delete(totp_factors).where(_factors.user_id == user_id)
        return (await self._uow.execute(statement)).rowcount == 1


class SqlRecoveryCodeRepository(RecoveryCodeRepository):
    """``consume`` is ``UPDATE … SET used_at WHERE id = :id AND used_at IS NULL``: of two
    concurrent uses of one code exactly one changes the row and gets ``True``."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def replace_all(self, user_id: UUID, codes: Sequence[RecoveryCode]) -> None:
        if any(code.user_id != user_id for code in codes):
            raise ValueError("every recovery code must belong to the user whose set it replaces")
        await self._uow.execute(delete(recovery_codes).where(_codes.user_id == user_id))
        if codes:
            await self._uow.execute(insert(recovery_codes), [_code_row(code) for code in codes])

    async def unused(self, user_id: UUID) -> Sequence[RecoveryCode]:
        query = (
            select(recovery_codes)
            .where(_codes.user_id == user_id, _codes.used_at.is_(None))
            .order_by(_codes.id)
        )
        return [_code(row) for row in await self._uow.execute(query)]

    async def consume(self, code_id: UUID, at: datetime) -> bool:
        statement = (
            update(recovery_codes)
            .where(_codes.id == code_id, _codes.used_at.is_(None))
            .values(used_at=at)
        )
        return (await self._uow.execute(statement)).rowcount == 1

    async def delete_all(self, user_id: UUID) -> int:
        statement = delete(recovery_codes).where(_codes.user_id == user_id)
        return (await self._uow.execute(statement)).rowcount


class SqlLoginChallengeRepository(LoginChallengeRepository):
    """``count_attempt`` and ``consume`` are single conditional updates, so however many
    requests race on one challenge, no more than ``max_attempts`` attempts are ever counted and
    it is consumed once. A challenge expires at ``expires_at`` (it is open strictly before)."""

    def __init__(self, uow: SqlUnitOfWork) -> None:
        self._uow = uow

    async def add(self, challenge: LoginChallenge) -> None:
        await self._uow.execute(insert(login_challenges).values(_challenge_row(challenge)))

    async def get(self, handle_hash: str) -> LoginChallenge | None:
        query = select(login_challenges).where(_challenges.handle_hash == handle_hash)
        row = (await self._uow.execute(query)).one_or_none()
        return None if row is None else _challenge(row)

    async def count_attempt(self, handle_hash: str, now: datetime) -> LoginChallenge | None:
        statement = (
            update(login_challenges)
            .where(
                _challenges.handle_hash == handle_hash,
                _challenges.consumed_at.is_(None),
                _challenges.expires_at > now,
                _challenges.attempts < _challenges.max_attempts,
            )
            .values(attempts=_challenges.attempts + 1)
            .returning(*login_challenges.c)
        )
        row = (await self._uow.execute(statement)).one_or_none()
        return None if row is None else _challenge(row)

    async def consume(self, handle_hash: str, at: datetime) -> bool:
        statement = (
            update(login_challenges)
            .where(_challenges.handle_hash == handle_hash, _challenges.consumed_at.is_(None))
            .values(consumed_at=at)
        )
        return (await self._uow.execute(statement)).rowcount == 1

    async def delete_for_user(self, user_id: UUID, kind: ChallengeKind) -> int:
        statement = delete(login_challenges).where(
            _challenges.user_id == user_id, _challenges.kind == kind.value
        )
        return (await self._uow.execute(statement)).rowcount

    async def delete_expired(self, before: datetime) -> int:
        statement = delete(login_challenges).where(_challenges.expires_at < before)
        return (await self._uow.execute(statement)).rowcount


def _upsert_factor(dialect_name: str, factor: TotpFactor) -> Insert:
    """Insert the factor's row, or overwrite every column but the key if the user has one."""
    columns = _factor_columns(factor)
    row = {"user_id": factor.user_id, **columns}
    key = [_factors.user_id]
    return (
        conflict_insert(dialect_name, totp_factors)
        .values(row)
        .on_conflict_do_update(index_elements=key, set_=columns)
    )


def _factor_columns(factor: TotpFactor) -> dict[str, Any]:
    return {
        "status": factor.status.value,
        "created_at": factor.created_at,
        "confirmed_at": factor.confirmed_at,
        "last_used_step": factor.last_used_step,
        "failures": factor.failures,
        "locked_until": factor.locked_until,
    }


def _factor(row: Row[Any]) -> TotpFactor:
    return TotpFactor(
        user_id=row.user_id,
        status=FactorStatus(row.status),
        created_at=row.created_at,
        confirmed_at=row.confirmed_at,
        last_used_step=row.last_used_step,
        failures=row.failures,
        locked_until=row.locked_until,
    )


def _code_row(code: RecoveryCode) -> dict[str, Any]:
    return {
        "id": code.id,
        "user_id": code.user_id,
        "code_hash": code.code_hash,
        "created_at": code.created_at,
        "used_at": code.used_at,
    }


def _code(row: Row[Any]) -> RecoveryCode:
    return RecoveryCode(
        id=row.id,
        user_id=row.user_id,
        code_hash=row.code_hash,
        created_at=row.created_at,
        used_at=row.used_at,
    )


def _challenge_row(challenge: LoginChallenge) -> dict[str, Any]:
    return {
        "handle_hash": challenge.handle_hash,
        "kind": challenge.kind.value,
        "user_id": challenge.user_id,
        "amr": json.dumps(list(challenge.amr)),
        "code_digest": challenge.code_digest,
        "remember_me": challenge.remember_me,
        "device_label": challenge.device_label,
        "created_at": challenge.created_at,
        "expires_at": challenge.expires_at,
        "attempts": challenge.attempts,
        "max_attempts": challenge.max_attempts,
        "consumed_at": challenge.consumed_at,
    }


def _challenge(row: Row[Any]) -> LoginChallenge:
    return LoginChallenge(
        handle_hash=row.handle_hash,
        kind=ChallengeKind(row.kind),
        user_id=row.user_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        amr=tuple(json.loads(row.amr)),
        code_digest=row.code_digest,
        remember_me=row.remember_me,
        device_label=row.device_label,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        consumed_at=row.consumed_at,
    )
