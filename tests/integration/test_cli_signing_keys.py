"""``dashcore keys signing``: generate, rotate, list and prune the access-token signing ring."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dashcore_app import Settings
from dashcore_app.keys import (
    StartupError,
    ensure_development_keys,
    load_signing_key_ring,
    load_signing_keys,
)
from dashcore_cli import cli
from dashcore_security.signing import SigningKeyRing


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DASHCORE_DATA_DIR": str(tmp_path), "DASHCORE_ENV": "development"}


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def failing(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 1, result.output
    return result


def signing_file(env: dict[str, str]) -> Path:
    return Settings.from_env(env).signing_key_file


def test_generate_writes_a_private_file_and_refuses_to_overwrite(env: dict[str, str]) -> None:
    made = invoke(env, "keys", "signing", "generate")
    assert made.exit_code == 0 and "active key" in made.output
    path = signing_file(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = SigningKeyRing.load(path)
    assert ring.active_id in made.output and not ring.development
    assert "exists" in failing(env, "keys", "signing", "generate").output
    assert invoke(env, "keys", "signing", "generate", "--force", "--development").exit_code == 0
    assert SigningKeyRing.load(path).development


def test_print_makes_an_env_value_that_loads(env: dict[str, str]) -> None:
    value = invoke(env, "keys", "signing", "generate", "--print").output.strip()
    ring = SigningKeyRing.from_env_value(value)
    assert value.startswith(ring.active_id + "=")
    assert not signing_file(env).exists()


def test_rotate_keeps_the_old_key_for_the_token_lifetime_and_audits(env: dict[str, str]) -> None:
    invoke(env, "keys", "generate")  # the vault ring the core needs to open
    invoke(env, "migrate", "up")
    invoke(env, "keys", "signing", "generate")
    path = signing_file(env)
    old = SigningKeyRing.load(path).active_id

    before = datetime.now(UTC)
    rotated = invoke(env, "keys", "signing", "rotate")
    assert rotated.exit_code == 0 and "Restart the API processes" in rotated.output
    ring = SigningKeyRing.load(path)
    assert ring.active_id != old and old in rotated.output
    retire_after = ring.keys[old].retire_after
    assert retire_after is not None
    expected = timedelta(seconds=600 + 30)  # default DASHCORE_ACCESS_TOKEN_TTL + leeway
    assert before + expected <= retire_after <= datetime.now(UTC) + expected

    listing = invoke(env, "keys", "signing", "list").output
    assert f"{ring.active_id}  " in listing and "active" in listing
    assert f"{old}  " in listing and "verify-only until" in listing
    assert "intact" in invoke(env, "audit", "verify").output


def test_rotate_with_a_short_overlap_then_prune(env: dict[str, str]) -> None:
    invoke(env, "keys", "generate")
    invoke(env, "migrate", "up")
    invoke(env, "keys", "signing", "generate")
    path = signing_file(env)
    old = SigningKeyRing.load(path).active_id
    assert invoke(env, "keys", "signing", "rotate", "--overlap", "0").exit_code == 0
    assert old in path.read_text()  # still on file until the next change
    pruned = invoke(env, "keys", "signing", "prune")
    assert pruned.exit_code == 0 and "kept 1 signing key(s)" in pruned.output
    assert old not in path.read_text()


def test_commands_that_write_the_file_refuse_when_keys_come_from_the_environment(
    env: dict[str, str],
) -> None:
    value = SigningKeyRing.generate().to_env_value()
    configured = {**env, "DASHCORE_SIGNING_KEYS": value}
    for command in ("rotate", "prune", "generate"):
        assert "DASHCORE_SIGNING_KEYS" in failing(configured, "keys", "signing", command).output
    listed = CliRunner().invoke(cli, ["keys", "signing", "list"], env=configured)
    assert listed.exit_code == 0 and "active" in listed.output
    broken = failing({**env, "DASHCORE_SIGNING_KEYS": "s1=not-a-key"}, "keys", "signing", "list")
    assert "DASHCORE_SIGNING_KEYS is invalid" in broken.output


def test_commands_on_a_missing_or_broken_file_say_what_to_do(env: dict[str, str]) -> None:
    assert "keys signing generate" in failing(env, "keys", "signing", "list").output
    path = signing_file(env)
    path.parent.mkdir(parents=True)
    path.write_text("{")
    assert "not a valid signing key ring" in failing(env, "keys", "signing", "rotate").output


def test_embedded_default_creates_development_signing_keys_once(env: dict[str, str]) -> None:
    settings = Settings.from_env(env)
    assert ensure_development_keys(settings)
    ring = load_signing_key_ring(settings)
    assert ring.development
    assert not ensure_development_keys(settings)
    assert load_signing_key_ring(settings).active_id == ring.active_id


def test_embedded_default_leaves_configured_signing_keys_alone(env: dict[str, str]) -> None:
    value = SigningKeyRing.generate().to_env_value()
    settings = Settings.from_env({**env, "DASHCORE_SIGNING_KEYS": value})
    ensure_development_keys(settings)
    assert not settings.signing_key_file.exists()
    assert load_signing_key_ring(settings).to_env_value() == value


def test_production_creates_nothing_and_refuses_development_signing_keys(
    env: dict[str, str],
) -> None:
    production_env = {**env, "DASHCORE_ENV": "production", "DASHCORE_MAILER": "smtp"}
    production = Settings.from_env(production_env)
    assert not ensure_development_keys(production)
    assert not production.signing_key_file.exists()
    with pytest.raises(StartupError, match="keys signing generate"):
        load_signing_key_ring(production)
    SigningKeyRing.generate(development=True).save(production.signing_key_file)
    with pytest.raises(StartupError, match="development signing keys"):
        load_signing_key_ring(production)
    path = production.signing_key_file
    allowed = load_signing_keys(None, path, production=True, allow_development=True)
    assert allowed.development
    assert invoke(production_env, "migrate", "up").exit_code == 0  # a rotation is audited
    assert invoke(production_env, "keys", "signing", "rotate").exit_code == 0
    rotated = load_signing_key_ring(production)  # the development key verifies until it retires
    assert not rotated.development and len(rotated.keys) == 2


def test_invalid_env_value_is_a_startup_error_without_the_secret(tmp_path: Path) -> None:
    secret = "A" * 43
    with pytest.raises(StartupError, match="signing keys are invalid") as raised:
        load_signing_keys(f"bad/kid={secret}", tmp_path / "x.json", production=False,
                          allow_development=False)  # fmt: skip
    assert secret not in str(raised.value)
