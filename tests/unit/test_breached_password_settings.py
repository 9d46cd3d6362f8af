"""DASHCORE_BREACHED_PASSWORDS_URL (security.md PW-3): on in production, off on a laptop or in CI
unless set, validated, and the adapter it picks."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashcore.ports.passwords import BreachedPasswords
from dashcore_app import Dashcore
from dashcore_app.settings import Settings, SettingsError
from dashcore_security.breached_passwords import HibpBreachedPasswords, NoBreachCheck

VARIABLE = "DASHCORE_BREACHED_PASSWORDS_URL"
PRODUCTION = {"DASHCORE_ENV": "production", "DASHCORE_ALLOW_CONSOLE_MAILER": "true"}


@pytest.mark.parametrize("env", ["development", "test"])
def test_outside_production_the_check_is_off_unless_set(env: str) -> None:
    """An offline laptop or CI would wait for the timeout on every registration."""
    assert Settings.from_env({"DASHCORE_ENV": env}).breached_passwords_url is None


def test_production_asks_the_public_service_by_default() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.breached_passwords_url == "https://api.pwnedpasswords.com"


@pytest.mark.parametrize("off", ["off", "OFF"])
def test_production_turns_it_off_only_when_told(off: str) -> None:
    assert Settings.from_env({**PRODUCTION, VARIABLE: off}).breached_passwords_url is None


@pytest.mark.parametrize(
    ("value", "url"),
    [
        ("https://pwned.internal.example/mirror/", "https://pwned.internal.example/mirror"),
        ("http://127.0.0.1:8089", "http://127.0.0.1:8089"),
        ("http://localhost:8089", "http://localhost:8089"),
        ("http://[::1]:8089", "http://[::1]:8089"),
    ],
)
def test_an_https_url_or_plain_http_on_loopback_is_taken(value: str, url: str) -> None:
    assert Settings.from_env({VARIABLE: value}).breached_passwords_url == url


@pytest.mark.parametrize(
    "value",
    [
        "http://pwned.example.com",
        "http://10.0.0.8:8089",
        "ftp://pwned.example.com",
        "api.pwnedpasswords.com",
        "https://api.pwnedpasswords.com/?key=1",
    ],
)
def test_anything_else_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({VARIABLE: value})
    [problem] = raised.value.problems
    assert problem.startswith(f"{VARIABLE}=")


@pytest.mark.parametrize(
    ("url", "adapter"),
    [(None, NoBreachCheck), ("http://127.0.0.1:9", HibpBreachedPasswords)],
)
async def test_the_setting_picks_the_adapter(
    tmp_path: Path, url: str | None, adapter: type[BreachedPasswords]
) -> None:
    settings = Settings(
        database_url="memory://", data_dir=tmp_path, hash_profile="test", breached_passwords_url=url
    )
    async with Dashcore.open(settings) as core, core.scope() as scope:
        assert isinstance(await scope.get(BreachedPasswords), adapter)
