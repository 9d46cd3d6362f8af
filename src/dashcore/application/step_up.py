"""Step-up: proving presence again before a dangerous change (security.md STEP-1, AUD-1).

Rules:
- Sensitive operations — changing the email or the password, turning the authenticator app on
  or off, making new recovery codes, adding or removing a provider connection, placing a large
  order — need an authentication no older than ``max_age`` (5 minutes) *with the account's
  strongest factor*: with an authenticator app active, the session must have proven a TOTP or
  recovery code. Otherwise the answer is ``StepUpRequired`` (401, RFC 9470's
  ``insufficient_user_authentication`` with ``max_age``).
- ``POST /auth/step-up`` re-authenticates the signed-in user: with the authenticator app when
  it is active (a password alone is refused), else with the password. A wrong password counts
  against the account's LOCK-1 throttle exactly like a failed login; a wrong code counts against
  the factor.
- Success opens a **new** session (new id, ``auth_time`` now; a privilege change never keeps a
  session id) that inherits the old one's device and remember-me choice, and ends the old one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from dashcore.application.access import AccessTokens, IssuedTokens
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.current_password import CurrentPassword
from dashcore.application.second_factor import SecondFactorProof, SecondFactors
from dashcore.application.sessions import Sessions
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import AuthenticationFailed, Forbidden, InvalidInput, StepUpRequired
from dashcore.domain.mfa import AMR_PASSWORD, SECOND_FACTORS, second_factor_amr
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository

__all__ = ["StepUp", "StepUpGate", "StepUpPolicy", "StepUpProof"]


@dataclass(frozen=True, slots=True)
class StepUpPolicy:
    max_age: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if not timedelta(0) < self.max_age <= timedelta(hours=1):
            raise ValueError("the step-up age is more than 0 and at most an hour")


@dataclass(frozen=True, slots=True)
class StepUpProof:
    """A password, or a second-factor proof; exactly one."""

    password: str | None = field(default=None, repr=False)
    second_factor: SecondFactorProof | None = None

    def __post_init__(self) -> None:
        if (self.password is None) == (self.second_factor is None):
            raise InvalidInput(
                "Give exactly one of password, code or recovery_code.", field="password"
            )


class StepUpGate:
    """Checks, before a sensitive operation, that the caller authenticated recently enough
    with the account's strongest factor. Reads the factor only when the age passes."""

    def __init__(self, second_factors: SecondFactors, clock: Clock, policy: StepUpPolicy) -> None:
        self._second_factors = second_factors
        self._clock = clock
        self.policy = policy

    async def require(self, user_id: UUID, auth_time: datetime, amr: tuple[str, ...]) -> None:
        max_age = int(self.policy.max_age.total_seconds())
        if self._clock.now() - auth_time > self.policy.max_age:
            raise StepUpRequired(max_age=max_age)
        if SECOND_FACTORS.isdisjoint(amr) and await self._second_factors.active_factor(user_id):
            raise StepUpRequired(
                "This needs a recent sign-in with your authenticator app.", max_age=max_age
            )


class StepUp:
    def __init__(
        self,
        users: UserRepository,
        current_password: CurrentPassword,
        second_factors: SecondFactors,
        sessions: Sessions,
        access: AccessTokens,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._users = users
        self._current_password = current_password
        self._second_factors = second_factors
        self._sessions = sessions
        self._access = access
        self._audit = audit
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, user_id: UUID, session_id: str, proof: StepUpProof, caller: CallerContext
    ) -> IssuedTokens:
        user = await self._users.get(user_id)
        if user is None or not user.can_log_in:
            raise AuthenticationFailed("A valid access token is required.", code="invalid_token")
        session = await self._sessions.get_active(user_id, session_id)
        if await self._second_factors.active_factor(user_id) is not None:
            if proof.second_factor is None:
                raise Forbidden(
                    "This account signs in with an authenticator app: give its code.",
                    code="second_factor_required",
                )
            kind = await self._second_factors.verify(
                user, proof.second_factor, caller, purpose="step_up"
            )
            if kind is None:
                raise Forbidden("The code is not valid.", code="wrong_code")
            amr = second_factor_amr(session.amr, str(kind))
        else:
            if proof.password is None:
                raise InvalidInput("This account confirms with its password.", field="password")
            await self._current_password.check(
                user, proof.password, caller, failure_action="authn_step_up_fail"
            )
            amr = session.amr if AMR_PASSWORD in session.amr else (*session.amr, AMR_PASSWORD)
        grant = await self._sessions.step_up(session, amr=amr, caller=caller)
        await self._audit.record(
            "authn_step_up",
            caller=caller,
            target=f"session:{grant.session.id}",
            metadata={"amr": " ".join(amr), "replaces": session.id},
        )
        await self._uow.commit()
        return self._access.issue(user.id, user.role.value, grant.session, grant.refresh_token)
