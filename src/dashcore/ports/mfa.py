"""Ports of second factors and login challenges (security.md OTP-1, TOTP-1, RC-1).

Repositories work inside the caller's unit of work and never commit. The atomic operations
(``accept_step``-style compare-and-set, ``consume``, ``count_attempt``) are single statements in
a database, so concurrent requests cannot both win.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from dashcore.domain.mfa import ChallengeKind, LoginChallenge, RecoveryCode, TotpFactor

__all__ = [
    "LoginChallengeRepository",
    "RecoveryCodeRepository",
    "TotpAlgorithm",
    "TotpFactorRepository",
]


class TotpAlgorithm(Protocol):
    """RFC 6238 arithmetic. Secrets are base32 text (what authenticator apps import)."""

    def new_secret(self) -> str:
        """A fresh secret of at least 160 bits from the CSPRNG, base32."""
        ...

    def code_at(self, secret: str, step: int) -> str:
        """The code of time step ``step`` (the RFC 6238 counter)."""
        ...

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        """The ``otpauth://totp/...`` URI an authenticator app scans."""
        ...


class TotpFactorRepository(Protocol):
    async def get(self, user_id: UUID) -> TotpFactor | None: ...

    async def lock(self, user_id: UUID) -> TotpFactor | None:
        """The factor read under a row lock held until the unit of work ends (``SELECT … FOR
        UPDATE``): concurrent checks of one user's codes run one after the other."""
        ...

    async def save(self, factor: TotpFactor) -> None:
        """Insert or replace the user's factor."""
        ...

    async def delete(self, user_id: UUID) -> bool: ...


class RecoveryCodeRepository(Protocol):
    async def replace_all(self, user_id: UUID, codes: Sequence[RecoveryCode]) -> None:
        """Make ``codes`` the user's only recovery codes (the old set, used or not, is gone)."""
        ...

    async def unused(self, user_id: UUID) -> Sequence[RecoveryCode]:
        """The user's codes not used yet, oldest id first."""
        ...

    async def consume(self, code_id: UUID, at: datetime) -> bool:
        """Mark the code used if it is still unused; ``False`` when another use won."""
        ...

    async def delete_all(self, user_id: UUID) -> int: ...


class LoginChallengeRepository(Protocol):
    async def add(self, challenge: LoginChallenge) -> None: ...

    async def get(self, handle_hash: str) -> LoginChallenge | None: ...

    async def count_attempt(self, handle_hash: str, now: datetime) -> LoginChallenge | None:
        """Spend one attempt of an open challenge and return it as it is after that; ``None``
        when it is unknown, consumed, expired or out of attempts (then nothing changes)."""
        ...

    async def consume(self, handle_hash: str, at: datetime) -> bool:
        """Close the challenge if it is still unconsumed; ``False`` when another use won."""
        ...

    async def delete_for_user(self, user_id: UUID, kind: ChallengeKind) -> int:
        """Forget the user's challenges of ``kind`` (a new emailed code replaces the old one)."""
        ...

    async def delete_expired(self, before: datetime) -> int:
        """Forget every challenge that expired before ``before``."""
        ...
