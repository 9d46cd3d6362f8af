"""The composition root: dishka providers, grouped by layer, chosen from the settings.

APP scope holds what lives as long as the process (engine, Redis pool, key ring, vault, clock);
REQUEST scope holds one unit of work per request or job and the use cases built on it.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator

from dishka import (
    AsyncContainer,
    Provider,
    Scope,
    alias,
    collect,
    from_context,
    make_async_container,
    provide,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.key_rotation import ReencryptSecrets
from dashcore.application.secrets import SecretKeeper
from dashcore.application.verify_audit_chain import VerifyAuditChain
from dashcore.ports.audit import AuditLog
from dashcore.ports.clock import Clock
from dashcore.ports.health import DependencyProbe
from dashcore.ports.ids import IdGenerator
from dashcore.ports.mail import Outbox
from dashcore.ports.mfa import (
    LoginChallengeRepository,
    RecoveryCodeRepository,
    TotpFactorRepository,
)
from dashcore.ports.providers import (
    PendingAuthorizationRepository,
    ProviderConnectionRepository,
)
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import (
    EmailTokenRepository,
    KnownDevices,
    UserDirectory,
    UserRepository,
)
from dashcore.ports.vault import SealedSecretRepository, Vault
from dashcore_app.accounts import AccountsProvider
from dashcore_app.aggregation import aggregation_providers
from dashcore_app.brokers import BrokersProvider, ConnectionsProvider
from dashcore_app.exports import exports_providers
from dashcore_app.identity import IdentityProvider, InProcessSessionsProvider
from dashcore_app.jobs import JobsProvider
from dashcore_app.keys import load_key_ring
from dashcore_app.mfa import MfaProvider
from dashcore_app.settings import MailerKind, Settings, StartupError
from dashcore_app.trades import trades_providers
from dashcore_app.trading import trading_providers
from dashcore_app.webhooks import webhook_providers
from dashcore_memory import (
    MemoryAuditLog,
    MemoryDatabase,
    MemorySealedSecretRepository,
    MemoryUnitOfWork,
)
from dashcore_memory.connections import (
    MemoryPendingAuthorizationRepository,
    MemoryProviderConnectionRepository,
)
from dashcore_memory.mfa import (
    MemoryLoginChallengeRepository,
    MemoryRecoveryCodeRepository,
    MemoryTotpFactorRepository,
)
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.users import (
    MemoryEmailTokenRepository,
    MemoryKnownDevices,
    MemoryUserDirectory,
    MemoryUserRepository,
)
from dashcore_security import AesGcmVault, KeyRing
from dashcore_sql import (
    ChainHeads,
    SqlAuditLog,
    SqlDatabaseProbe,
    SqlSealedSecretRepository,
    SqlUnitOfWork,
    create_engine,
    unit_of_work,
)
from dashcore_sql.connections import (
    SqlPendingAuthorizationRepository,
    SqlProviderConnectionRepository,
)
from dashcore_sql.mfa import (
    SqlLoginChallengeRepository,
    SqlRecoveryCodeRepository,
    SqlTotpFactorRepository,
)
from dashcore_sql.outbox import SqlOutbox
from dashcore_sql.users import (
    SqlEmailTokenRepository,
    SqlKnownDevices,
    SqlUserDirectory,
    SqlUserRepository,
)
from dashcore_system import SystemClock, Uuid7Generator

__all__ = [
    "build_container",
    "providers_for",
    "require_configured_extras",
    "require_database_extra",
]


class CoreProvider(Provider):
    settings = from_context(provides=Settings, scope=Scope.APP)
    clock = provide(SystemClock, provides=Clock, scope=Scope.APP)
    ids = provide(Uuid7Generator, provides=IdGenerator, scope=Scope.APP)
    probes = collect(DependencyProbe, scope=Scope.APP)


class SecurityProvider(Provider):
    scope = Scope.APP

    @provide
    def key_ring(self, settings: Settings) -> KeyRing:
        return load_key_ring(settings)

    @provide
    def vault(self, ring: KeyRing) -> Vault:
        return AesGcmVault(ring)


class SqlProvider(Provider):
    @provide(scope=Scope.APP)
    async def engine(self, settings: Settings) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(settings.database_url)
        yield engine
        await engine.dispose()

    @provide(scope=Scope.APP, provides=DependencyProbe)
    def database_probe(self, engine: AsyncEngine) -> SqlDatabaseProbe:
        return SqlDatabaseProbe(engine)

    @provide(scope=Scope.REQUEST)
    async def unit_of_work(self, engine: AsyncEngine) -> AsyncIterator[SqlUnitOfWork]:
        async with unit_of_work(engine) as uow:
            yield uow

    uow = alias(source=SqlUnitOfWork, provides=UnitOfWork)
    secrets = provide(
        SqlSealedSecretRepository, provides=SealedSecretRepository, scope=Scope.REQUEST
    )

    @provide(scope=Scope.APP)
    def chain_heads(self) -> ChainHeads:
        return ChainHeads()

    @provide(scope=Scope.REQUEST)
    def audit_log(self, uow: SqlUnitOfWork, heads: ChainHeads) -> AuditLog:
        return SqlAuditLog(uow, heads=heads)

    users = provide(SqlUserRepository, provides=UserRepository, scope=Scope.REQUEST)
    user_directory = provide(SqlUserDirectory, provides=UserDirectory, scope=Scope.APP)
    known_devices = provide(SqlKnownDevices, provides=KnownDevices, scope=Scope.REQUEST)
    email_tokens = provide(
        SqlEmailTokenRepository, provides=EmailTokenRepository, scope=Scope.REQUEST
    )
    outbox = provide(SqlOutbox, provides=Outbox, scope=Scope.REQUEST)
    totp_factors = provide(
        SqlTotpFactorRepository, provides=TotpFactorRepository, scope=Scope.REQUEST
    )
    recovery_codes = provide(
        SqlRecoveryCodeRepository, provides=RecoveryCodeRepository, scope=Scope.REQUEST
    )
    login_challenges = provide(
        SqlLoginChallengeRepository, provides=LoginChallengeRepository, scope=Scope.REQUEST
    )
    provider_connections = provide(
        SqlProviderConnectionRepository,
        provides=ProviderConnectionRepository,
        scope=Scope.REQUEST,
    )
    pending_authorizations = provide(
        SqlPendingAuthorizationRepository,
        provides=PendingAuthorizationRepository,
        scope=Scope.REQUEST,
    )


class MemoryProvider(Provider):
    @provide(scope=Scope.APP)
    def database(self) -> MemoryDatabase:
        # A factory, not provide(MemoryDatabase): dishka would take its fields for dependencies.
        return MemoryDatabase()

    @provide(scope=Scope.REQUEST)
    async def unit_of_work(self, database: MemoryDatabase) -> AsyncIterator[MemoryUnitOfWork]:
        uow = MemoryUnitOfWork(database)
        yield uow
        await uow.rollback()

    uow = alias(source=MemoryUnitOfWork, provides=UnitOfWork)
    audit_log = provide(MemoryAuditLog, provides=AuditLog, scope=Scope.REQUEST)
    secrets = provide(
        MemorySealedSecretRepository, provides=SealedSecretRepository, scope=Scope.REQUEST
    )
    users = provide(MemoryUserRepository, provides=UserRepository, scope=Scope.REQUEST)
    user_directory = provide(MemoryUserDirectory, provides=UserDirectory, scope=Scope.APP)
    known_devices = provide(MemoryKnownDevices, provides=KnownDevices, scope=Scope.REQUEST)
    email_tokens = provide(
        MemoryEmailTokenRepository, provides=EmailTokenRepository, scope=Scope.REQUEST
    )
    outbox = provide(MemoryOutbox, provides=Outbox, scope=Scope.REQUEST)
    totp_factors = provide(
        MemoryTotpFactorRepository, provides=TotpFactorRepository, scope=Scope.REQUEST
    )
    recovery_codes = provide(
        MemoryRecoveryCodeRepository, provides=RecoveryCodeRepository, scope=Scope.REQUEST
    )
    login_challenges = provide(
        MemoryLoginChallengeRepository, provides=LoginChallengeRepository, scope=Scope.REQUEST
    )
    provider_connections = provide(
        MemoryProviderConnectionRepository,
        provides=ProviderConnectionRepository,
        scope=Scope.REQUEST,
    )
    pending_authorizations = provide(
        MemoryPendingAuthorizationRepository,
        provides=PendingAuthorizationRepository,
        scope=Scope.REQUEST,
    )


class UseCaseProvider(Provider):
    scope = Scope.REQUEST

    audit_trail = provide(AuditTrail)
    secret_keeper = provide(SecretKeeper)
    reencrypt_secrets = provide(ReencryptSecrets)
    verify_audit_chain = provide(VerifyAuditChain)


def providers_for(settings: Settings) -> list[Provider]:
    """The adapter set the settings ask for: SQLite/PostgreSQL or memory; Redis or not."""
    if not settings.database_url:
        raise StartupError(
            "No database URL: give Settings a database_url, or build them with "
            "Settings.from_env(), which puts the embedded SQLite file in data_dir"
        )
    require_configured_extras(settings)
    providers: list[Provider] = [
        CoreProvider(),
        SecurityProvider(),
        UseCaseProvider(),
        MemoryProvider() if settings.uses_memory_database else SqlProvider(),
        IdentityProvider(),  # after the repositories: it decorates UserRepository
        MfaProvider(),
        BrokersProvider(),
        ConnectionsProvider(),
        *aggregation_providers(settings),
        *exports_providers(settings),
        AccountsProvider(),
        JobsProvider(),
        *trading_providers(settings),
        *trades_providers(settings),
        *webhook_providers(settings),
    ]
    if settings.redis_url:
        from dashcore_app.redis_provider import RedisProvider  # only with the redis extra

        providers.append(RedisProvider())
    else:
        providers.append(InProcessSessionsProvider())
    return providers


def require_database_extra(settings: Settings) -> None:
    """The configured database's driver is installed (``StartupError`` with the fix)."""
    if settings.database_url.startswith("postgresql"):
        require_extra("asyncpg", "postgres", "DASHCORE_DATABASE_URL is a PostgreSQL URL")


