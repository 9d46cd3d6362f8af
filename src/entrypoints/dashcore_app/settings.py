"""The one settings object, read once from ``DASHCORE_*`` environment variables.

Every value is validated at start-up; all problems are reported together, each naming the
variable and what is wrong with it. Nothing else in dashcore reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

__all__ = ["Environment", "LogFormat", "Settings", "SettingsError", "StartupError"]

T = TypeVar("T")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    AUTO = "auto"  # pretty in a terminal, JSON otherwise
    JSON = "json"
    CONSOLE = "console"


class SettingsError(ValueError):
    """One or more ``DASHCORE_*`` variables are invalid; ``problems`` lists each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class StartupError(RuntimeError):
    """The process must not start (missing keys, a missing extra…): the message says the fix."""


DATABASE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "postgresql", "postgresql+asyncpg", "memory")
REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True, slots=True)
class Settings:
    """Configuration of one dashcore process. See the README's configuration table."""

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
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

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        data_dir = reader.get("DATA_DIR", Path, Path("var"))
        settings = cls(
            env=reader.get("ENV", Environment, Environment.DEVELOPMENT),
            data_dir=data_dir,
            database_url=reader.get(
                "DATABASE_URL", _database_url, f"sqlite+aiosqlite:///{data_dir}/dashcore.db"
            ),
            redis_url=reader.get("REDIS_URL", _redis_url, None),
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
        )
        if settings.is_production and settings.uses_memory_database:
            reader.problems.append(
                "DASHCORE_DATABASE_URL: memory:// is not durable; not in production"
            )
        if reader.problems:
            raise SettingsError(reader.problems)
        return settings


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
            shown = "(hidden)" if name == "VAULT_KEYS" else repr(raw)
            self.problems.append(f"{variable}={shown}: {exc}")
            return default


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
