"""The last step of every login: a session, or a second-factor challenge first
(security.md TOTP-1, SESS-1, NOTIF-1, AUD-1).

Rules:
- A user with an active authenticator app who proved only a first factor (password, or an
  emailed code when the policy asks for it) gets no tokens: the answer is an MFA challenge — a
  random, single-use handle that lives 5 minutes and allows 5 attempts — and
  ``POST /auth/mfa/verify`` with a TOTP or recovery code turns it into a session.
- Otherwise a session starts with the factors proven (``amr``) and ``auth_time`` now, the
  owner is mailed about a device the account has not used before (after its first one), and
  the success is audited (``authn_login_success``).
- A challenge is bound to its user and carries the login's choices (remember me, device label)
  to the session it ends in; it is consumed atomically, so a handle wins at most one session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn
from uuid import UUID

from dashcore.application.access import AccessTokens, IssuedTokens
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.notifications import Notifications
from dashcore.application.second_factor import SecondFactorProof, SecondFactors
from dashcore.application.sessions import Sessions
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.devices import device_fingerprint
from dashcore.domain.errors import AuthenticationFailed
from dashcore.domain.mfa import (
    AMR_RECOVERY_CODE,
    AMR_TOTP,
    ChallengeKind,
    ChallengePolicy,
    LoginChallenge,
    hash_challenge_handle,
    new_challenge_handle,
    parse_challenge_handle,
    second_factor_amr,
)
from dashcore.domain.users import User
from dashcore.ports.clock import Clock
from dashcore.ports.mfa import LoginChallengeRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import KnownDevices, UserRepository

__all__ = [
    "CompleteMfaLogin",
    "ForgetExpiredChallenges",
    "LoginResult",
    "MfaRequired",
    "SignIn",
    "SignInRequest",
]

SECOND_FACTOR_METHODS = (AMR_TOTP, AMR_RECOVERY_CODE)


@dataclass(frozen=True, slots=True)
class MfaRequired:
    """The first factor was right; the second is still due (``mfa_token`` is the handle)."""

    mfa_token: str = field(repr=False)
    expires_in: int
    methods: tuple[str, ...] = SECOND_FACTOR_METHODS


LoginResult = IssuedTokens | MfaRequired


@dataclass(frozen=True, slots=True)
class SignInRequest:
    """Who signs in, with which factors proven, and the login's choices."""

    user: User
    amr: tuple[str, ...]
    remember_me: bool = False
    device_label: str | None = None
    second_factor_due: bool = True
    """``False`` when policy lets this first factor stand alone even with TOTP active."""


def invalid_mfa_token() -> AuthenticationFailed:
    return AuthenticationFailed(
        "The sign-in challenge is not valid: it expired, was used, or ran out of attempts.",
        code="invalid_mfa_token",
    )


class SignIn:
    """Ends a login: starts the session or opens the second-factor challenge. Commits."""

    def __init__(
        self,
        sessions: Sessions,
        access: AccessTokens,
        second_factors: SecondFactors,
        challenges: LoginChallengeRepository,
        devices: KnownDevices,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        *,
        challenge_policy: ChallengePolicy,
    ) -> None:
        self._sessions = sessions
        self._access = access
        self.second_factors = second_factors
        self.challenges = challenges
        self._devices = devices
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._challenge_policy = challenge_policy

    async def __call__(self, request: SignInRequest, caller: CallerContext) -> LoginResult:
        caller = caller.with_actor(f"user:{request.user.id}")
        if request.second_factor_due and await self.second_factors.active_factor(request.user.id):
            return await self._challenge(request, caller)
        return await self.start_session(request, caller)

    async def start_session(self, request: SignInRequest, caller: CallerContext) -> IssuedTokens:
        user, now = request.user, self._clock.now()
        grant = await self._sessions.start(
            user.id,
            caller=caller,
            auth_time=now,
            amr=request.amr,
            remember_me=request.remember_me,
            role=user.role.value,
            device_label=request.device_label,
        )
        issued = self._access.issue(user.id, user.role.value, grant.session, grant.refresh_token)
        await self._announce_new_device(request, caller)
        await self._audit.record(
            "authn_login_success",
            caller=caller,
            target=f"session:{grant.session.id}",
            metadata={"amr": " ".join(request.amr), "remember_me": request.remember_me},
        )
        await self._uow.commit()
        return issued

    async def _challenge(self, request: SignInRequest, caller: CallerContext) -> MfaRequired:
        handle = new_challenge_handle()
        challenge = LoginChallenge.open(
            handle,
            ChallengeKind.SECOND_FACTOR,
            request.user.id,
            self._clock.now(),
            self._challenge_policy,
            amr=request.amr,
            remember_me=request.remember_me,
            device_label=request.device_label,
        )
        await self.challenges.add(challenge)
        await self._audit.record(
            "authn_mfa_challenge",
            caller=caller,
            target=f"user:{request.user.id}",
            metadata={"amr": " ".join(request.amr)},
        )
        await self._uow.commit()
        return MfaRequired(handle, int(challenge.expires_in.total_seconds()))

    async def _announce_new_device(self, request: SignInRequest, caller: CallerContext) -> None:
        user = request.user
        fingerprint = device_fingerprint(caller.user_agent)
        first_device = await self._devices.count(user.id) == 0
        now = self._clock.now()
        if await self._devices.remember(user.id, fingerprint, now) and not first_device:
            device = request.device_label or caller.user_agent
            await self._notifications.new_device_login(
                user.email, at=now, device=device, ip=caller.ip
            )


