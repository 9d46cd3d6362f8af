"""The `dashcore` command on the embedded SQLite default: migrate, keys, audit verify."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore.application.key_rotation import ReencryptProgress, ReencryptSecrets
from dashcore.application.secrets import SecretKeeper
from dashcore.ports.uow import UnitOfWork
from dashcore_app import Dashcore, Settings
from dashcore_cli import cli, context
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing
from dashcore_sql import COMMAND_TIMEOUT


class Interrupted(Exception):
    pass


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"DASHCORE_DATA_DIR": str(tmp_path), "DASHCORE_ENV": "development"}


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def settings_for(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


async def seal_secrets(settings: Settings, count: int) -> None:
    async with Dashcore.open(settings) as core, core.scope() as scope:
        keeper = await scope.get(SecretKeeper)
        for n in range(count):
            await keeper.store(f"user:{n}", "broker_token", f"token-{n}".encode())
        await (await scope.get(UnitOfWork)).commit()


async def reveal_all(settings: Settings, count: int) -> list[bytes]:
    async with Dashcore.open(settings) as core, core.scope() as scope:
        keeper = await scope.get(SecretKeeper)
        return [await keeper.reveal(f"user:{n}", "broker_token") for n in range(count)]


async def interrupted_reencrypt(settings: Settings) -> None:
    def stop(_: ReencryptProgress) -> None:
        raise Interrupted

    async with Dashcore.open(settings) as core, core.scope() as scope:
        job = await scope.get(ReencryptSecrets)
        with pytest.raises(Interrupted):
            await job(batch_size=4, on_progress=stop)


def current_revision(env: dict[str, str]) -> str:
    """The revision `migrate current` prints (its last line: an earlier test in this process
    may have routed alembic's log lines to stdout)."""
    return invoke(env, "migrate", "current").output.strip().splitlines()[-1]


def test_migrate_up_current_history_and_down(env: dict[str, str]) -> None:
    assert "does not exist" in current_revision(env), "no database file yet: nothing to read"
    up = invoke(env, "migrate", "up")
    assert up.exit_code == 0 and "database at revision" in up.output
    head = current_revision(env)
    assert head != "base" and head in invoke(env, "migrate", "history").output
    assert "revision base" in invoke(env, "migrate", "down", "base").output


def test_migrations_run_without_the_per_statement_limit_that_reads_keep(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index build on a large table may rightly outlast the 60 s each request's statement
    gets: `migrate up` must not cancel it halfway; `migrate current` only reads, and keeps it."""
    timeouts: list[float | None] = []
    real = context.create_engine

    def recording(url: str, *, command_timeout: float | None) -> AsyncEngine:
        timeouts.append(command_timeout)
        return real(url, command_timeout=command_timeout)

    monkeypatch.setattr(context, "create_engine", recording)
    invoke(env, "migrate", "up")
    invoke(env, "migrate", "current")
    assert timeouts == [None, COMMAND_TIMEOUT]


def test_migrate_down_takes_relative_steps_and_refuses_impossible_targets_in_one_line(
    env: dict[str, str],
) -> None:
    invoke(env, "migrate", "up")
    head = current_revision(env)
    one_back = invoke(env, "migrate", "down", "-1")  # as docs/operations.md writes it
    assert one_back.exit_code == 0
    assert current_revision(env) not in {head, "base"}
    assert invoke(env, "migrate", "down", "base").exit_code == 0
    for args in (("down",), ("down", "-2"), ("up", "0999_unknown")):
        refused = CliRunner().invoke(cli, ["migrate", *args], env=env)
        assert refused.exit_code == 1, refused.output
        assert refused.exception is None or isinstance(refused.exception, SystemExit)
        assert "Error: cannot migrate to" in refused.output
    assert current_revision(env) == "base"


def test_keys_generate_makes_every_directory_it_creates_private(tmp_path: Path) -> None:
    """Found by QA: on a new data directory, ``keys generate`` made ``var/`` 0755 around its
    0700 ``var/keys``; the database later created there sat in a directory others could
    enter."""
    data = tmp_path / "new" / "var"
    env = {"DASHCORE_DATA_DIR": str(data), "DASHCORE_ENV": "development"}
    assert invoke(env, "keys", "generate").exit_code == 0
    assert invoke(env, "keys", "signing", "generate").exit_code == 0
    for made in (tmp_path / "new", data, data / "keys"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


def test_rotate_reencrypt_then_remove_the_old_key(env: dict[str, str]) -> None:
    settings = settings_for(env)
    assert invoke(env, "keys", "generate").exit_code == 0
    invoke(env, "migrate", "up")
    old_key = KeyRing.load(settings.vault_key_file).active_id
    asyncio.run(seal_secrets(settings, 10))

    rotated = invoke(env, "keys", "rotate")
    assert rotated.exit_code == 0
    new_key = KeyRing.load(settings.vault_key_file).active_id
    assert new_key != old_key

    refused = CliRunner().invoke(cli, ["keys", "remove", old_key], env=env)
    assert refused.exit_code == 1 and "still seals 10" in refused.output

    asyncio.run(interrupted_reencrypt(settings))  # one batch of 4 done, then a crash
    listing = invoke(env, "keys", "list").output
    assert "seals 6" in listing and "seals 4" in listing

    finished = invoke(env, "keys", "reencrypt", "--batch-size", "4")
    assert finished.exit_code == 0
    assert "re-encrypted 4, 2 remaining" in finished.output
    assert "done: 6 secret(s)" in finished.output

    assert invoke(env, "keys", "remove", old_key).exit_code == 0
    assert old_key not in KeyRing.load(settings.vault_key_file).keys
    assert asyncio.run(reveal_all(settings, 10)) == [f"token-{n}".encode() for n in range(10)]
    audit = invoke(env, "audit", "verify")
    assert audit.exit_code == 0 and "intact" in audit.output


def test_production_leaves_a_development_ring_by_rotating_reencrypting_and_removing(
    env: dict[str, str],
) -> None:
    """The key marks itself, not the ring: once `keys rotate` has made a real key active,
    production starts (warning while the development key still decrypts), and removing that
    key ends the warning. No DASHCORE_ALLOW_DEVELOPMENT_KEYS is needed on the way."""
    production = {**env, "DASHCORE_ENV": "production", "DASHCORE_MAILER": "smtp"}
    assert invoke(env, "keys", "generate", "--development").exit_code == 0
    assert invoke(env, "keys", "signing", "generate").exit_code == 0
    invoke(production, "migrate", "up")
    development_key = KeyRing.load(settings_for(env).vault_key_file).active_id
    asyncio.run(seal_secrets(settings_for(env), 3))

    refused = CliRunner().invoke(cli, ["serve"], env=production)
    assert refused.exit_code == 1
    assert f"the active vault key {development_key} was made for development" in refused.output

    assert invoke(production, "keys", "rotate").exit_code == 0
    assert "seals 3  (development key)" in invoke(production, "keys", "list").output
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        warned = CliRunner().invoke(cli, ["serve", "--port", port], env=production)
        assert "cannot listen" in warned.output  # the key checks passed; the port stopped it
        assert f"development vault key(s) {development_key} still decrypt" in warned.output

        assert invoke(production, "keys", "reencrypt").exit_code == 0
        assert invoke(production, "keys", "remove", development_key).exit_code == 0
        clean = CliRunner().invoke(cli, ["serve", "--port", port], env=production)
        assert "cannot listen" in clean.output and "development" not in clean.output
    assert asyncio.run(reveal_all(settings_for(env), 3)) == [b"token-0", b"token-1", b"token-2"]


def test_audit_verify_names_the_first_tampered_event(env: dict[str, str]) -> None:
    settings = settings_for(env)
    invoke(env, "keys", "generate")
    invoke(env, "migrate", "up")
    for _ in range(3):
        invoke(env, "keys", "rotate")  # each rotation appends an audit event
    assert invoke(env, "audit", "verify").exit_code == 0

    database = settings.data_dir / "dashcore.db"
    with sqlite3.connect(database) as connection:
        event_id = connection.execute("SELECT id FROM audit_events WHERE seq = 2").fetchone()[0]
        connection.execute("UPDATE audit_events SET target = 'key:forged' WHERE seq = 2")
    broken = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert broken.exit_code == 1
    assert "seq 2" in broken.output and "altered" in broken.output
    assert str(event_id).replace("-", "")[:8] in broken.output.replace("-", "")


@pytest.mark.parametrize(
    "edit",
    [
        "occurred_at = 'garbage'",
        "id = 'not-a-uuid'",
        "metadata = 'not json'",
    ],
)
def test_audit_verify_reports_an_event_edited_into_something_unreadable(
    env: dict[str, str], edit: str
) -> None:
    """Not a traceback: the event that no longer reads back is the first broken link."""
    settings = settings_for(env)
    invoke(env, "keys", "generate")
    invoke(env, "migrate", "up")
    for _ in range(2):
        invoke(env, "keys", "rotate")
    with sqlite3.connect(settings.data_dir / "dashcore.db") as connection:
        connection.execute(f"UPDATE audit_events SET {edit} WHERE seq = 2")  # noqa: S608

    broken = CliRunner().invoke(cli, ["audit", "verify"], env=env)

    assert broken.exit_code == 1, broken.output
    assert broken.exception is None or isinstance(broken.exception, SystemExit)
    assert "BROKEN" in broken.output and "at seq 2" in broken.output
    assert "cannot be read back" in broken.output


def test_generate_refuses_to_overwrite_and_prints_env_values(env: dict[str, str]) -> None:
    assert invoke(env, "keys", "generate").exit_code == 0
    again = CliRunner().invoke(cli, ["keys", "generate"], env=env)
    assert again.exit_code == 1 and "exists" in again.output
    printed = invoke(env, "keys", "generate", "--print").output.strip()
    assert KeyRing.from_env_value(printed).active_id in printed


def test_bad_configuration_is_reported_by_variable_name(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["migrate", "current"], env={**env, "DASHCORE_PORT": "x"})
    assert result.exit_code == 1
    assert "DASHCORE_PORT='x'" in result.output


def test_a_rotation_the_database_cannot_audit_leaves_the_key_file_as_it_was(
    env: dict[str, str],
) -> None:
    settings = settings_for(env)
    invoke(env, "keys", "generate")
    invoke(env, "keys", "signing", "generate")
    vault, signing = settings.vault_key_file.read_bytes(), settings.signing_key_file.read_bytes()
    for args in (("keys", "rotate"), ("keys", "signing", "rotate")):  # no schema: no audit log
        refused = CliRunner().invoke(cli, list(args), env=env)
        assert refused.exit_code == 1 and refused.output.startswith("Error: "), refused.output
    assert settings.vault_key_file.read_bytes() == vault
    assert settings.signing_key_file.read_bytes() == signing


def test_keys_list_shows_the_ring_of_dashcore_vault_keys(env: dict[str, str]) -> None:
    ring = KeyRing.generate().rotate()
    with_env = {**env, "DASHCORE_VAULT_KEYS": ring.to_env_value()}
    invoke(with_env, "migrate", "up")
    asyncio.run(seal_secrets(settings_for(with_env), 3))
    listed = invoke(with_env, "keys", "list")
    assert listed.exit_code == 0
    lines = listed.output.strip().splitlines()
    assert [line.split()[:2] for line in lines] == [
        [ring.active_id, "active"],
        *([kid, "decrypt-only"] for kid in ring.keys if kid != ring.active_id),
    ]
    assert lines[0].endswith("seals 3") and lines[1].endswith("seals 0")


def test_a_lost_key_is_named_and_replacing_a_ring_that_seals_secrets_is_counted_and_audited(
    env: dict[str, str],
) -> None:
    """Found by QA: `keys generate --force` dropped the keys of six sealed secrets silently,
    and `keys list` then showed the new key sealing 0, saying nothing of the six."""
    settings = settings_for(env)
    assert invoke(env, "keys", "generate").exit_code == 0
    invoke(env, "migrate", "up")
    lost_key = KeyRing.load(settings.vault_key_file).active_id
    asyncio.run(seal_secrets(settings, 6))

    replaced = CliRunner().invoke(cli, ["keys", "generate", "--force"], env=env)
    assert replaced.exit_code == 0, replaced.output
    assert f"warning: 6 sealed secret(s) under {lost_key} can no longer be opened" in (
        replaced.output
    )
    listed = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert f"{lost_key}  not in ring   seals 6" in listed.output
    assert "warning: 6 sealed secret(s) are under keys this ring does not hold" in listed.output
    audit = invoke(env, "audit", "verify")
    assert audit.exit_code == 0 and "intact" in audit.output


def test_commands_that_read_the_database_never_create_one_at_a_mistyped_path(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Found by QA: `audit verify` on a mistyped path created the directory and an empty
    database, then asked for a migration."""
    typo = tmp_path / "typo" / "dashcore.db"
    mistyped = {**env, "DASHCORE_DATABASE_URL": f"sqlite+aiosqlite:///{typo}"}
    invoke(env, "keys", "generate")
    for args in (("audit", "verify"), ("migrate", "current"), ("keys", "list")):
        refused = CliRunner().invoke(cli, list(args), env=mistyped)
        assert refused.exit_code == 1, refused.output
        assert f"the database file {typo} does not exist" in refused.output
    assert not typo.parent.exists()


def test_generate_refuses_to_write_a_file_the_environment_overrides(env: dict[str, str]) -> None:
    """Found by QA: with the rings in DASHCORE_*_KEYS, `generate` wrote files never read; and
    `keys signing list` refused to show the environment's ring."""
    signing = SigningKeyRing.generate()
    with_env = {
        **env,
        "DASHCORE_VAULT_KEYS": KeyRing.generate().to_env_value(),
        "DASHCORE_SIGNING_KEYS": signing.to_env_value(),
    }
    for args in (("keys", "generate"), ("keys", "signing", "generate", "--force")):
        refused = CliRunner().invoke(cli, list(args), env=with_env)
        assert refused.exit_code == 1 and "would not be read" in refused.output
    settings = settings_for(env)
    assert not settings.vault_key_file.exists() and not settings.signing_key_file.exists()
    listed = invoke(with_env, "keys", "signing", "list")
    assert listed.output.split() == [signing.active_id, "active"]


def test_serve_on_a_port_in_use_or_with_a_broken_tls_pair_stops_in_one_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        in_use = CliRunner().invoke(cli, ["serve", "--port", port], env=env)
    assert in_use.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: " in in_use.output
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    tls = CliRunner().invoke(
        cli, ["serve", "--tls-cert", str(junk), "--tls-key", str(junk)], env=env
    )
    assert tls.exit_code == 1
    assert "Error: --tls-cert" in tls.output and "not a PEM certificate" in tls.output
