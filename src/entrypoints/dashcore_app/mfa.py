"""Providers for second factors, emailed login codes and step-up.

From the settings: ``DASHCORE_STEP_UP_MAX_AGE`` (how recent a sign-in sensitive operations
need) and ``DASHCORE_OTP_LOGIN_REQUIRES_TOTP`` (whether an emailed code still needs the
authenticator app when one is on). The login-code key is derived from the active vault key, so
every API process computes the same digests; rotating the vault key voids codes in flight (they
live 5 minutes).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from dishka import Provider, Scope, provide

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.login import Login
from dashcore.application.mfa import RecoveryCodeSet, TotpEnrolment
from dashcore.application.otp_login import LoginCodeDigest, OtpLogin, RequestLoginCode
from dashcore.application.second_factor import SecondFactors
from dashcore.application.sign_in import CompleteMfaLogin, ForgetExpiredChallenges, SignIn
from dashcore.application.step_up import StepUp, StepUpGate, StepUpPolicy
from dashcore.domain.mfa import ChallengePolicy, TotpPolicy
from dashcore.domain.users import LockoutPolicy
from dashcore.ports.clock import Clock
from dashcore.ports.mfa import TotpAlgorithm
from dashcore.ports.passwords import PasswordHasher
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app.settings import Settings
from dashcore_security import KeyRing
from dashcore_security.totp import PyotpTotp

__all__ = ["MfaProvider"]


class MfaProvider(Provider):
    @provide(scope=Scope.APP)
    def totp(self) -> TotpAlgorithm:
        return PyotpTotp()

    @provide(scope=Scope.APP)
    def login_code_digest(self, ring: KeyRing) -> LoginCodeDigest:
        material = ring.keys[ring.active_id].material
        return LoginCodeDigest(
            hmac.new(material, b"dashcore login-code digest v1", hashlib.sha256).digest()
        )

    @provide(scope=Scope.APP)
    def totp_policy(self) -> TotpPolicy:
        return TotpPolicy()

    @provide(scope=Scope.APP)
    def challenge_policy(self) -> ChallengePolicy:
        return ChallengePolicy()

    @provide(scope=Scope.APP)
    def step_up_policy(self, settings: Settings) -> StepUpPolicy:
        return StepUpPolicy(max_age=timedelta(seconds=settings.step_up_max_age))

    @provide(scope=Scope.REQUEST)
    def login(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        sign_in: SignIn,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        lockout: LockoutPolicy,
    ) -> Login:
        return Login(users, hasher, limiter, sign_in, audit, uow, clock, lockout=lockout)

    @provide(scope=Scope.REQUEST)
    def otp_login(
        self,
        users: UserRepository,
        sign_in: SignIn,
        digest: LoginCodeDigest,
        audit: AuditTrail,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
    ) -> OtpLogin:
        return OtpLogin(
            users,
            sign_in,
            digest,
            audit,
            uow,
            clock,
            requires_totp=settings.otp_login_requires_totp,
        )

    second_factors = provide(SecondFactors, scope=Scope.REQUEST)
    sign_in = provide(SignIn, scope=Scope.REQUEST)
    complete_mfa_login = provide(CompleteMfaLogin, scope=Scope.REQUEST)
    forget_expired_challenges = provide(ForgetExpiredChallenges, scope=Scope.REQUEST)
    step_up = provide(StepUp, scope=Scope.REQUEST)
    request_login_code = provide(RequestLoginCode, scope=Scope.REQUEST)
    step_up_gate = provide(StepUpGate, scope=Scope.REQUEST)
    recovery_code_set = provide(RecoveryCodeSet, scope=Scope.REQUEST)
    totp_enrolment = provide(TotpEnrolment, scope=Scope.REQUEST)
