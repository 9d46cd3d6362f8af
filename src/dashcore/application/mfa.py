"""Managing the authenticator app and recovery codes (security.md TOTP-1, RC-1, AUD-1).

Rules:
- Enrolling makes a fresh 160-bit secret, seals it in the vault and returns it once with its
  ``otpauth://`` URI; the factor stays *pending* (two-step sign-in off) until a first valid code
  confirms it. Enrolling again while pending replaces the secret; while active it is a conflict.
- Confirming turns the factor on and returns 10 recovery codes, shown this once; each is
  stored as its own password hash. Making a new set voids the old one entirely. Confirming
  also ends every other session of the account: one signed in with the password alone (a
  stolen one, say) must sign in again, with the second factor.
- Turning the factor off (the owner, after step-up, or an administrator) deletes the secret,
  the factor and the recovery codes. Turning on, off, and a new set of codes are audited and
  mailed to the owner.
- Recovery codes are hashed before any transaction opens (ten password hashes take a while);
  the confirming code is checked again under the factor's row lock before anything is saved,
  so a code cannot confirm twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn
from uuid import UUID

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.notifications import Notifications
from dashcore.application.second_factor import TOTP_SECRET_PURPOSE, SecondFactors, totp_owner
from dashcore.application.secrets import SecretKeeper
from dashcore.application.sessions import Sessions
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import Conflict, Forbidden, NotFound
from dashcore.domain.mfa import (
    FactorStatus,
    RecoveryCode,
    TotpFactor,
    new_recovery_codes,
    normalise_recovery_code,
    parse_one_time_code,
)
from dashcore.domain.sessions import RevocationReason, SessionId
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.mfa import RecoveryCodeRepository, TotpAlgorithm, TotpFactorRepository
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "TOTP_ISSUER",
    "MfaState",
    "RecoveryCodeSet",
    "TotpEnrolment",
    "TotpSetup",
]

TOTP_ISSUER = "dashcore"


@dataclass(frozen=True, slots=True)
class TotpSetup:
    """What an authenticator app needs, returned once at enrolment."""

    secret: str = field(repr=False)
    provisioning_uri: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MfaState:
    totp: FactorStatus | None
    confirmed_at: datetime | None
    recovery_codes_remaining: int


def _no_factor() -> NotFound:
    return NotFound("The authenticator app is not set up.", code="mfa_not_enabled")


class RecoveryCodeSet:
    """Makes a user's recovery codes: generated, hashed off any transaction, stored as a set."""

    def __init__(
        self,
        codes: RecoveryCodeRepository,
        hasher: PasswordHasher,
        clock: Clock,
        ids: IdGenerator,
    ) -> None:
        self._codes = codes
        self._hasher = hasher
        self._clock = clock
        self._ids = ids

    async def hashed(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Fresh codes (as shown) and their hashes (of the canonical form), in order."""
        shown = new_recovery_codes()
        hashes = await asyncio.gather(
            *(self._hasher.hash(normalise_recovery_code(code)) for code in shown)
        )
        return shown, tuple(hashes)

    async def store(self, user_id: UUID, hashes: Sequence[str]) -> None:
        now = self._clock.now()
        await self._codes.replace_all(
            user_id, [RecoveryCode(self._ids.new_id(), user_id, h, now) for h in hashes]
        )

    async def remaining(self, user_id: UUID) -> int:
        return len(await self._codes.unused(user_id))

    async def forget(self, user_id: UUID) -> None:
        await self._codes.delete_all(user_id)


class TotpEnrolment:
    """Start, confirm and end the authenticator app; make new recovery codes; report state."""

    def __init__(
        self,
        users: UserRepository,
        factors: TotpFactorRepository,
        second_factors: SecondFactors,
        recovery_codes: RecoveryCodeSet,
        keeper: SecretKeeper,
        totp: TotpAlgorithm,
        notifications: Notifications,
        sessions: Sessions,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._factors = factors
        self._second_factors = second_factors
        self._recovery_codes = recovery_codes
        self._keeper = keeper
        self._totp = totp
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def start(self, user_id: UUID, caller: CallerContext) -> TotpSetup:
        user = await self._user(user_id)
        factor = await self._factors.lock(user_id)
        if factor is not None and factor.is_active:
            raise Conflict("The authenticator app is already on.", code="mfa_already_enabled")
        secret = self._totp.new_secret()
        await self._keeper.store(totp_owner(user_id), TOTP_SECRET_PURPOSE, secret.encode("ascii"))
        await self._factors.save(TotpFactor.enrol(user_id, self._clock.now()))
        await self._audit.record(
            "authn_mfa_enrolment_started", caller=caller, target=f"user:{user_id}"
        )
        await self._uow.commit()
        uri = self._totp.provisioning_uri(secret, account=user.email.value, issuer=TOTP_ISSUER)
        return TotpSetup(secret, uri)

    async def confirm(
        self, user_id: UUID, session_id: str, code: str, caller: CallerContext
    ) -> tuple[str, ...]:
        """Turn the factor on with a first valid code and end every session but
        ``session_id`` (the one confirming); the recovery codes, shown once."""
        code = parse_one_time_code(code)
        user = await self._user(user_id)
        factor = await self._pending(user_id)
        if await self._second_factors.matching_step(factor, code, self._clock.now()) is None:
            await self._wrong_code(factor, caller)
        await self._uow.rollback()  # hash the codes with no transaction open
        shown, hashes = await self._recovery_codes.hashed()
        factor = await self._pending(user_id, lock=True)
        now = self._clock.now()
        step = await self._second_factors.matching_step(factor, code, now)
        if step is None:
            await self._wrong_code(factor, caller)
        await self._factors.save(factor.accepted(step, now))
        await self._recovery_codes.store(user_id, hashes)
        await self._sessions.end_all(
            user_id,
            reason=RevocationReason.MFA_ENABLED,
            caller=caller,
            except_session_id=SessionId(session_id),
        )
        await self._notifications.totp_enabled(user.email, at=now)
        await self._audit.record("authn_mfa_enabled", caller=caller, target=f"user:{user_id}")
        await self._uow.commit()
        return shown

    async def regenerate_recovery_codes(
        self, user_id: UUID, caller: CallerContext
    ) -> tuple[str, ...]:
        shown, hashes = await self._recovery_codes.hashed()
        factor = await self._factors.lock(user_id)
        if factor is None or not factor.is_active:
            raise _no_factor()
        user = await self._user(user_id)
        await self._recovery_codes.store(user_id, hashes)
        # Found by QA: the module's rule said a new set is mailed, and none was.
        await self._notifications.recovery_codes_replaced(user.email, at=self._clock.now())
        await self._audit.record(
            "authn_recovery_codes_regenerated", caller=caller, target=f"user:{user_id}"
        )
        await self._uow.commit()
        return shown

    async def disable(
        self, user_id: UUID, caller: CallerContext, *, by_administrator: bool = False
    ) -> None:
        """Turn the factor off (pending or active) and forget its secret and codes. An
        administrator resets another account's factor (a lost phone), never their own: their own
        goes off through the owner's route, which asks a step-up with the factor itself."""
        if by_administrator and caller.actor == f"user:{user_id}":
            raise Conflict(
                "Administrators turn their own authenticator app off as its owner "
                "(DELETE /api/v1/auth/mfa/totp, after a step-up with the app), not by a reset.",
                code="cannot_reset_own_mfa",
            )
        user = await self._user(user_id)
        factor = await self._factors.lock(user_id)
        if factor is None:
            raise _no_factor()
        await self._factors.delete(user_id)
        await self._keeper.forget(totp_owner(user_id), TOTP_SECRET_PURPOSE)
        await self._recovery_codes.forget(user_id)
        if factor.is_active:
            await self._notifications.totp_disabled(
                user.email, at=self._clock.now(), by_administrator=by_administrator
            )
        await self._audit.record(
            "admin_mfa_reset" if by_administrator else "authn_mfa_disabled",
            caller=caller,
            target=f"user:{user_id}",
            metadata={"was": str(factor.status)},
        )
        await self._uow.commit()

    async def state(self, user_id: UUID) -> MfaState:
        factor = await self._factors.get(user_id)
        if factor is None:
            return MfaState(None, None, 0)
        return MfaState(
            factor.status, factor.confirmed_at, await self._recovery_codes.remaining(user_id)
        )

    async def _user(self, user_id: UUID) -> User:
        user = await self._users.get(user_id)
        if user is None:
            raise NotFound("No such user.", code="user_not_found")
        return user

    async def _pending(self, user_id: UUID, *, lock: bool = False) -> TotpFactor:
        factor = await (self._factors.lock(user_id) if lock else self._factors.get(user_id))
        if factor is None:
            raise Conflict("Start the enrolment first.", code="no_pending_enrolment")
        if factor.is_active:
            raise Conflict("The authenticator app is already on.", code="mfa_already_enabled")
        if factor.is_locked(self._clock.now()):
            raise Forbidden(
                "Too many wrong codes; start the enrolment again later.", code="wrong_code"
            )
        return factor

    async def _wrong_code(self, factor: TotpFactor, caller: CallerContext) -> NoReturn:
        """A wrong confirming code counts against the pending factor, like any other."""
        await self._uow.rollback()
        current = await self._factors.lock(factor.user_id) or factor
        await self._factors.save(current.failed(self._clock.now(), self._second_factors.policy))
        await self._audit.record(
            "authn_mfa_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=f"user:{factor.user_id}",
            metadata={"purpose": "enrolment", "reason": "wrong_totp_code"},
        )
        await self._uow.commit()
        raise Forbidden("The code is not valid.", code="wrong_code")
