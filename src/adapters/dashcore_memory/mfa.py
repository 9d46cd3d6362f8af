"""Second factors and login challenges in memory (embedded default, fast tests).

The entities are frozen, so they are stored as they are. A memory unit of work sees only
committed state plus its own writes, so two open units of work can both find a recovery code
unspent. What keeps single use exact is a *claim*: spending a code, closing a challenge or
counting its n-th attempt also inserts a row keyed by what was spent, and of two units of work
that claimed the same key the second to commit fails with ``Conflict`` (the way the memory
audit log keeps its chains from forking). Within one unit of work, or when each commits before
the next reads, the calls answer exactly as the SQL adapter does. ``lock`` takes no lock.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from dashcore.domain.mfa import ChallengeKind, LoginChallenge, RecoveryCode, TotpFactor
from dashcore.ports.mfa import (
    LoginChallengeRepository,
    RecoveryCodeRepository,
    TotpFactorRepository,
)
from dashcore_memory.store import MemoryUnitOfWork

__all__ = [
    "MemoryLoginChallengeRepository",
    "MemoryRecoveryCodeRepository",
    "MemoryTotpFactorRepository",
]

FACTORS = "totp_factors"
CODES = "recovery_codes"
CODE_CLAIMS = "recovery_code_claims"
CHALLENGES = "login_challenges"
CHALLENGE_CLAIMS = "login_challenge_claims"
"""Claims are keyed ``(handle_hash, "attempt", n)`` and ``(handle_hash, "consumed")``."""


def _claim(uow: MemoryUnitOfWork, table: str, key: Hashable, at: datetime) -> None:
    uow.put(table, key, at, insert=True)


class MemoryTotpFactorRepository(TotpFactorRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def get(self, user_id: UUID) -> TotpFactor | None:
        factor: TotpFactor | None = self._uow.get(FACTORS, user_id)
        return factor

    async def lock(self, user_id: UUID) -> TotpFactor | None:
        return await self.get(user_id)

    async def save(self, factor: TotpFactor) -> None:
        self._uow.put(FACTORS, factor.user_id, factor)

    async def delete(self, user_id: UUID) -> bool:
        if self._uow.get(FACTORS, user_id) is None:
            return False
        self._uow.delete(FACTORS, user_id)
        return True


class MemoryRecoveryCodeRepository(RecoveryCodeRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    def _of(self, user_id: UUID) -> list[RecoveryCode]:
        return [code for _, code in self._uow.rows(CODES) if code.user_id == user_id]

    async def replace_all(self, user_id: UUID, codes: Sequence[RecoveryCode]) -> None:
        if any(code.user_id != user_id for code in codes):
            raise ValueError("every recovery code must belong to the user whose set it replaces")
        await self.delete_all(user_id)
        for code in codes:
            self._uow.put(CODES, code.id, code, insert=True)

    async def unused(self, user_id: UUID) -> Sequence[RecoveryCode]:
        return sorted((c for c in self._of(user_id) if c.used_at is None), key=lambda c: c.id)

    async def consume(self, code_id: UUID, at: datetime) -> bool:
        code: RecoveryCode | None = self._uow.get(CODES, code_id)
        if code is None or code.used_at is not None:
            return False
        _claim(self._uow, CODE_CLAIMS, code_id, at)
        self._uow.put(CODES, code_id, replace(code, used_at=at))
        return True

    async def delete_all(self, user_id: UUID) -> int:
        doomed = self._of(user_id)
        for code in doomed:
            self._uow.delete(CODES, code.id)
            self._uow.delete(CODE_CLAIMS, code.id)
        return len(doomed)


class MemoryLoginChallengeRepository(LoginChallengeRepository):
    def __init__(self, uow: MemoryUnitOfWork) -> None:
        self._uow = uow

    async def add(self, challenge: LoginChallenge) -> None:
        self._uow.put(CHALLENGES, challenge.handle_hash, challenge, insert=True)

    async def get(self, handle_hash: str) -> LoginChallenge | None:
        challenge: LoginChallenge | None = self._uow.get(CHALLENGES, handle_hash)
        return challenge

    async def count_attempt(self, handle_hash: str, now: datetime) -> LoginChallenge | None:
        challenge = await self.get(handle_hash)
        if challenge is None or not challenge.is_open(now):
            return None
        counted = replace(challenge, attempts=challenge.attempts + 1)
        _claim(self._uow, CHALLENGE_CLAIMS, (handle_hash, "attempt", counted.attempts), now)
        self._uow.put(CHALLENGES, handle_hash, counted)
        return counted

    async def consume(self, handle_hash: str, at: datetime) -> bool:
        challenge = await self.get(handle_hash)
        if challenge is None or challenge.consumed_at is not None:
            return False
        _claim(self._uow, CHALLENGE_CLAIMS, (handle_hash, "consumed"), at)
        self._uow.put(CHALLENGES, handle_hash, replace(challenge, consumed_at=at))
        return True

    async def delete_for_user(self, user_id: UUID, kind: ChallengeKind) -> int:
        return self._delete(lambda c: c.user_id == user_id and c.kind is kind)

    async def delete_expired(self, before: datetime) -> int:
        return self._delete(lambda c: c.expires_at < before)

    def _delete(self, doomed: Callable[[LoginChallenge], bool]) -> int:
        hashes = {key for key, challenge in self._uow.rows(CHALLENGES) if doomed(challenge)}
        for key in hashes:
            self._uow.delete(CHALLENGES, key)
        for key, _ in self._uow.rows(CHALLENGE_CLAIMS):
            if isinstance(key, tuple) and key[0] in hashes:
                self._uow.delete(CHALLENGE_CLAIMS, key)
        return len(hashes)
