"""Passwordless login with a code sent by email (security.md OTP-1, ENUM-1, AUD-1).

``POST /auth/otp-challenges`` then ``POST /auth/login`` with ``{email, otp, challenge_id}``.
Rules:

- Asking for a code always answers the same way — a fresh challenge id and its lifetime —
  whether or not the address has an account that can log in; only such an account gets a mail.
  For any other address nothing is stored, and the id it got leads nowhere.
- A code is six random digits, lives 5 minutes, works once and only with the challenge that
  asked for it. Only its keyed hash is stored (HMAC-SHA256 under a server key, over the
  challenge and the code). A new code replaces the account's previous one.
- Sending is limited per address (one per 60 s, five per hour) and per client address (twenty
  per hour); the limits key on the address typed, so they behave alike for every address.
- A challenge allows 5 attempts in all (the right code included); then it is dead. Attempts are
  spent atomically, so of 10 simultaneous tries with the right code exactly one gets a session.
- Every refusal — unknown, expired, used or exhausted challenge, a challenge of another address,
  a wrong code, an account that cannot log in — is the same ``invalid_code``.
- An emailed code is one factor. With an authenticator app active, the login still needs it
  unless ``requires_totp`` is off (then the session's ``amr`` is just ``otp``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import NoReturn

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.notifications import Notifications
from dashcore.application.sign_in import LoginResult, SignIn, SignInRequest
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.email import canonical_email_key, email_fingerprint
from dashcore.domain.errors import AuthenticationFailed, InvalidInput, RateLimited
from dashcore.domain.mfa import (
    AMR_EMAIL_OTP,
    ChallengeKind,
    ChallengePolicy,
    LoginChallenge,
    hash_challenge_handle,
    new_challenge_handle,
    parse_challenge_handle,
    parse_one_time_code,
)
from dashcore.domain.ratelimit import RatePolicy
from dashcore.domain.sessions import check_device_label
from dashcore.ports.clock import Clock
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = [
    "OTP_SEND_ADDRESS_HOURLY",
    "OTP_SEND_COOLDOWN",
    "OTP_SEND_IP_HOURLY",
    "LoginCodeDigest",
    "LoginCodeSent",
    "OtpLogin",
    "OtpLoginAttempt",
    "RequestLoginCode",
]

OTP_SEND_COOLDOWN = RatePolicy(name="otp_send_cooldown", limit=1, window=60)
OTP_SEND_ADDRESS_HOURLY = RatePolicy(name="otp_send_address", limit=5, window=3600)
OTP_SEND_IP_HOURLY = RatePolicy(name="otp_send_ip", limit=20, window=3600)


class LoginCodeDigest:
    """The keyed hash an emailed code is stored as (OTP-1: never in plaintext)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the login-code key must be at least 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "LoginCodeDigest(<key>)"

    def digest(self, handle_hash: str, code: str) -> str:
        message = f"{handle_hash}\x1f{code}".encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, challenge: LoginChallenge, code: str) -> bool:
        expected = challenge.code_digest or ""
        return hmac.compare_digest(self.digest(challenge.handle_hash, code), expected)


@dataclass(frozen=True, slots=True)
class LoginCodeSent:
    challenge_id: str
    expires_in: int


@dataclass(frozen=True, slots=True)
class OtpLoginAttempt:
    email: str
    code: str = field(repr=False)
    challenge_id: str
    remember_me: bool = False
    device_label: str | None = None

    def __post_init__(self) -> None:
        check_device_label(self.device_label)


def _email_key(email: str) -> str:
    try:
        return canonical_email_key(email)
    except InvalidInput:
        return email.casefold()


def _new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


