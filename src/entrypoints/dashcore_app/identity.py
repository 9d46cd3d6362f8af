"""Providers for identity: users, sessions, tokens, passwords, rate limits and mail.

What is chosen from the settings:
- sessions and revocations live in Redis when ``DASHCORE_REDIS_URL`` is set (shared by every
  API process), else in the process (embedded default);
- rate-limit counters likewise, with an in-process fallback while Redis is down;
- the mailer is console, memory, SMTP or SES (``DASHCORE_MAILER``);
- password hashing uses the recommended argon2id profile, the security floor, or (tests only,
  refused in production) the cheapest one;
- new passwords are also checked against the Pwned Passwords range API at
  ``DASHCORE_BREACHED_PASSWORDS_URL`` (production: the public service unless ``off``), or
  against the shipped common-password list alone when the check is off.
Repositories (users, email tokens, outbox) come with the database providers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator
from datetime import timedelta

from dishka import Provider, Scope, decorate, provide

from dashcore.application.access import AccessTokens
from dashcore.application.admin import CreateAdmin, ListUsers, ManageUser
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.current_password import CurrentPassword
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.notifications import Notifications
from dashcore.application.outbox import DeliverOutbox, MailQueue
from dashcore.application.passwords import (
    ChangePassword,
    CheckPasswordReset,
    CompletePasswordReset,
    RequestPasswordReset,
)
from dashcore.application.profile import ChangeEmail, ForgetfulUsers, GetProfile, UpdateProfile
from dashcore.application.registration import (
    RegisterUser,
    ResendVerification,
    VerifyEmail,
)
from dashcore.application.sessions import HmacRefreshSecretDeriver, Sessions
from dashcore.application.token_refresh import RefreshTokens
from dashcore.domain.common_passwords import shipped_common_passwords
from dashcore.domain.passwords import PasswordPolicy
from dashcore.domain.sessions import SessionPolicy
from dashcore.domain.users import LockoutPolicy
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.mail import Mailer, Outbox
from dashcore.ports.mfa import LoginChallengeRepository
from dashcore.ports.passwords import BreachedPasswords, PasswordHasher
from dashcore.ports.providers import RefreshLock
from dashcore.ports.ratelimit import RateLimiter
from dashcore.ports.sessions import RefreshSecretDeriver, RevocationList, SessionStore
from dashcore.ports.tokens import AccessTokenIssuer, AccessTokenVerifier
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import (
    EmailTokenRepository,
    ProfileCache,
    UserRepository,
)
from dashcore.ports.vault import Vault
from dashcore_app.keys import load_signing_key_ring
from dashcore_app.settings import MailerKind, Settings
from dashcore_mail.console import ConsoleMailer
from dashcore_mail.memory import MemoryMailer
from dashcore_memory.connections import MemoryRefreshLock
from dashcore_memory.profile_cache import MemoryProfileCache
from dashcore_memory.sessions import MemoryRevocationList, MemorySessionStore
from dashcore_ratelimit.limiter import LimitsRateLimiter, NoRateLimits
from dashcore_security import KeyRing
from dashcore_security.breached_passwords import HibpBreachedPasswords, NoBreachCheck
from dashcore_security.jwt import DEFAULT_LEEWAY, JwtAccessTokens
from dashcore_security.passwords import CHEAPEST, PROFILES, LibpassHasher

__all__ = ["IdentityProvider", "InProcessSessionsProvider"]


def session_policy(settings: Settings) -> SessionPolicy:
    return SessionPolicy(
        idle_timeout=timedelta(minutes=settings.session_idle_minutes),
        absolute_lifetime=timedelta(hours=settings.session_absolute_hours),
        grace=timedelta(seconds=settings.refresh_grace_seconds),
        max_active=settings.max_sessions,
    )


def _mailer(settings: Settings) -> Mailer:
    if settings.mailer is MailerKind.SMTP:
        from dashcore_mail.smtp import SmtpMailer, SmtpSecurity, SmtpSettings  # the mail extra

        return SmtpMailer(
            SmtpSettings(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.mail_from,
                security=SmtpSecurity(settings.smtp_security.value),
                username=settings.smtp_username,
                password=settings.smtp_password,
                timeout=settings.smtp_timeout,
            )
        )
    if settings.mailer is MailerKind.SES:
        from dashcore_mail.ses import SesMailer, SesSettings  # the mail extra

        return SesMailer(
            SesSettings(
                region=settings.ses_region,
                sender=settings.mail_from,
                endpoint_url=settings.ses_endpoint_url,
            )
        )
    if settings.mailer is MailerKind.MEMORY:
        return MemoryMailer()
    return ConsoleMailer(settings.mail_from)


class IdentityProvider(Provider):
    """Everything identity needs whatever the backends are."""

    @provide(scope=Scope.APP)
    def access_tokens(self, settings: Settings, clock: Clock) -> JwtAccessTokens:
        return JwtAccessTokens(
            load_signing_key_ring(settings),
            settings.jwt_issuer,
            settings.jwt_audience,
            timedelta(seconds=settings.access_token_ttl),
            DEFAULT_LEEWAY,
            clock,
        )

    @provide(scope=Scope.APP)
    def issuer(self, tokens: JwtAccessTokens) -> AccessTokenIssuer:
        return tokens

    @provide(scope=Scope.APP)
    def verifier(self, tokens: JwtAccessTokens) -> AccessTokenVerifier:
        return tokens

    @provide(scope=Scope.APP)
    def hasher(self, settings: Settings) -> PasswordHasher:
        profile = PROFILES[settings.hash_profile]
        return LibpassHasher(
            profile, max_waiting=settings.hash_max_waiting, allow_weak=profile is CHEAPEST
        )

    @provide(scope=Scope.APP)
    def password_policy(self) -> PasswordPolicy:
        return PasswordPolicy(shipped_common_passwords())

    @provide(scope=Scope.APP)
    async def breached_passwords(self, settings: Settings) -> AsyncIterator[BreachedPasswords]:
        """One HTTP client per process for the range API, or no check when it is off."""
        if settings.breached_passwords_url is None:
            yield NoBreachCheck()
            return
        breaches = HibpBreachedPasswords(settings.breached_passwords_url)
        yield breaches
        await breaches.aclose()

    @provide(scope=Scope.APP)
    def lockout_policy(self) -> LockoutPolicy:
        return LockoutPolicy()

    @provide(scope=Scope.APP)
    def refresh_deriver(self, ring: KeyRing) -> RefreshSecretDeriver:
        """Keyed by the active vault key (so every process derives alike); a vault rotation
        only voids grace-window retries in flight at that moment."""
        material = ring.keys[ring.active_id].material
        key = hmac.new(material, b"dashcore refresh-token successor v1", hashlib.sha256).digest()
        return HmacRefreshSecretDeriver(key)

    @provide(scope=Scope.APP)
    def mailer(self, settings: Settings) -> Mailer:
        return _mailer(settings)

    @provide(scope=Scope.APP)
    async def rate_limiter(self, settings: Settings) -> AsyncIterator[RateLimiter]:
        """``DASHCORE_RATE_LIMITS=false`` turns off every limit, the use cases' own too."""
        limiter: LimitsRateLimiter | NoRateLimits = NoRateLimits()
        if settings.rate_limits:
            limiter = LimitsRateLimiter(
                settings.redis_url or "memory://", key_prefix=f"{settings.redis_prefix}ratelimit"
            )
        yield limiter
        await limiter.aclose()

    @provide(scope=Scope.APP)
    def profile_cache(self, clock: Clock) -> ProfileCache:
        return MemoryProfileCache(clock)

    # -- per request -------------------------------------------------------------------
    @decorate
    def forgetful_users(self, users: UserRepository, cache: ProfileCache) -> UserRepository:
        return ForgetfulUsers(users, cache)

    @provide(scope=Scope.REQUEST)
    def mail_queue(self, outbox: Outbox, vault: Vault, ids: IdGenerator) -> MailQueue:
        return MailQueue(outbox, vault, ids)

    @provide(scope=Scope.REQUEST)
    def notifications(self, queue: MailQueue, clock: Clock, settings: Settings) -> Notifications:
        return Notifications(queue, clock, settings.public_base_url)

    @provide(scope=Scope.REQUEST)
    def deliver_outbox(
        self, uow: UnitOfWork, outbox: Outbox, mailer: Mailer, vault: Vault, clock: Clock
    ) -> DeliverOutbox:
        return DeliverOutbox(uow, outbox, mailer, vault, clock)

    @provide(scope=Scope.REQUEST)
    def sessions(
        self,
        store: SessionStore,
        revocations: RevocationList,
        deriver: RefreshSecretDeriver,
        uow: UnitOfWork,
        audit: AuditTrail,
        clock: Clock,
        settings: Settings,
        challenges: LoginChallengeRepository,
    ) -> Sessions:
        return Sessions(
            store,
            revocations,
            deriver,
            uow,
            audit,
            clock,
            challenges=challenges,
            policy=session_policy(settings),
            access_token_lifetime=timedelta(seconds=settings.access_token_ttl),
            access_token_leeway=DEFAULT_LEEWAY,
        )

    @provide(scope=Scope.REQUEST)
    def breach_check(
        self, breaches: BreachedPasswords, audit: AuditTrail, uow: UnitOfWork
    ) -> BreachedPasswordCheck:
        return BreachedPasswordCheck(breaches, audit, uow)

    @provide(scope=Scope.REQUEST)
    def email_tokens(
        self, tokens: EmailTokenRepository, clock: Clock, ids: IdGenerator
    ) -> EmailTokens:
        return EmailTokens(tokens, clock, ids)

    access = provide(AccessTokens, scope=Scope.APP)
    register = provide(RegisterUser, scope=Scope.REQUEST)
    verify_email = provide(VerifyEmail, scope=Scope.REQUEST)
    resend_verification = provide(ResendVerification, scope=Scope.REQUEST)
    refresh = provide(RefreshTokens, scope=Scope.REQUEST)
    get_profile = provide(GetProfile, scope=Scope.APP)
    update_profile = provide(UpdateProfile, scope=Scope.REQUEST)
    change_email = provide(ChangeEmail, scope=Scope.REQUEST)
    request_reset = provide(RequestPasswordReset, scope=Scope.REQUEST)
    check_reset = provide(CheckPasswordReset, scope=Scope.REQUEST)
    complete_reset = provide(CompletePasswordReset, scope=Scope.REQUEST)
    change_password = provide(ChangePassword, scope=Scope.REQUEST)
    current_password = provide(CurrentPassword, scope=Scope.REQUEST)
    list_users = provide(ListUsers, scope=Scope.REQUEST)
    manage_user = provide(ManageUser, scope=Scope.REQUEST)
    create_admin = provide(CreateAdmin, scope=Scope.REQUEST)


class InProcessSessionsProvider(Provider):
    """Sessions, revocations and provider-refresh locks in this process: the embedded default
    (one API process)."""

    scope = Scope.APP

    @provide
    def refresh_lock(self) -> RefreshLock:
        return MemoryRefreshLock()

    @provide
    def store(self, clock: Clock) -> SessionStore:
        return MemorySessionStore(clock)

    @provide
    async def revocations(self, clock: Clock) -> AsyncIterator[RevocationList]:
        revocations = MemoryRevocationList(clock)
        await revocations.start()
        yield revocations
        await revocations.stop()
