"""`dashcore export` and `dashcore sync` on the embedded SQLite default: the export file is
written whole and parses back; on a terminal the progress bar counts to its total; bad options
are refused by name; a sync runs in the foreground with a bar, and a failed one exits 1 with its
reason."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import pty
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from click.testing import CliRunner, Result

from dashcore.application.accounts import ManualAccounts
from dashcore.application.connections import ConnectionAuthorization, Connections
from dashcore.domain.aggregation import ManualEntry, StoredTransaction, SyncRunStatus
from dashcore.domain.connections import ConnectionStatus, KeyCredentials
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.exports import ExportFormat, ExportRequest
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, ActivityType
from dashcore.domain.users import User
from dashcore.ports.aggregation import TransactionRepository
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.users import UserRepository
from dashcore_app import Dashcore, Settings
from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox import create_sandboxes
from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, GROWW_API_SECRET
from dashcore_cli import cli
from dashcore_cli.exports import export_transactions
from dashcore_cli.sync import sync_connection
from dashcore_system import SystemClock
from tests.integration.test_sync_processes import SharedSandboxes

CALLER = CallerContext(actor="test")
ROWS = 2100
"""More than one progress interval (2,000 rows), so the export saves progress on its way."""
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = {
        "DASHCORE_DATA_DIR": str(tmp_path / "var"),
        "DASHCORE_ENV": "development",
        "DASHCORE_HASH_PROFILE": "test",
        "DASHCORE_LOG_LEVEL": "WARNING",
    }
    for args in (["keys", "generate", "--development"], ["keys", "signing", "generate",
                 "--development"], ["migrate", "up"]):  # fmt: skip
        assert invoke(environment, *args).exit_code == 0
    return environment


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


async def _person(core: Dashcore, address: str) -> User:
    async with core.scope() as scope:
        now = datetime.now(UTC)
        user = User(
            id=uuid5(NAMESPACE_URL, address),
            email=Email(address),
            password_hash="$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            created_at=now,
            updated_at=now,
            verified=True,
        )
        await (await scope.get(UserRepository)).add(user)
        await (await scope.get(UnitOfWork)).commit()
    return user


async def seed_ledger(settings: Settings) -> tuple[UUID, UUID]:
    """Ada's manual account with ``ROWS`` entries an hour apart from 2026-01-01."""
    async with Dashcore.open(settings) as core:
        ada = await _person(core, "ada@example.org")
        async with core.scope() as scope:
            account = await (await scope.get(ManualAccounts)).create(
                ada.id, CALLER, name="Cash box", account_type=AccountType.CASH,
                base_currency=Currency("USD"),
            )  # fmt: skip
        async with core.scope() as scope:
            transactions = await scope.get(TransactionRepository)
            for n in range(ROWS):
                at = START + timedelta(hours=n)
                entry = ManualEntry(ActivityType.DEPOSIT, at, Money.of(f"{n}.01", "USD"))
                row = StoredTransaction.manual(UUID(int=10_000 + n), account, entry, at)
                await transactions.add(row)
            await (await scope.get(UnitOfWork)).commit()
    return ada.id, account.id


class Terminal:
    """A pseudo-terminal whose far end is read on a thread: what a person would see."""

    def __init__(self) -> None:
        self._master, slave = pty.openpty()
        self.file: TextIO = os.fdopen(slave, "w", encoding="utf-8")
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self._master, 4096)
            except OSError:
                return
            if not data:
                return
            self._chunks.append(data)

    def screen(self) -> str:
        self.file.close()
        self._reader.join(timeout=10)
        os.close(self._master)
        return b"".join(self._chunks).decode("utf-8", "replace")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    made = Terminal()
    yield made
    if not made.file.closed:
        made.screen()


# -- export ------------------------------------------------------------------------------------


