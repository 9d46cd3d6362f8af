"""The one settings object, read once from ``DASHCORE_*`` environment variables.

Every value is validated at start-up; all problems are reported together, each naming the
variable and what is wrong with it. Nothing else in dashcore reads the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from ipaddress import ip_network
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar
from urllib.parse import urlsplit

from dashcore.domain.hosts import is_loopback_host
from dashcore.domain.money import ISSUED_CURRENCIES
from dashcore.domain.webhooks import MIN_SECRET_BYTES

__all__ = [
    "Environment",
    "LogFormat",
    "MailerKind",
    "Settings",
    "SettingsError",
    "SmtpSecurity",
    "StartupError",
]

T = TypeVar("T")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    AUTO = "auto"  # pretty in a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


class MailerKind(StrEnum):
    CONSOLE = "console"  # development: prints each message (and its link) to stdout
    MEMORY = "memory"  # tests: keeps messages in the process
    SMTP = "smtp"
    SES = "ses"


class SmtpSecurity(StrEnum):
    NONE = "none"
    STARTTLS = "starttls"
    TLS = "tls"


class SettingsError(ValueError):
    """One or more ``DASHCORE_*`` variables are invalid; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class StartupError(RuntimeError):
    """The process must not start (missing keys, a missing extra…): the message says the fix."""


DEFAULT_ORDER_STEP_UP_ABOVE: Mapping[str, Decimal] = MappingProxyType(
    {"USD": Decimal(10_000), "INR": Decimal(500_000)}
)
DEFAULT_ORDER_MAX_VALUE: Mapping[str, Decimal] = MappingProxyType(
    {"INR": Decimal(1_000_000), "USD": Decimal(50_000)}
)
DEFAULT_ORDER_MAX_QUANTITY: Mapping[str, Decimal] = MappingProxyType(
    {"INR": Decimal(100_000), "USD": Decimal(10_000)}
)
DEFAULT_ORDER_MAX_DAILY_VALUE: Mapping[str, Decimal] = MappingProxyType(
    {"INR": Decimal(5_000_000), "USD": Decimal(250_000)}
)
"""The per-currency order thresholds when their variables are unset (read-only: the dataclass
defaults and ``from_env`` share them)."""

PWNED_PASSWORDS_URL = "https://api.pwnedpasswords.com"
"""The public range API that production checks new passwords against by default."""

DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg", "memory")
REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one dashcore process. See the README's configuration table."""

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    redis_prefix: str = "dashcore:"
    vault_keys: str | None = field(default=None, repr=False)
    keys_dir: Path = Path("var/keys")
    allow_development_keys: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.AUTO
    readiness_timeout: float = 1.0
    api_docs: bool = True
    public_base_url: str = "http://127.0.0.1:8000"
    signing_keys: str | None = field(default=None, repr=False)
    jwt_issuer: str = "dashcore"
    jwt_audience: str = "dashcore-api"
    access_token_ttl: int = 600
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    refresh_grace_seconds: int = 10
    max_sessions: int = 10
    step_up_max_age: int = 300
    otp_login_requires_totp: bool = True
    hash_profile: str = "recommended"
    hash_max_waiting: int = 32
    breached_passwords_url: str | None = None
    """The Pwned Passwords range API new passwords are checked against (security.md PW-3);
    ``None``: the check is off. Production asks the public service unless told otherwise."""
    trusted_proxies: tuple[str, ...] = ()
    rate_limits: bool = True
    mailer: MailerKind = MailerKind.CONSOLE
    mail_from: str = "dashcore <no-reply@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_timeout: float = 10.0
    ses_region: str = "us-east-1"
    ses_endpoint_url: str | None = None
    allow_console_mailer: bool = False
    broker_sandboxes: bool = True
    provider_connect_timeout: float = 10.0
    provider_timeout: float = 30.0
    quote_cache_seconds: float = 5.0
    """How long a provider's last price is served from the cache before it is asked again."""
    provider_options: Mapping[str, Mapping[str, str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    """``DASHCORE_PROVIDER_<KEY>_<OPTION>`` by provider key and option (``client_id``,
    ``client_secret``, ``api_base_url``, ``login_base_url``, …): read once, secrets included."""
    broker_webhook_secret: str | None = field(default=None, repr=False)
    """The HMAC-SHA256 key of generic signed broker webhooks (at least 32 bytes)."""
    broker_webhook_additional_secrets: tuple[str, ...] = field(default=(), repr=False)
    """Further keys accepted while senders rotate (comma-separated in the environment)."""
    broker_webhook_additional_secrets_until: datetime | None = None
    """When the additional keys stop verifying (security.md WH-4): required with them, an
    aware instant at most :data:`WEBHOOK_ROTATION_MAX` after start-up."""
    webhook_tolerance_seconds: int = 300
    """How far a signed webhook's timestamp may be from our clock, either way."""
    webhook_retention_days: int = 7
    """Days a stored webhook delivery (and so its dedupe) is kept (security.md WH-3); always
    longer than the tolerance, so a replay the timestamp still admits is a duplicate."""
    schedule_webhook_cleanup_seconds: int = 3600
    """Period of ``webhook_cleanup`` (deliveries past retention deleted); 0 turns it off."""
    order_step_up_above: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_ORDER_STEP_UP_ABOVE, compare=False
    )
    """An order worth more than this, in its currency, needs a recent step-up
    (``DASHCORE_ORDER_STEP_UP_ABOVE=USD:10000,INR:500000``); an order in a currency not
    listed always does."""
    order_max_value: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_ORDER_MAX_VALUE, compare=False
    )
    """The most one order may be worth, per currency (``DASHCORE_ORDER_MAX_VALUE``); a currency
    not listed has no such limit. An administrator may set other limits for one user."""
    order_max_quantity: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_ORDER_MAX_QUANTITY, compare=False
    )
    """The largest quantity of one order, per currency of the instrument
    (``DASHCORE_ORDER_MAX_QUANTITY``); a currency not listed has no such limit."""
    order_max_daily_value: Mapping[str, Decimal] = field(
        default_factory=lambda: DEFAULT_ORDER_MAX_DAILY_VALUE, compare=False
    )
    """The most a user's orders of one UTC day may be worth, per currency
    (``DASHCORE_ORDER_MAX_DAILY_VALUE``); a currency not listed has no such limit."""
    order_submit_deadline_seconds: int = 30
    """An order is never sent later than this after it was created (safe retries included)."""
    order_reconcile_grace_seconds: int = 60
    """How long an unsettled order is left alone before reconciliation; more than
    DASHCORE_PROVIDER_TIMEOUT, so that an answer on its way is never overtaken."""
    order_reconcile_window_seconds: int = 900
    """An order reconciliation could not settle for this long after its first look (the broker
    could not be asked) is flagged ``needs_review`` and audited, for a person to look."""

    jobs_queue: str = "jobs"
    """The Redis stream of jobs is ``{redis_prefix}{jobs_queue}``; processes that share both
    share one queue (``dashcore worker`` runs its jobs)."""
    jobs_status_ttl: int = 7 * 24 * 3600
    """Seconds a job's status is kept after its last change (statuses live in Redis)."""
    jobs_redeliver_after: int = 600
    """Seconds after which a job that a worker took but never acknowledged (the worker died)
    runs again on another worker: keep it above the slowest task's run time."""
    schedule_refresh_seconds: int = 60
    """Period of the ``refresh_connections`` schedule (refresh ahead of expiry); 0 turns it off."""
    schedule_reauth_warnings_seconds: int = 60
    """Period of the ``reauth_warnings`` schedule (re-login warnings); 0 turns it off."""
    schedule_challenge_cleanup_seconds: int = 600
    """Period of the ``challenge_cleanup`` schedule (expired login challenges); 0 turns it off."""
    schedule_sync_seconds: int = 3600
    """Period of the periodic sync of every connection; 0 turns it off."""
    schedule_sync_cleanup_seconds: int = 300
    """Period of ``sync_cleanup`` (syncs whose worker died are failed); 0 turns it off."""
    sync_stale_after_seconds: int = 900
    """A sync whose heartbeat is older than this is given up (``stale_run``); also the longest
    a sync holds its connection's lock."""
    raw_payload_max_bytes: int = 1024 * 1024
    """Bytes kept of each raw provider body a sync receives (compressed); 0 keeps none."""
    raw_payload_retention_days: int = 30
    """Days raw provider bodies are kept (``sync_cleanup`` purges older ones)."""
    schedule_order_reconcile_seconds: int = 30
    """Period of the ``reconcile_orders`` schedule (settling orders whose broker answer was
    lost); 0 turns it off."""
    schedule_order_poll_seconds: int = 30
    """Period of the ``poll_orders`` schedule (the status of every order a broker holds); 0
    turns it off."""
    exports_dir: Path = Path("var/exports")
    """Where export files are written (workers) and read (downloads): one machine or a
    shared volume. Default: ``<data dir>/exports``."""
    export_plans: tuple[str, ...] = ()
    """Plans whose users may export (comma-separated); empty: every user may."""
    export_retention_hours: int = 24
    """Hours a finished export (its file, or its failure) is kept."""
    schedule_export_cleanup_seconds: int = 600
    """Period of ``export_cleanup`` (stale exports failed, expired ones deleted); 0 turns it
    off."""

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def uses_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def uses_memory_database(self) -> bool:
        return self.database_url.startswith("memory")

    @property
    def vault_key_file(self) -> Path:
        return self.keys_dir / "vault.json"

    @property
    def signing_key_file(self) -> Path:
        return self.keys_dir / "signing.json"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, now: datetime | None = None
    ) -> Settings:
        """``now`` is the start-up instant that bounded settings are checked against (the
        wall clock unless a test gives one)."""
        env = os.environ if environ is None else environ
        started = datetime.now(UTC) if now is None else now
        reader = _Reader(env)
        data_dir = reader.get("DATA_DIR", Path, Path("var"))
        settings = cls(
            env=reader.get("ENV", Environment, Environment.DEVELOPMENT),
            data_dir=data_dir,
            database_url=reader.get(
                "DATABASE_URL", _database_url, f"sqlite+aiosqlite:///{data_dir}/dashcore.db"
            ),
            redis_url=reader.get("REDIS_URL", _redis_url, None),
            redis_prefix=reader.get("REDIS_PREFIX", _redis_prefix, "dashcore:"),
            vault_keys=reader.get("VAULT_KEYS", str, None),
            keys_dir=reader.get("KEYS_DIR", Path, data_dir / "keys"),
            allow_development_keys=reader.get("ALLOW_DEVELOPMENT_KEYS", _boolean, False),
            host=reader.get("HOST", str, "127.0.0.1"),
            port=reader.get("PORT", _port, 8000),
            cors_origins=reader.get("CORS_ORIGINS", _origins, ()),
            max_body_bytes=reader.get("MAX_BODY_BYTES", _positive_int, 64 * 1024),
            log_level=reader.get("LOG_LEVEL", _log_level, "INFO"),
            log_format=reader.get("LOG_FORMAT", LogFormat, LogFormat.AUTO),
            readiness_timeout=reader.get("READINESS_TIMEOUT", _positive_float, 1.0),
            api_docs=reader.get("API_DOCS", _boolean, True),
            public_base_url=reader.get("PUBLIC_BASE_URL", _base_url, ""),
            signing_keys=reader.get("SIGNING_KEYS", str, None),
            jwt_issuer=reader.get("JWT_ISSUER", str, "dashcore"),
            jwt_audience=reader.get("JWT_AUDIENCE", str, "dashcore-api"),
            access_token_ttl=reader.get("ACCESS_TOKEN_TTL", _bounded(60, 3600), 600),
            session_idle_minutes=reader.get("SESSION_IDLE_MINUTES", _bounded(1, 1440), 30),
            session_absolute_hours=reader.get("SESSION_ABSOLUTE_HOURS", _bounded(1, 24 * 30), 12),
            refresh_grace_seconds=reader.get("REFRESH_GRACE_SECONDS", _bounded(0, 60), 10),
            max_sessions=reader.get("MAX_SESSIONS", _bounded(1, 100), 10),
            step_up_max_age=reader.get("STEP_UP_MAX_AGE", _bounded(30, 3600), 300),
            otp_login_requires_totp=reader.get("OTP_LOGIN_REQUIRES_TOTP", _boolean, True),
            hash_profile=reader.get("HASH_PROFILE", _hashing_profile, "recommended"),
            hash_max_waiting=reader.get("HASH_MAX_WAITING", _bounded(0, 10_000), 32),
            trusted_proxies=reader.get("TRUSTED_PROXIES", _networks, ()),
            rate_limits=reader.get("RATE_LIMITS", _boolean, True),
            mailer=reader.get("MAILER", MailerKind, MailerKind.CONSOLE),
            mail_from=reader.get("MAIL_FROM", _mail_from, "dashcore <no-reply@localhost>"),
            smtp_host=reader.get("SMTP_HOST", str, "127.0.0.1"),
            smtp_port=reader.get("SMTP_PORT", _port, 25),
            smtp_username=reader.get("SMTP_USERNAME", str, None),
            smtp_password=reader.get("SMTP_PASSWORD", str, None),
            smtp_security=reader.get("SMTP_SECURITY", SmtpSecurity, SmtpSecurity.STARTTLS),
            smtp_timeout=reader.get("SMTP_TIMEOUT", _positive_float, 10.0),
            ses_region=reader.get("SES_REGION", str, "us-east-1"),
            ses_endpoint_url=reader.get("SES_ENDPOINT_URL", _base_url, None),
            allow_console_mailer=reader.get("ALLOW_CONSOLE_MAILER", _boolean, False),
            provider_connect_timeout=reader.get("PROVIDER_CONNECT_TIMEOUT", _positive_float, 10.0),
            provider_timeout=reader.get("PROVIDER_TIMEOUT", _positive_float, 30.0),
            quote_cache_seconds=reader.get("QUOTE_CACHE_SECONDS", _positive_float, 5.0),
            provider_options=_provider_options(env),
            broker_webhook_secret=reader.get("BROKER_WEBHOOK_SECRET", _webhook_secret, None),
            broker_webhook_additional_secrets=reader.get(
                "BROKER_WEBHOOK_ADDITIONAL_SECRETS", _webhook_secrets, ()
            ),
            broker_webhook_additional_secrets_until=reader.get(
                "BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL", _rotation_until(started), None
            ),
            webhook_tolerance_seconds=reader.get(
                "WEBHOOK_TOLERANCE_SECONDS", _bounded(1, 3600), 300
            ),
            webhook_retention_days=reader.get("WEBHOOK_RETENTION_DAYS", _retention_days, 7),
            schedule_webhook_cleanup_seconds=reader.get(
                "SCHEDULE_WEBHOOK_CLEANUP_SECONDS", _schedule, 3600
            ),
            order_step_up_above=reader.get(
                "ORDER_STEP_UP_ABOVE",
                _thresholds,
                DEFAULT_ORDER_STEP_UP_ABOVE,
            ),
            order_max_value=reader.get(
                "ORDER_MAX_VALUE",
                _thresholds,
                DEFAULT_ORDER_MAX_VALUE,
            ),
            order_max_quantity=reader.get(
                "ORDER_MAX_QUANTITY",
                _thresholds,
                DEFAULT_ORDER_MAX_QUANTITY,
            ),
            order_max_daily_value=reader.get(
                "ORDER_MAX_DAILY_VALUE",
                _thresholds,
                DEFAULT_ORDER_MAX_DAILY_VALUE,
            ),
            order_submit_deadline_seconds=reader.get(
                "ORDER_SUBMIT_DEADLINE_SECONDS", _bounded(1, 3600), 30
            ),
            order_reconcile_grace_seconds=reader.get(
                "ORDER_RECONCILE_GRACE_SECONDS", _bounded(1, 86400), 60
            ),
            order_reconcile_window_seconds=reader.get(
                "ORDER_RECONCILE_WINDOW_SECONDS", _bounded(60, 7 * 86400), 900
            ),
            jobs_queue=reader.get("JOBS_QUEUE", _queue_name, "jobs"),
            jobs_status_ttl=reader.get("JOBS_STATUS_TTL", _bounded(60, 90 * 86400), 7 * 86400),
            jobs_redeliver_after=reader.get("JOBS_REDELIVER_AFTER", _bounded(1, 86400), 600),
            schedule_refresh_seconds=reader.get("SCHEDULE_REFRESH_SECONDS", _schedule, 60),
            schedule_reauth_warnings_seconds=reader.get(
                "SCHEDULE_REAUTH_WARNINGS_SECONDS", _schedule, 60
            ),
            schedule_challenge_cleanup_seconds=reader.get(
                "SCHEDULE_CHALLENGE_CLEANUP_SECONDS", _schedule, 600
            ),
            schedule_sync_seconds=reader.get("SCHEDULE_SYNC_SECONDS", _schedule, 3600),
            schedule_sync_cleanup_seconds=reader.get(
                "SCHEDULE_SYNC_CLEANUP_SECONDS", _schedule, 300
            ),
            sync_stale_after_seconds=reader.get(
                "SYNC_STALE_AFTER_SECONDS", _bounded(60, 86400), 900
            ),
            raw_payload_max_bytes=reader.get(
                "RAW_PAYLOAD_MAX_BYTES", _bounded(0, 64 * 1024 * 1024), 1024 * 1024
            ),
            raw_payload_retention_days=reader.get(
                "RAW_PAYLOAD_RETENTION_DAYS", _bounded(1, 3650), 30
            ),
            schedule_order_reconcile_seconds=reader.get(
                "SCHEDULE_ORDER_RECONCILE_SECONDS", _schedule, 30
            ),
            schedule_order_poll_seconds=reader.get("SCHEDULE_ORDER_POLL_SECONDS", _schedule, 30),
            exports_dir=reader.get("EXPORTS_DIR", Path, data_dir / "exports"),
            export_plans=reader.get("EXPORT_PLANS", _plans, ()),
            export_retention_hours=reader.get("EXPORT_RETENTION_HOURS", _bounded(1, 24 * 90), 24),
            schedule_export_cleanup_seconds=reader.get(
                "SCHEDULE_EXPORT_CLEANUP_SECONDS", _schedule, 600
            ),
        )
        settings = replace(
            settings,
            broker_sandboxes=reader.get("BROKER_SANDBOXES", _boolean, not settings.is_production),
            breached_passwords_url=reader.get(
                "BREACHED_PASSWORDS_URL",
                _breached_passwords_url,
                PWNED_PASSWORDS_URL if settings.is_production else None,
            ),
        )
        if settings.order_reconcile_grace_seconds <= settings.provider_timeout:
            reader.problems.append(
                "DASHCORE_ORDER_RECONCILE_GRACE_SECONDS: must exceed DASHCORE_PROVIDER_TIMEOUT "
                "(an order's answer may still be on its way until then)"
            )
        if settings.broker_webhook_additional_secrets and not settings.broker_webhook_secret:
            reader.problems.append(
                "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS: set DASHCORE_BROKER_WEBHOOK_SECRET "
                "(the primary secret) too"
            )
        reader.problems.extend(_rotation_problems(env, settings))
        if settings.is_production and settings.uses_memory_database:
            reader.problems.append(
                "DASHCORE_DATABASE_URL: memory:// is not durable; not in production"
            )
        if not settings.public_base_url:
            settings = replace(settings, public_base_url=f"http://{settings.host}:{settings.port}")
        if settings.is_production:
            if settings.mailer in {MailerKind.CONSOLE, MailerKind.MEMORY} and not (
                settings.allow_console_mailer
            ):
                reader.problems.append(
                    f"DASHCORE_MAILER={settings.mailer.value}: production needs smtp or ses "
                    "(or DASHCORE_ALLOW_CONSOLE_MAILER=true, knowingly)"
                )
            if settings.broker_sandboxes:
                reader.problems.append(
                    "DASHCORE_BROKER_SANDBOXES=true: the simulated brokers (and their unguarded "
                    "fault controls) are for development and tests only"
                )
            if settings.hash_profile == "test":
                reader.problems.append(
                    "DASHCORE_HASH_PROFILE=test: the test profile is far below the floor"
                )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


