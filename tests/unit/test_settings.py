"""Settings are read once from DASHCORE_* and refuse bad or unsafe configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.ports.passwords import PasswordHasher
from dashcore_app import Dashcore
from dashcore_app.keys import load_key_ring
from dashcore_app.settings import Environment, LogFormat, Settings, SettingsError, StartupError
from dashcore_security import KeyRing
from dashcore_security.passwords import LibpassHasher


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.from_env({})
    assert settings.env is Environment.DEVELOPMENT
    assert settings.database_url == "sqlite+aiosqlite:///var/dashcore.db"
    assert settings.redis_url is None
    assert settings.keys_dir == Path("var/keys")
    assert settings.max_body_bytes == 64 * 1024
    assert settings.log_format is LogFormat.AUTO
    assert settings.cors_origins == ()
    assert settings.api_docs is True


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_ENV": "test",
            "DASHCORE_DATA_DIR": "/srv/dash",
            "DASHCORE_PORT": "9000",
            "DASHCORE_CORS_ORIGINS": "https://a.example, https://b.example",
            "DASHCORE_LOG_LEVEL": "debug",
            "DASHCORE_API_DOCS": "off",
            "DASHCORE_READINESS_TIMEOUT": "0.5",
        }
    )
    assert settings.env is Environment.TEST
    assert settings.database_url == "sqlite+aiosqlite:////srv/dash/dashcore.db"
    assert settings.keys_dir == Path("/srv/dash/keys")
    assert settings.port == 9000
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.log_level == "DEBUG"
    assert settings.api_docs is False
    assert settings.readiness_timeout == 0.5


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("postgresql://u@db:5432/dash", "postgresql+asyncpg://u@db:5432/dash"),
        ("sqlite:///tmp/x.db", "sqlite+aiosqlite:///tmp/x.db"),
        ("postgresql+asyncpg://u@db/dash", "postgresql+asyncpg://u@db/dash"),
    ],
)
def test_database_urls_get_their_async_driver(given: str, normalized: str) -> None:
    assert Settings.from_env({"DASHCORE_DATABASE_URL": given}).database_url == normalized


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DASHCORE_ENV", "staging"),
        ("DASHCORE_DATABASE_URL", "mysql://db/dash"),
        ("DASHCORE_REDIS_URL", "http://cache"),
        ("DASHCORE_PORT", "70000"),
        ("DASHCORE_PORT", "eighty"),
        ("DASHCORE_MAX_BODY_BYTES", "0"),
        ("DASHCORE_LOG_LEVEL", "chatty"),
        ("DASHCORE_LOG_FORMAT", "xml"),
        ("DASHCORE_READINESS_TIMEOUT", "-1"),
        ("DASHCORE_API_DOCS", "maybe"),
        ("DASHCORE_CORS_ORIGINS", "app.example"),
    ],
)
def test_each_bad_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert len(raised.value.problems) == 1
    assert raised.value.problems[0].startswith(f"{variable}=")


@pytest.mark.parametrize(
    ("variable", "value", "shown"),
    [
        ("DASHCORE_DATABASE_URL", "mysql://bob:S3cret@db/x", "'mysql://bob:***@db/x'"),
        ("DASHCORE_REDIS_URL", "http://:S3cret@cache:6379/0", "'http://:***@cache:6379/0'"),
        ("DASHCORE_DATABASE_URL", "mysql://bob@db/x", "'mysql://bob@db/x'"),
    ],
)
def test_a_refused_url_never_shows_its_password(variable: str, value: str, shown: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert raised.value.problems[0].startswith(f"{variable}={shown}: ")
    assert "S3cret" not in str(raised.value)


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {"DASHCORE_PORT": "0", "DASHCORE_LOG_LEVEL": "loud", "DASHCORE_API_DOCS": "?"}
        )
    problems = raised.value.problems
    assert [p.split("=")[0] for p in problems] == [
        "DASHCORE_PORT",
        "DASHCORE_LOG_LEVEL",
        "DASHCORE_API_DOCS",
    ]
    assert all(p in str(raised.value) for p in problems)


def test_a_bad_vault_key_value_is_not_echoed() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DASHCORE_VAULT_KEYS": "k1=secretmaterial", "DASHCORE_PORT": "x"})
    assert "secretmaterial" not in str(raised.value)
    assert "secretmaterial" not in repr(Settings(vault_keys="k1=secretmaterial"))


PRODUCTION = {"DASHCORE_ENV": "production", "DASHCORE_MAILER": "smtp"}


def test_production_refuses_the_memory_database() -> None:
    with pytest.raises(SettingsError, match="DASHCORE_DATABASE_URL"):
        Settings.from_env({"DASHCORE_ENV": "production", "DASHCORE_DATABASE_URL": "memory://"})


def test_production_refuses_development_keys(tmp_path: Path) -> None:
    settings = Settings.from_env({**PRODUCTION, "DASHCORE_DATA_DIR": str(tmp_path)})
    KeyRing.generate(development=True).save(settings.vault_key_file)
    with pytest.raises(StartupError, match="development keys"):
        load_key_ring(settings)


def test_production_takes_development_keys_only_when_told(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **PRODUCTION,
            "DASHCORE_DATA_DIR": str(tmp_path),
            "DASHCORE_ALLOW_DEVELOPMENT_KEYS": "true",
        }
    )
    ring = KeyRing.generate(development=True)
    ring.save(settings.vault_key_file)
    assert load_key_ring(settings).active_id == ring.active_id


def test_missing_keys_say_how_to_make_them(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="dashcore keys generate"):
        load_key_ring(Settings.from_env({"DASHCORE_DATA_DIR": str(tmp_path)}))


def test_production_refuses_the_console_mailer_and_the_test_hash_profile() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DASHCORE_ENV": "production", "DASHCORE_HASH_PROFILE": "test"})
    assert "DASHCORE_MAILER=console" in str(raised.value)
    assert "DASHCORE_HASH_PROFILE=test" in str(raised.value)
    allowed = Settings.from_env(
        {"DASHCORE_ENV": "production", "DASHCORE_ALLOW_CONSOLE_MAILER": "1"}
    )
    assert allowed.mailer == "console"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("DASHCORE_PUBLIC_BASE_URL", "app.example.com", "absolute http(s) URL"),
        ("DASHCORE_PUBLIC_BASE_URL", "https://app.example.com/?next=x", "without query"),
        ("DASHCORE_ACCESS_TOKEN_TTL", "5", "between 60 and 3600"),
        ("DASHCORE_REFRESH_GRACE_SECONDS", "61", "between 0 and 60"),
        ("DASHCORE_TRUSTED_PROXIES", "10.0.0.0/8,not-an-ip", "not-an-ip"),
        ("DASHCORE_MAILER", "pigeon", "pigeon"),
        ("DASHCORE_MAIL_FROM", "no address", "one address"),
        ("DASHCORE_HASH_PROFILE", "fast", "recommended"),
        ("DASHCORE_HASH_MAX_WAITING", "-1", "between 0 and 10000"),
    ],
)
def test_identity_settings_are_validated(variable: str, value: str, complaint: str) -> None:
    with pytest.raises(SettingsError, match=variable) as raised:
        Settings.from_env({variable: value})
    assert complaint in str(raised.value)


def test_the_smtp_password_and_signing_keys_never_show() -> None:
    settings = Settings(smtp_password="hunter2-smtp", signing_keys="k=material")
    assert "hunter2-smtp" not in repr(settings)
    assert "material" not in repr(settings)


async def test_the_password_hasher_queues_at_most_hash_max_waiting(tmp_path: Path) -> None:
    """DOS-1: beyond the queue a sign-in answers 503 at once instead of piling up."""
    settings = Settings(
        database_url="memory://", data_dir=tmp_path, hash_profile="test", hash_max_waiting=3
    )
    async with Dashcore.open(settings) as core, core.scope() as scope:
        hasher = await scope.get(PasswordHasher)
    assert isinstance(hasher, LibpassHasher) and hasher.max_waiting == 3
