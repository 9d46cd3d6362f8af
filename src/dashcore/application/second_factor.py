"""Checking a user's second factor: an authenticator-app code or a recovery code
(security.md TOTP-1, RC-1, AUD-1).

Used wherever the second factor must be proven: finishing a login, stepping up, completing a
password reset while TOTP is on, confirming an enrolment. Rules:

- A factor locked after repeated failures refuses every code with ``RateLimited``
  (``second_factor_locked``) until the lock ends; the caller already proved a first factor,
  so saying so reveals nothing.
- A TOTP code is accepted for the current or previous 30-second step, each step once. The
  check runs under the factor's row lock, so two requests with the same code cannot both win.
- A recovery code is compared against each unused code's password hash *outside* any
  transaction (hashing takes hundreds of milliseconds), then consumed with one atomic update:
  of two simultaneous uses exactly one succeeds. Its owner gets a mail.
- Every failure counts against the factor (TOTP-1's 5 → 15-minute lock, 100 → TOTP codes
  retired), is audited and committed before the caller hears of it; a success clears the count
  and is left for the caller to commit with the rest of its work.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.notifications import Notifications
from dashcore.application.secrets import SecretKeeper
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import RateLimited
from dashcore.domain.mfa import (
    AMR_RECOVERY_CODE,
    AMR_TOTP,
    RecoveryCode,
    TotpFactor,
    TotpPolicy,
    normalise_recovery_code,
    parse_one_time_code,
)
from dashcore.domain.time import seconds_until
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.mfa import RecoveryCodeRepository, TotpAlgorithm, TotpFactorRepository
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.uow import UnitOfWork

__all__ = ["TOTP_SECRET_PURPOSE", "FactorKind", "SecondFactorProof", "SecondFactors", "totp_owner"]

TOTP_SECRET_PURPOSE = "totp_secret"  # noqa: S105 (a vault purpose name)


def totp_owner(user_id: UUID) -> str:
    """The vault owner of a user's TOTP secret."""
    return f"user:{user_id}"


class FactorKind(StrEnum):
    TOTP = AMR_TOTP
    RECOVERY_CODE = AMR_RECOVERY_CODE


@dataclass(frozen=True, slots=True)
class SecondFactorProof:
    """What the user typed, checked for shape on construction (``InvalidInput`` otherwise)."""

    kind: FactorKind
    value: str = field(repr=False)

    def __post_init__(self) -> None:
        if self.kind is FactorKind.TOTP:
            parse_one_time_code(self.value)
        else:
            object.__setattr__(self, "value", normalise_recovery_code(self.value))

    @classmethod
    def of(cls, *, code: str | None, recovery_code: str | None) -> SecondFactorProof | None:
        """The proof in a request that carries at most one of the two fields."""
        if code is not None:
            return cls(FactorKind.TOTP, code)
        if recovery_code is not None:
            return cls(FactorKind.RECOVERY_CODE, recovery_code)
        return None


