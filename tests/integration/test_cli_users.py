"""`dashcore users create-admin` on the embedded SQLite default."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dashcore.domain.email import Email
from dashcore.domain.users import Role
from dashcore.ports.users import UserRepository
from dashcore_app import Dashcore, Settings
from dashcore_cli import cli

PASSWORD = "an administrator passphrase"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DASHCORE_DATA_DIR": str(tmp_path),
        "DASHCORE_ENV": "development",
        "DASHCORE_HASH_PROFILE": "test",
    }


def invoke(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, input=stdin, catch_exceptions=False)


async def role_of(settings: Settings, address: str) -> tuple[Role, bool] | None:
    async with Dashcore.open(settings) as core, core.scope() as scope:
        user = await (await scope.get(UserRepository)).get_by_email_key(Email(address).key)
        return None if user is None else (user.role, user.verified)


def test_create_admin_makes_a_verified_admin_and_promotes_an_existing_account(
    env: dict[str, str],
) -> None:
    assert invoke(env, "keys", "generate", "--development").exit_code == 0
    assert invoke(env, "keys", "signing", "generate", "--development").exit_code == 0
    assert invoke(env, "migrate", "up").exit_code == 0
    created = invoke(
        env, "users", "create-admin", "--email", "root@example.org", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert "administrator root@example.org" in created.output
    assert PASSWORD not in created.output
    settings = Settings.from_env(env)
    assert asyncio.run(role_of(settings, "ROOT@example.org")) == (Role.ADMIN, True)

    prompted = invoke(
        env, "users", "create-admin", "--email", "root@example.org",
        stdin=f"{PASSWORD}\n{PASSWORD}\n",
    )  # fmt: skip
    assert prompted.exit_code == 0, prompted.output


def test_a_weak_password_is_refused_with_the_reason(env: dict[str, str]) -> None:
    assert invoke(env, "keys", "generate", "--development").exit_code == 0
    assert invoke(env, "keys", "signing", "generate", "--development").exit_code == 0
    assert invoke(env, "migrate", "up").exit_code == 0
    refused = CliRunner().invoke(
        cli,
        ["users", "create-admin", "--email", "root@example.org", "--password-stdin"],
        env=env,
        input="short\n",
    )
    assert refused.exit_code == 1
    assert "password_too_short" in refused.output