class CompleteMfaLogin:
    """``POST /auth/mfa/verify``: the second factor that turns a challenge into a session.

    Every refusal about the challenge itself (unknown, expired, used, out of attempts, not a
    second-factor challenge) is the same ``invalid_mfa_token``; a wrong code is
    ``invalid_code`` and spends one of the challenge's 5 attempts and one of the factor's.
    """

    def __init__(
        self,
        sign_in: SignIn,
        users: UserRepository,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._sign_in = sign_in
        self._users = users
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, mfa_token: str, proof: SecondFactorProof, caller: CallerContext
    ) -> IssuedTokens:
        handle_hash = hash_challenge_handle(parse_challenge_handle(mfa_token, field="mfa_token"))
        challenge = await self._sign_in.challenges.count_attempt(handle_hash, self._clock.now())
        user = None if challenge is None else await self._users.get(challenge.user_id)
        if challenge is None or challenge.kind is not ChallengeKind.SECOND_FACTOR or user is None:
            await self._refuse(
                caller, "invalid_challenge", None if challenge is None else challenge.user_id
            )
        if not user.can_log_in:
            await self._refuse(caller, "account_cannot_log_in", user.id)
        await self._uow.commit()  # the attempt counts even if what follows fails
        caller = caller.with_actor(f"user:{user.id}")
        kind = await self._sign_in.second_factors.verify(user, proof, caller, purpose="login")
        if kind is None:
            raise AuthenticationFailed("The code is not valid.", code="invalid_code")
        if not await self._sign_in.challenges.consume(handle_hash, self._clock.now()):
            await self._refuse(caller, "challenge_already_used", user.id)
        request = SignInRequest(
            user,
            second_factor_amr(challenge.amr, str(kind)),
            challenge.remember_me,
            challenge.device_label,
        )
        return await self._sign_in.start_session(request, caller)

    async def _refuse(self, caller: CallerContext, reason: str, user_id: UUID | None) -> NoReturn:
        """Audited against the account when the challenge names one (found by QA: these
        rows had neither actor nor target)."""
        await self._uow.rollback()
        await self._audit.record(
            "authn_login_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=None if user_id is None else f"user:{user_id}",
            metadata={"reason": reason, "step": "second_factor"},
        )
        await self._uow.commit()
        raise invalid_mfa_token()


class ForgetExpiredChallenges:
    """Deletes login challenges past their expiry (used or not): they can no longer be
    answered, so keeping them only grows the table. Run periodically; commits."""

    def __init__(self, challenges: LoginChallengeRepository, uow: UnitOfWork, clock: Clock) -> None:
        self._challenges = challenges
        self._uow = uow
        self._clock = clock

    async def __call__(self) -> int:
        deleted = await self._challenges.delete_expired(self._clock.now())
        await self._uow.commit()
        return deleted
