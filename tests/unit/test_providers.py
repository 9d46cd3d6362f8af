"""Choosing adapters from the settings, and failing clearly when an extra is missing."""

import importlib.util
from importlib.machinery import ModuleSpec

import pytest

from dashcore_app import Settings, StartupError, providers_for
from dashcore_app.providers import MemoryProvider, SqlProvider
from dashcore_app.redis_provider import RedisProvider


def kinds(settings: Settings) -> set[type]:
    return {type(provider) for provider in providers_for(settings)}


def test_urls_pick_the_adapters() -> None:
    assert MemoryProvider in kinds(Settings(database_url="memory://"))
    sqlite = kinds(Settings(database_url="sqlite+aiosqlite:///x.db"))
    assert SqlProvider in sqlite and RedisProvider not in sqlite
    both = kinds(Settings(database_url="postgresql+asyncpg://h/db", redis_url="redis://h:6379/0"))
    assert {SqlProvider, RedisProvider} <= both


@pytest.mark.parametrize(
    ("missing", "settings", "extra"),
    [
        ("asyncpg", Settings(database_url="postgresql+asyncpg://h/db"), "dashcore[postgres]"),
        ("redis", Settings(database_url="memory://", redis_url="redis://h/0"), "dashcore[redis]"),
    ],
)
def test_a_missing_extra_is_named_at_start(
    monkeypatch: pytest.MonkeyPatch, missing: str, settings: Settings, extra: str
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == missing else real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(StartupError, match=extra.replace("[", r"\[").replace("]", r"\]")):
        providers_for(settings)


def test_settings_without_a_database_url_are_refused_with_the_fix() -> None:
    """Found by QA: ``Dashcore.open(Settings(...))`` without a database URL failed with
    SQLAlchemy's "Could not parse SQLAlchemy URL"."""
    with pytest.raises(StartupError, match=r"Settings\.from_env\(\)"):
        providers_for(Settings())