def require_configured_extras(settings: Settings) -> None:
    """Every library the configured adapters need is installed; else a ``StartupError`` with
    the ``pip install`` line that fixes it, before anything is built. Found by QA: a base
    install configured for PostgreSQL or Redis died with a traceback (for Redis, in the
    server's worker process after start-up), and one configured for SMTP started and could
    send no mail."""
    require_database_extra(settings)
    if settings.redis_url:
        require_extra("redis", "redis", "DASHCORE_REDIS_URL is set")
        require_extra("taskiq_redis", "worker", "DASHCORE_REDIS_URL is set (jobs go through it)")
    if settings.mailer is MailerKind.SMTP:
        require_extra("aiosmtplib", "mail", "DASHCORE_MAILER is smtp")
    elif settings.mailer is MailerKind.SES:
        require_extra("boto3", "mail", "DASHCORE_MAILER is ses")


def require_extra(module: str, extra: str, because: str) -> None:
    """Fail at start-up, with the fix, when a configured adapter's library is not installed."""
    if importlib.util.find_spec(module) is None:
        raise StartupError(
            f"{because}, but {module} is not installed: pip install 'dashcore[{extra}]'"
        )


def build_container(settings: Settings, *overrides: Provider) -> AsyncContainer:
    """Build the container; ``overrides`` replace any factory (tests swap adapters this way)."""
    return make_async_container(*providers_for(settings), *overrides, context={Settings: settings})