def test_export_writes_the_whole_file_and_shows_the_bar(
    env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(seed_ledger(Settings.from_env(env)))
    output = tmp_path / "q1.csv"
    result = invoke(
        env, "export", "--user", "ADA@example.org", "--format", "csv",
        "--from", "2026-01-01", "--to", "2026-03-31", "-o", str(output),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Exporting" in result.output  # not a terminal: click shows the label only
    assert f"{ROWS} rows" in result.stdout
    rows = list(csv.DictReader(io.StringIO(output.read_text(), newline="")))
    assert len(rows) == ROWS
    assert [row["amount"] for row in rows[:3]] == ["0.01", "1.01", "2.01"]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []

    monthly = tmp_path / "monthly.json"
    result = invoke(
        env, "export", "--user", "ada@example.org", "--format", "json", "--period", "month",
        "--from", "2026-02-01", "--to", "2026-02-28T12:00:00+00:00", "-o", str(monthly),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (february,) = json.loads(monthly.read_text())
    hours = range(31 * 24, 31 * 24 + 27 * 24 + 12)
    assert february["period"] == "2026-02" and february["count"] == len(hours)
    assert Decimal(february["amount"]) == sum(Decimal(f"{n}.01") for n in hours)


async def test_on_a_terminal_the_export_bar_counts_to_its_total(
    env: dict[str, str], tmp_path: Path, terminal: Terminal
) -> None:
    settings = Settings.from_env(env)
    await seed_ledger(settings)
    request = ExportRequest(ExportFormat.CSV, START, START + timedelta(days=366))
    async with Dashcore.open(settings) as core:
        done = await export_transactions(
            core, "ada@example.org", request, tmp_path / "all.csv", progress=terminal.file
        )
    screen = terminal.screen()
    assert "Exporting" in screen
    assert f"{ROWS}/{ROWS}" in screen and "100%" in screen
    assert (done.row_count, done.rows_read) == (ROWS, ROWS)


def test_log_lines_go_to_standard_error_never_into_what_it_prints(
    env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(seed_ledger(Settings.from_env(env)))
    output = tmp_path / "q1.csv"
    result = invoke(
        {**env, "DASHCORE_LOG_LEVEL": "INFO", "DASHCORE_LOG_FORMAT": "json"},
        "export", "--user", "ada@example.org", "--format", "csv",
        "--from", "2026-01-01", "--to", "2026-03-31", "-o", str(output),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (printed,) = result.stdout.splitlines()  # the result line alone
    assert printed.startswith("export ") and f"{ROWS} rows" in printed
    assert '"event":"export_ended"' in result.stderr


def test_export_refuses_bad_options_by_name(env: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "x.csv")
    bad_day = invoke(env, "export", "--user", "a@b.org", "--from", "2026-13-01",
                     "--to", "2026-03-31", "-o", out)  # fmt: skip
    assert bad_day.exit_code == 2
    assert "Invalid value for '--from'" in bad_day.output
    naive = invoke(env, "export", "--user", "a@b.org", "--from", "2026-01-01",
                   "--to", "2026-03-31T00:00:00", "-o", out)  # fmt: skip
    assert naive.exit_code == 2 and "Invalid value for '--to'" in naive.output
    nobody = invoke(env, "export", "--user", "nobody@example.org", "--from", "2026-01-01",
                    "--to", "2026-03-31", "-o", out)  # fmt: skip
    assert nobody.exit_code == 1 and "user_not_found" in nobody.output
    backwards = invoke(env, "export", "--user", "nobody@example.org", "--from", "2026-03-01",
                       "--to", "2026-01-31", "-o", out)  # fmt: skip
    assert backwards.exit_code == 1 and "ends before it starts" in backwards.output
    memory = invoke({**env, "DASHCORE_DATABASE_URL": "memory://"}, "export", "--user", "a@b.org",
                    "--from", "2026-01-01", "--to", "2026-03-31", "-o", out)  # fmt: skip
    assert memory.exit_code == 1 and "memory://" in memory.output
    no_dir = invoke(env, "export", "--user", "a@b.org", "--from", "2026-01-01",
                    "--to", "2026-03-31", "-o", str(tmp_path / "missing" / "x.csv"))  # fmt: skip
    assert no_dir.exit_code == 2 and "Invalid value for '-o'" in no_dir.output
    last_day = invoke(env, "export", "--user", "a@b.org", "--from", "2026-01-01",
                      "--to", "9999-12-31", "-o", out)  # fmt: skip
    assert last_day.exit_code == 2 and "Invalid value for '--to'" in last_day.output
    assert not Path(out).exists()


# -- sync --------------------------------------------------------------------------------------


async def groww_connection(core: Dashcore) -> UUID:
    """Ada's Groww connection, connected through the sandbox with its public test keys."""
    ada = await _person(core, "ada@example.org")
    async with core.scope() as scope:
        connection = await (await scope.get(Connections)).create(ada.id, "groww", CALLER)
        key = KeyCredentials(GROWW_API_KEY, api_secret=GROWW_API_SECRET)
        await (await scope.get(ConnectionAuthorization)).submit_key_credentials(
            ada.id, connection.id, key, CALLER
        )
    return connection.id


async def test_sync_runs_in_the_foreground_with_a_bar(
    env: dict[str, str], terminal: Terminal
) -> None:
    sandboxes = BrokerSandboxes(create_sandboxes(SystemClock()))
    async with Dashcore.open(Settings.from_env(env), SharedSandboxes(sandboxes)) as core:
        connection_id = await groww_connection(core)
        ended = await sync_connection(core, connection_id, progress=terminal.file)
    screen = terminal.screen()
    assert ended.status is SyncRunStatus.SUCCEEDED, ended
    assert ended.counts.accounts == 1
    assert "Syncing groww" in screen
    assert "1 accounts" in screen


def test_a_sync_that_fails_exits_1_with_its_reason(env: dict[str, str]) -> None:
    """The connection was made through another process's sandbox, whose tokens this process's
    sandbox never issued: the provider refuses them, as a revoked consent would be."""

    async def connect() -> UUID:
        sandboxes = BrokerSandboxes(create_sandboxes(SystemClock()))
        async with Dashcore.open(Settings.from_env(env), SharedSandboxes(sandboxes)) as core:
            return await groww_connection(core)

    connection_id = asyncio.run(connect())
    result = invoke(env, "sync", str(connection_id))
    assert result.exit_code == 1, result.output
    assert "Syncing groww" in result.output
    assert "access_token_rejected" in result.output
    assert "job_started" not in result.output  # DASHCORE_LOG_LEVEL=WARNING is honoured

    async def status() -> ConnectionStatus:
        async with Dashcore.open(Settings.from_env(env)) as core, core.scope() as scope:
            connection = await (await scope.get(ProviderConnectionRepository)).get(connection_id)
            assert connection is not None
            return connection.status

    assert asyncio.run(status()) is ConnectionStatus.NEEDS_REAUTH
    unknown = invoke(env, "sync", str(UUID(int=3)))
    assert unknown.exit_code == 1 and "connection_not_found" in unknown.output