class RequestLoginCode:
    def __init__(
        self,
        users: UserRepository,
        sign_in: SignIn,
        digest: LoginCodeDigest,
        limiter: RateLimiter,
        notifications: Notifications,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        *,
        policy: ChallengePolicy,
    ) -> None:
        self._users = users
        self._challenges = sign_in.challenges
        self._digest = digest
        self._limiter = limiter
        self._notifications = notifications
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._policy = policy

    async def __call__(self, email: str, caller: CallerContext) -> LoginCodeSent:
        email_key = _email_key(email)
        for policy, key in (
            (OTP_SEND_IP_HOURLY, caller.ip or "unknown"),
            (OTP_SEND_COOLDOWN, email_key),
            (OTP_SEND_ADDRESS_HOURLY, email_key),
        ):
            decision = await self._limiter.hit(policy, key)
            if not decision.allowed:
                raise RateLimited(retry_after=decision.reset_after, policy=decision.policy)
        handle = new_challenge_handle()
        sent = LoginCodeSent(handle, int(self._policy.ttl.total_seconds()))
        user = await self._users.get_by_email_key(email_key)
        if user is None or not user.can_log_in:
            await self._audit.record(
                "authn_otp_not_sent",
                caller=caller,
                outcome=AuditOutcome.FAILURE,
                target=None if user is None else f"user:{user.id}",
                metadata={
                    "reason": "unknown_account" if user is None else "account_cannot_log_in",
                    "email_fingerprint": email_fingerprint(email_key),
                },
            )
            await self._uow.commit()
            return sent
        code = _new_code()
        handle_hash = hash_challenge_handle(handle)
        await self._challenges.delete_for_user(user.id, ChallengeKind.EMAIL_OTP)
        challenge = LoginChallenge.open(
            handle,
            ChallengeKind.EMAIL_OTP,
            user.id,
            self._clock.now(),
            self._policy,
            code_digest=self._digest.digest(handle_hash, code),
        )
        await self._challenges.add(challenge)
        await self._notifications.login_code(user.email, code, expires_at=challenge.expires_at)
        await self._audit.record(
            "authn_otp_sent", caller=caller.with_actor(f"user:{user.id}"), target=f"user:{user.id}"
        )
        await self._uow.commit()
        return sent


class OtpLogin:
    def __init__(
        self,
        users: UserRepository,
        sign_in: SignIn,
        digest: LoginCodeDigest,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        *,
        requires_totp: bool = True,
    ) -> None:
        self._users = users
        self._sign_in = sign_in
        self._digest = digest
        self._audit = audit
        self._uow = uow
        self._clock = clock
        self._requires_totp = requires_totp

    async def __call__(self, attempt: OtpLoginAttempt, caller: CallerContext) -> LoginResult:
        code = parse_one_time_code(attempt.code, field="otp")
        handle = parse_challenge_handle(attempt.challenge_id, field="challenge_id")
        handle_hash = hash_challenge_handle(handle)
        challenges = self._sign_in.challenges
        challenge = await challenges.count_attempt(handle_hash, self._clock.now())
        if challenge is None or challenge.kind is not ChallengeKind.EMAIL_OTP:
            await self._refuse(caller, "invalid_challenge")
        await self._uow.commit()  # the attempt is spent whatever follows
        user = await self._users.get(challenge.user_id)
        if user is None or user.email.key != _email_key(attempt.email):
            await self._refuse(caller, "challenge_of_another_address", challenge)
        if not self._digest.matches(challenge, code):
            await self._refuse(caller, "wrong_code", challenge)
        if not await challenges.consume(handle_hash, self._clock.now()):
            await self._refuse(caller, "challenge_already_used", challenge)
        if not user.can_log_in:
            await self._refuse(caller, "account_cannot_log_in", challenge)
        await self._audit.record(
            "authn_otp_verified",
            caller=caller.with_actor(f"user:{user.id}"),
            target=f"user:{user.id}",
        )
        request = SignInRequest(
            user,
            (AMR_EMAIL_OTP,),
            attempt.remember_me,
            attempt.device_label,
            second_factor_due=self._requires_totp,
        )
        return await self._sign_in(request, caller)

    async def _refuse(
        self, caller: CallerContext, reason: str, challenge: LoginChallenge | None = None
    ) -> NoReturn:
        await self._uow.rollback()
        metadata: dict[str, str | int] = {"reason": reason, "factor": AMR_EMAIL_OTP}
        if challenge is not None:
            metadata["attempts"] = challenge.attempts
        await self._audit.record(
            "authn_login_fail",
            caller=caller,
            outcome=AuditOutcome.FAILURE,
            target=None if challenge is None else f"user:{challenge.user_id}",
            metadata=metadata,
        )
        await self._uow.commit()
        raise AuthenticationFailed(
            "The code is wrong, expired or already used; ask for a new one.", code="invalid_code"
        )
