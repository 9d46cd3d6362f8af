"""A reusable world for identity use-case tests: a fake clock, a memory database, cheap hashing.

Every builder takes the :class:`MemoryUnitOfWork` the use case runs in, so a test decides
whether two calls share a transaction (``world.uow()`` makes a fresh one). Long-lived pieces
(session store, revocation list, rate limiter, token issuer, vault) belong to the world, as they
belong to the process in production.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dashcore.application.access import AccessTokens
from dashcore.application.admin import CreateAdmin
from dashcore.application.audit_trail import AuditTrail
from dashcore.application.breached_passwords import BreachedPasswordCheck
from dashcore.application.current_password import CurrentPassword
from dashcore.application.email_tokens import EmailTokens
from dashcore.application.login import Login, LoginAttempt
from dashcore.application.mfa import RecoveryCodeSet, TotpEnrolment
from dashcore.application.notifications import Notifications
from dashcore.application.otp_login import LoginCodeDigest, OtpLogin, RequestLoginCode
from dashcore.application.outbox import MailQueue
from dashcore.application.passwords import (
    ChangePassword,
    CheckPasswordReset,
    CompletePasswordReset,
    RequestPasswordReset,
)
from dashcore.application.registration import RegisterUser, ResendVerification
from dashcore.application.second_factor import FactorKind, SecondFactorProof, SecondFactors
from dashcore.application.secrets import SecretKeeper
from dashcore.application.sessions import HmacRefreshSecretDeriver, Sessions
from dashcore.application.sign_in import CompleteMfaLogin, LoginResult, SignIn
from dashcore.application.step_up import StepUp, StepUpGate, StepUpPolicy
from dashcore.domain.audit import AuditOutcome
from dashcore.domain.common_passwords import shipped_common_passwords
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore.domain.mail import MailBody, OutboxEntry
from dashcore.domain.mfa import ChallengePolicy, TotpFactor, TotpPolicy
from dashcore.domain.passwords import PasswordPolicy
from dashcore.domain.sessions import Session, SessionPolicy
from dashcore.domain.users import LockoutPolicy, User
from dashcore.ports.passwords import BreachedPasswords
from dashcore.ports.ratelimit import RateLimiter
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import (
    MemoryAuditLog,
    MemoryDatabase,
    MemorySealedSecretRepository,
    MemoryUnitOfWork,
)
from dashcore_memory.mfa import (
    MemoryLoginChallengeRepository,
    MemoryRecoveryCodeRepository,
    MemoryTotpFactorRepository,
)
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.sessions import MemoryRevocationList, MemorySessionStore
from dashcore_memory.users import (
    MemoryEmailTokenRepository,
    MemoryKnownDevices,
    MemoryUserRepository,
)
from dashcore_ratelimit.limiter import LimitsRateLimiter
from dashcore_security import AesGcmVault, KeyRing
from dashcore_security.jwt import JwtAccessTokens
from dashcore_security.passwords import CHEAPEST, LibpassHasher
from dashcore_security.signing import SigningKeyRing
from dashcore_security.totp import PyotpTotp

__all__ = ["CALLER", "CONFIRMING_SESSION", "PASSWORD", "FakeBreachedPasswords", "Mail", "World"]

PASSWORD = "correct horse battery staple"
CALLER = CallerContext(ip="198.51.100.7", user_agent="pytest")
CONFIRMING_SESSION = "C" * 22
"""The session that turns the authenticator app on (every other one ends)."""
_LOGIN_CODE = re.compile(r"Your sign-in code is ([0-9]{6})")


@dataclass(frozen=True, slots=True)
class Mail:
    """One message in the memory outbox, body opened."""

    recipient: str
    template: str
    text: str
    expires_at: datetime | None

    @property
    def login_code(self) -> str:
        found = _LOGIN_CODE.search(self.text)
        assert found is not None, "not a login-code mail"
        return found.group(1)


@dataclass
class FakeBreachedPasswords(BreachedPasswords):
    """A breach service that knows ``seen`` (password → count), or is down (``available``
    false); ``asked`` lists every password it was asked about."""

    seen: dict[str, int] = field(default_factory=dict)
    available: bool = True
    asked: list[str] = field(default_factory=list)

    async def times_seen(self, password: str) -> int | None:
        self.asked.append(password)
        return self.seen.get(password, 0) if self.available else None


@dataclass
class World:
    clock: FakeClock
    database: MemoryDatabase
    hasher: LibpassHasher
    limiter: RateLimiter
    store: MemorySessionStore
    revocations: MemoryRevocationList
    tokens: JwtAccessTokens
    ids: SequentialIds
    vault: AesGcmVault
    totp: PyotpTotp = field(default_factory=PyotpTotp)
    digest: LoginCodeDigest = field(default_factory=lambda: LoginCodeDigest(b"d" * 32))
    totp_policy: TotpPolicy = field(default_factory=TotpPolicy)
    challenge_policy: ChallengePolicy = field(default_factory=ChallengePolicy)
    step_up_policy: StepUpPolicy = field(default_factory=StepUpPolicy)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    breaches: BreachedPasswords = field(default_factory=FakeBreachedPasswords)

    @classmethod
    def create(cls) -> World:
        clock = FakeClock()
        return cls(
            clock=clock,
            database=MemoryDatabase(),
            hasher=LibpassHasher(CHEAPEST, allow_weak=True),
            limiter=LimitsRateLimiter("memory://"),
            store=MemorySessionStore(clock),
            revocations=MemoryRevocationList(clock),
            tokens=JwtAccessTokens(
                SigningKeyRing.generate(now=clock.now()),
                "dashcore",
                "dashcore-api",
                timedelta(minutes=10),
                timedelta(seconds=30),
                clock,
            ),
            ids=SequentialIds(),
            vault=AesGcmVault(KeyRing.generate()),
        )

    def uow(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.database)

    # -- building blocks -------------------------------------------------------------------
    def audit(self, uow: MemoryUnitOfWork) -> AuditTrail:
        return AuditTrail(MemoryAuditLog(uow), self.clock, self.ids)

    def notifications(self, uow: MemoryUnitOfWork) -> Notifications:
        queue = MailQueue(MemoryOutbox(uow), self.vault, self.ids)
        return Notifications(queue, self.clock, "https://app.test")

    def sessions(self, uow: MemoryUnitOfWork) -> Sessions:
        return Sessions(
            self.store,
            self.revocations,
            HmacRefreshSecretDeriver(b"k" * 32),
            uow,
            self.audit(uow),
            self.clock,
            challenges=MemoryLoginChallengeRepository(uow),
            policy=SessionPolicy(),
            access_token_lifetime=timedelta(minutes=10),
        )

    def keeper(self, uow: MemoryUnitOfWork) -> SecretKeeper:
        return SecretKeeper(self.vault, MemorySealedSecretRepository(uow), self.clock, self.ids)

    def email_tokens(self, uow: MemoryUnitOfWork) -> EmailTokens:
        return EmailTokens(MemoryEmailTokenRepository(uow), self.clock, self.ids)

    def breach_check(self, uow: MemoryUnitOfWork) -> BreachedPasswordCheck:
        return BreachedPasswordCheck(self.breaches, self.audit(uow), uow)

    # -- use cases -------------------------------------------------------------------------
    def second_factors(self, uow: MemoryUnitOfWork) -> SecondFactors:
        return SecondFactors(
            MemoryTotpFactorRepository(uow),
            MemoryRecoveryCodeRepository(uow),
            self.keeper(uow),
            self.totp,
            self.hasher,
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
            policy=self.totp_policy,
        )

    def sign_in(self, uow: MemoryUnitOfWork) -> SignIn:
        return SignIn(
            self.sessions(uow),
            AccessTokens(self.tokens, self.clock),
            self.second_factors(uow),
            MemoryLoginChallengeRepository(uow),
            MemoryKnownDevices(uow),
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
            challenge_policy=self.challenge_policy,
        )

    def login(self, uow: MemoryUnitOfWork) -> Login:
        return Login(
            MemoryUserRepository(uow),
            self.hasher,
            self.limiter,
            self.sign_in(uow),
            self.audit(uow),
            uow,
            self.clock,
            lockout=self.lockout,
        )

    def complete_mfa_login(self, uow: MemoryUnitOfWork) -> CompleteMfaLogin:
        return CompleteMfaLogin(
            self.sign_in(uow), MemoryUserRepository(uow), self.audit(uow), uow, self.clock
        )

    def request_login_code(self, uow: MemoryUnitOfWork) -> RequestLoginCode:
        return RequestLoginCode(
            MemoryUserRepository(uow),
            self.sign_in(uow),
            self.digest,
            self.limiter,
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
            policy=self.challenge_policy,
        )

    def otp_login(self, uow: MemoryUnitOfWork, *, requires_totp: bool = True) -> OtpLogin:
        return OtpLogin(
            MemoryUserRepository(uow),
            self.sign_in(uow),
            self.digest,
            self.audit(uow),
            uow,
            self.clock,
            requires_totp=requires_totp,
        )

    def step_up_gate(self, uow: MemoryUnitOfWork) -> StepUpGate:
        return StepUpGate(self.second_factors(uow), self.clock, self.step_up_policy)

    def step_up(self, uow: MemoryUnitOfWork) -> StepUp:
        return StepUp(
            MemoryUserRepository(uow),
            self.current_password(uow),
            self.second_factors(uow),
            self.sessions(uow),
            AccessTokens(self.tokens, self.clock),
            self.audit(uow),
            uow,
            self.clock,
        )

    def current_password(self, uow: MemoryUnitOfWork) -> CurrentPassword:
        return CurrentPassword(
            MemoryUserRepository(uow), self.hasher, self.lockout, self.audit(uow), uow, self.clock
        )

    def totp_enrolment(self, uow: MemoryUnitOfWork) -> TotpEnrolment:
        return TotpEnrolment(
            MemoryUserRepository(uow),
            MemoryTotpFactorRepository(uow),
            self.second_factors(uow),
            RecoveryCodeSet(MemoryRecoveryCodeRepository(uow), self.hasher, self.clock, self.ids),
            self.keeper(uow),
            self.totp,
            self.notifications(uow),
            self.sessions(uow),
            self.audit(uow),
            uow,
            self.clock,
        )

    def check_password_reset(self, uow: MemoryUnitOfWork) -> CheckPasswordReset:
        return CheckPasswordReset(
            MemoryUserRepository(uow), self.email_tokens(uow), self.second_factors(uow)
        )

    def complete_password_reset(self, uow: MemoryUnitOfWork) -> CompletePasswordReset:
        return CompletePasswordReset(
            MemoryUserRepository(uow),
            self.email_tokens(uow),
            self.hasher,
            PasswordPolicy(shipped_common_passwords()),
            self.breach_check(uow),
            self.sessions(uow),
            self.second_factors(uow),
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
        )

    def register(self, uow: MemoryUnitOfWork) -> RegisterUser:
        return RegisterUser(
            MemoryUserRepository(uow),
            self.email_tokens(uow),
            self.hasher,
            PasswordPolicy(shipped_common_passwords()),
            self.breach_check(uow),
            self.notifications(uow),
            self.limiter,
            self.audit(uow),
            uow,
            self.clock,
            self.ids,
        )

    def resend_verification(self, uow: MemoryUnitOfWork) -> ResendVerification:
        return ResendVerification(
            MemoryUserRepository(uow),
            self.email_tokens(uow),
            self.notifications(uow),
            self.limiter,
            self.audit(uow),
            uow,
        )

    def request_reset(self, uow: MemoryUnitOfWork) -> RequestPasswordReset:
        return RequestPasswordReset(
            MemoryUserRepository(uow),
            self.email_tokens(uow),
            self.notifications(uow),
            self.limiter,
            self.audit(uow),
            uow,
        )

    def change_password(self, uow: MemoryUnitOfWork) -> ChangePassword:
        return ChangePassword(
            MemoryUserRepository(uow),
            self.email_tokens(uow),
            self.hasher,
            self.current_password(uow),
            PasswordPolicy(shipped_common_passwords()),
            self.breach_check(uow),
            self.sessions(uow),
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
        )

    def create_admin(self, uow: MemoryUnitOfWork) -> CreateAdmin:
        return CreateAdmin(
            MemoryUserRepository(uow),
            self.hasher,
            PasswordPolicy(shipped_common_passwords()),
            self.breach_check(uow),
            self.sessions(uow),
            self.email_tokens(uow),
            self.notifications(uow),
            self.audit(uow),
            uow,
            self.clock,
            self.ids,
        )

    # -- arranging -------------------------------------------------------------------------
    async def add_user(
        self,
        email: str,
        *,
        password: str = PASSWORD,
        password_hash: str | None = None,
        verified: bool = True,
    ) -> User:
        """A stored account with ``password`` (or exactly ``password_hash``, e.g. imported)."""
        now = self.clock.now()
        user = User(
            id=self.ids.new_id(),
            email=Email(email),
            password_hash=password_hash or await self.hasher.hash(password),
            created_at=now,
            updated_at=now,
            verified=verified,
        )
        uow = self.uow()
        await MemoryUserRepository(uow).add(user)
        await uow.commit()
        return user

    async def enrol_totp(self, user: User) -> tuple[str, tuple[str, ...]]:
        """Turn the authenticator app on: its secret and the recovery codes shown."""
        setup = await self.totp_enrolment(self.uow()).start(user.id, CALLER)
        codes = await self.totp_enrolment(self.uow()).confirm(
            user.id, CONFIRMING_SESSION, self.code(setup.secret), CALLER
        )
        return setup.secret, codes

    async def reset_token(self, user: User) -> str:
        """A password-reset token for ``user``, as the reset mail would carry it."""
        uow = self.uow()
        token = await self.email_tokens(uow).issue(user, TokenPurpose.PASSWORD_RESET)
        await uow.commit()
        return token.secret

    async def disable(self, user: User) -> None:
        """An administrator disables the account (as stored now)."""
        uow = self.uow()
        users = MemoryUserRepository(uow)
        current = await users.get(user.id)
        assert current is not None
        current.disable(self.clock.now())
        await users.save(current)
        await uow.commit()

    # -- acting ----------------------------------------------------------------------------
    async def password_login(self, email: str, password: str = PASSWORD) -> LoginResult:
        return await self.login(self.uow())(LoginAttempt(email, password), CALLER)

    async def check_second_factor(
        self, user: User, proof: SecondFactorProof, *, purpose: str = "login"
    ) -> FactorKind | None:
        """Check a proof as a flow would, committing the success with the flow's work."""
        uow = self.uow()
        kind = await self.second_factors(uow).verify(user, proof, CALLER, purpose=purpose)
        await uow.commit()
        return kind

    def code(self, secret: str, steps: int = 0) -> str:
        """The authenticator app's code ``steps`` steps from now (``-1``: the previous one)."""
        return self.totp.code_at(secret, self.totp_policy.step_at(self.clock.now()) + steps)

    # -- observing -------------------------------------------------------------------------
    async def stored(self, user: User) -> User:
        found = await MemoryUserRepository(self.uow()).get(user.id)
        assert found is not None
        return found

    async def factor(self, user: User) -> TotpFactor | None:
        return await MemoryTotpFactorRepository(self.uow()).get(user.id)

    async def sessions_of(self, user: User) -> list[Session]:
        """The user's active sessions."""
        return await self.store.list_for_user(user.id)

    def audit_actions(self) -> list[tuple[str, AuditOutcome, str]]:
        records = self.database.table("audit_events").values()
        return [
            (r.event.action, r.event.outcome, str(r.event.metadata.get("reason", "")))
            for r in sorted(records, key=lambda r: r.event.occurred_at)
        ]

    def actions(self) -> list[str]:
        return [action for action, _, _ in self.audit_actions()]

    def mails(self, template: str | None = None) -> list[Mail]:
        """Committed outbox messages (of ``template``), oldest first."""
        entries: list[OutboxEntry] = sorted(
            self.database.table("mail_outbox").values(), key=lambda e: e.id
        )
        return [
            Mail(entry.recipient, entry.template, self._open(entry), entry.expires_at)
            for entry in entries
            if template is None or entry.template == template
        ]

    def _open(self, entry: OutboxEntry) -> str:
        assert entry.body is not None
        return MailBody.decode(self.vault.open(entry.body, entry.context)).text