_HIDDEN = frozenset(
    {
        "VAULT_KEYS",
        "SIGNING_KEYS",
        "SMTP_PASSWORD",
        "BROKER_WEBHOOK_SECRET",
        "BROKER_WEBHOOK_ADDITIONAL_SECRETS",
    }
)
_PROVIDER_OPTION = re.compile(
    r"DASHCORE_PROVIDER_([A-Z][A-Z0-9_]*?)_(CLIENT_ID|CLIENT_SECRET|API_BASE_URL|LOGIN_BASE_URL|REFRESH_APPROVED)"
)


def _provider_options(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``DASHCORE_PROVIDER_SCHWAB_CLIENT_ID=…`` → ``{"schwab": {"client_id": …}}``."""
    options: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        match = _PROVIDER_OPTION.fullmatch(name)
        if match and value.strip():
            provider, option = match.group(1).lower(), match.group(2).lower()
            options.setdefault(provider, {})[option] = value.strip()
    return options


HASHING_PROFILES = ("recommended", "floor", "test")


class _Reader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.problems: list[str] = []

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        variable = f"DASHCORE_{name}"
        raw = self._environ.get(variable)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            self.problems.append(f"{variable}={_shown(name, raw)}: {exc}")
            return default


_URL_PASSWORD = re.compile(r"(://[^/@:]*):[^/@]*@")


def _shown(name: str, raw: str) -> str:
    """A refused value as a message may show it: secrets hidden, and so is the password of a
    URL (``postgresql://bob:***@db/x``)."""
    if name in _HIDDEN:
        return "(hidden)"
    return repr(_URL_PASSWORD.sub(r"\1:***@", raw))


def _boolean(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("a port is between 1 and 65535")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    return level


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(item.strip() for item in raw.split(",") if item.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin != "*" and (parts.scheme not in {"http", "https"} or not parts.netloc):
            raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
    return origins


def _database_url(raw: str) -> str:
    scheme = raw.partition("://")[0]
    if scheme not in DATABASE_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(DATABASE_SCHEMES)}")
    if scheme == "postgresql":
        return "postgresql+asyncpg://" + raw.partition("://")[2]
    if scheme == "sqlite":
        return "sqlite+aiosqlite://" + raw.partition("://")[2]
    return raw


def _redis_url(raw: str) -> str:
    if raw.partition("://")[0] not in REDIS_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(REDIS_SCHEMES)}")
    return raw


def _thresholds(raw: str) -> dict[str, Decimal]:
    """``USD:10000,INR:500000``: a non-negative amount per ISO 4217 currency code."""
    limits: dict[str, Decimal] = {}
    for item in raw.split(","):
        code, _, amount = item.strip().partition(":")
        code = code.strip()
        if code not in ISSUED_CURRENCIES:
            raise ValueError(f"{code!r} is not an ISO 4217 currency code like USD")
        try:
            value = Decimal(amount.strip())
        except ArithmeticError as exc:
            raise ValueError(f"{amount!r} is not an amount") from exc
        if not value.is_finite() or value < 0:
            raise ValueError(f"{amount!r} is not a non-negative amount")
        limits[code] = value
    return limits


def _bounded(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        value = int(raw)
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            "expected an absolute http(s) URL without query, like https://app.example.com"
        )
    return raw.rstrip("/")


def _breached_passwords_url(raw: str) -> str | None:
    """``off``, or the range API's base URL: https, plain http only on a loopback host (a
    test double on this machine), never a network hop that could read the hash prefixes."""
    if raw.lower() == "off":
        return None
    url = _base_url(raw)
    parts = urlsplit(url)
    if parts.scheme != "https" and not is_loopback_host(parts.hostname):
        raise ValueError(
            "expected off or an https URL like https://api.pwnedpasswords.com "
            "(http only on a loopback host)"
        )
    return url


def _hashing_profile(raw: str) -> str:
    if raw not in HASHING_PROFILES:
        raise ValueError(f"one of {', '.join(HASHING_PROFILES)}")
    return raw


def _networks(raw: str) -> tuple[str, ...]:
    entries = tuple(item.strip() for item in raw.split(",") if item.strip())
    for entry in entries:
        try:
            ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or CIDR") from exc
    return entries


def _mail_from(raw: str) -> str:
    if "\r" in raw or "\n" in raw or "@" not in raw:
        raise ValueError("expected one address like 'dashcore <no-reply@example.com>'")
    return raw


_QUEUE_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}", re.ASCII)


def _queue_name(raw: str) -> str:
    if not _QUEUE_NAME.fullmatch(raw):
        raise ValueError("1 to 64 of A-Z a-z 0-9 _ . : -, like 'jobs'")
    return raw


def _retention_days(raw: str) -> int:
    """Days webhook deliveries are kept: 1 to 3650, so always longer than the signature
    tolerance (at most an hour)."""
    value = int(raw)
    if not 1 <= value <= 3650:
        raise ValueError(
            "days between 1 and 3650: deliveries must be kept longer than "
            "DASHCORE_WEBHOOK_TOLERANCE_SECONDS, or a replay inside it would be accepted again"
        )
    return value


def _schedule(raw: str) -> int:
    """A schedule's period in seconds: 1 second to 7 days, or 0 for off."""
    value = int(raw)
    if not 0 <= value <= 7 * 86400:
        raise ValueError("seconds between 1 and 604800, or 0 to turn the schedule off")
    return value


_PLAN = re.compile(r"[A-Za-z0-9_-]{1,40}", re.ASCII)


def _plans(raw: str) -> tuple[str, ...]:
    """Comma-separated plan names (1-40 letters, digits, ``-`` or ``_`` each)."""
    plans = tuple(item.strip() for item in raw.split(",") if item.strip())
    for plan in plans:
        if not _PLAN.fullmatch(plan):
            raise ValueError(f"{plan!r} is not a plan name (letters, digits, - or _)")
    return plans


def _redis_prefix(raw: str) -> str:
    if len(raw) > 64 or not raw.isascii() or not raw.isprintable() or " " in raw:
        raise ValueError("at most 64 printable ASCII characters without spaces, like 'dashcore:'")
    return raw


def _webhook_secret(raw: str) -> str:
    if len(raw.encode("utf-8")) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret is at least {MIN_SECRET_BYTES} bytes")
    if "," in raw:
        raise ValueError("a webhook secret has no comma")
    return raw


def _webhook_secrets(raw: str) -> tuple[str, ...]:
    """A comma-separated list of webhook secrets."""
    return tuple(_webhook_secret(item.strip()) for item in raw.split(",") if item.strip())


WEBHOOK_ROTATION_MAX = timedelta(days=7)
"""The longest a rotation window may still run at start-up: long enough for a sender that
deploys weekly (security.md WH-4 proposes 24 h, TabaPay uses 48 h), short enough that the old
secret is never a second permanent key."""


def _rotation_until(started: datetime) -> Callable[[str], datetime]:
    def parse(raw: str) -> datetime:
        """An ISO 8601 instant with its UTC offset, at most a week after start-up."""
        try:
            until = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise ValueError(
                "expected an ISO 8601 instant with its UTC offset, like 2026-06-02T09:00:00Z"
            ) from exc
        if until.utcoffset() is None:
            raise ValueError(
                "give the UTC offset (Z or +05:30): a time without one could be any zone's"
            )
        until = until.astimezone(UTC)
        if until > started + WEBHOOK_ROTATION_MAX:
            raise ValueError(
                "at most 7 days after start-up: additional secrets are a rotation window, "
                "not a second permanent key"
            )
        return until

    return parse


def _rotation_problems(environ: Mapping[str, str], settings: Settings) -> list[str]:
    """Additional webhook secrets and their expiry go together (security.md WH-4). An expiry
    that failed to parse is already reported, so only a missing one is reported here."""
    given = environ.get("DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL", "").strip() != ""
    if settings.broker_webhook_additional_secrets and not given:
        return [
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL: say until when the additional "
            "(old) secrets are accepted, e.g. 24 h after the rotation: a secret kept for "
            "ever is not a rotation (security.md WH-4)"
        ]
    if given and not settings.broker_webhook_additional_secrets:
        return [
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL: set only with "
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS (remove both once the rotation is over)"
        ]
    return []