class SecondFactors:
    def __init__(
        self,
        factors: TotpFactorRepository,
        recovery_codes: RecoveryCodeRepository,
        keeper: SecretKeeper,
        totp: TotpAlgorithm,
        hasher: PasswordHasher,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        *,
        policy: TotpPolicy,
    ) -> None:
        self._factors = factors
        self._recovery_codes = recovery_codes
        self._keeper = keeper
        self._totp = totp
        self._hasher = hasher
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self.policy = policy

    async def active_factor(self, user_id: UUID) -> TotpFactor | None:
        factor = await self._factors.get(user_id)
        return factor if factor is not None and factor.is_active else None

    async def matching_step(self, factor: TotpFactor, code: str, now: datetime) -> int | None:
        """The unused step of the accepted window whose code is ``code``, if any."""
        secret = await self._keeper.reveal(totp_owner(factor.user_id), TOTP_SECRET_PURPOSE)
        text = secret.decode("ascii")
        for step in factor.usable_steps(now, self.policy):
            if hmac.compare_digest(self._totp.code_at(text, step), code):
                return step
        return None

    async def verify(
        self, user: User, proof: SecondFactorProof, caller: CallerContext, *, purpose: str
    ) -> FactorKind | None:
        """Check ``proof`` against the user's active factor; the kind that passed, or ``None``
        after the failure was counted, audited and committed. ``purpose`` names the flow in
        the audit log (``login``, ``step_up``, ``password_reset``)."""
        if proof.kind is FactorKind.TOTP:
            return await self._verify_totp(user, proof.value, caller, purpose)
        return await self._verify_recovery_code(user, proof.value, caller, purpose)

    async def _verify_totp(
        self, user: User, code: str, caller: CallerContext, purpose: str
    ) -> FactorKind | None:
        now = self._clock.now()
        factor = await self._locked_active_factor(user, caller, purpose)
        if factor is None:
            return None
        if factor.codes_retired(self.policy):
            await self._fail(factor, caller, purpose, "totp_retired", count=False)
            return None
        step = await self.matching_step(factor, code, now)
        if step is None:
            await self._fail(factor, caller, purpose, "wrong_totp_code")
            return None
        await self._factors.save(factor.accepted(step, now))
        await self._succeeded(user, FactorKind.TOTP, caller, purpose)
        return FactorKind.TOTP

    async def _verify_recovery_code(
        self, user: User, code: str, caller: CallerContext, purpose: str
    ) -> FactorKind | None:
        if await self._locked_active_factor(user, caller, purpose) is None:
            return None
        candidates = await self._recovery_codes.unused(user.id)
        await self._uow.rollback()  # no transaction (nor row lock) open while hashing
        matched = await self._match_recovery_code(code, candidates)
        factor = await self._locked_active_factor(user, caller, purpose)
        if factor is None:
            return None
        now = self._clock.now()
        if matched is None or not await self._recovery_codes.consume(matched.id, now):
            await self._fail(factor, caller, purpose, "wrong_recovery_code")
            return None
        await self._factors.save(factor.recovered())
        remaining = len(await self._recovery_codes.unused(user.id))
        await self._notifications.recovery_code_used(user.email, at=now, remaining=remaining)
        await self._succeeded(
            user, FactorKind.RECOVERY_CODE, caller, purpose, unused_left=remaining
        )
        return FactorKind.RECOVERY_CODE

    async def _match_recovery_code(
        self, code: str, candidates: Sequence[RecoveryCode]
    ) -> RecoveryCode | None:
        for candidate in candidates:
            if (await self._hasher.verify(code, candidate.code_hash)).valid:
                return candidate
        return None

    async def _locked_active_factor(
        self, user: User, caller: CallerContext, purpose: str
    ) -> TotpFactor | None:
        """The active factor under its row lock; ``None`` (audited) when there is none, and
        ``RateLimited`` while it is locked."""
        factor = await self._factors.lock(user.id)
        now = self._clock.now()
        if factor is None or not factor.is_active:
            await self._audit_failure(user, caller, purpose, "no_second_factor")
            await self._uow.commit()
            return None
        if factor.is_locked(now):
            await self._audit_failure(user, caller, purpose, "second_factor_locked")
            await self._uow.commit()
            assert factor.locked_until is not None
            raise RateLimited(
                "Too many wrong codes: the second factor is locked for a while.",
                retry_after=seconds_until(factor.locked_until, now),
                code="second_factor_locked",
            )
        return factor

    async def _fail(
        self,
        factor: TotpFactor,
        caller: CallerContext,
        purpose: str,
        reason: str,
        *,
        count: bool = True,
    ) -> None:
        now = self._clock.now()
        after = factor.failed(now, self.policy) if count else factor
        if after != factor:
            await self._factors.save(after)
        metadata: dict[str, str | int] = {
            "purpose": purpose,
            "reason": reason,
            "failures": after.failures,
        }
        await self._audit.record(
            "authn_mfa_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"user:{factor.user_id}",
            metadata=metadata,
        )
        if after.is_locked(now) and not factor.is_locked(now):
            await self._audit.record(
                "authn_mfa_lock",
                caller=caller,
                outcome=AuditOutcome.FAILURE,
                target=f"user:{factor.user_id}",
                metadata={
                    "failures": after.failures,
                    "locked_for": int(self.policy.lock_for.total_seconds()),
                },
            )
        await self._uow.commit()

    async def _audit_failure(
        self, user: User, caller: CallerContext, purpose: str, reason: str
    ) -> None:
        await self._audit.record(
            "authn_mfa_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"user:{user.id}",
            metadata={"purpose": purpose, "reason": reason},
        )

    async def _succeeded(
        self,
        user: User,
        kind: FactorKind,
        caller: CallerContext,
        purpose: str,
        *,
        unused_left: int | None = None,
    ) -> None:
        metadata: dict[str, str | int] = {"purpose": purpose, "factor": str(kind)}
        if unused_left is not None:
            metadata["unused_left"] = unused_left
        await self._audit.record(
            "authn_mfa_success" if kind is FactorKind.TOTP else "authn_recovery_code_used",
            caller=caller,
            target=f"user:{user.id}",
            metadata=metadata,
        )
