"""Exports through HTTP on PostgreSQL + Redis: request one (202, queued with its job), run the
job as a worker would, follow its status and progress, download the file and parse it back to
the very rows ``GET /transactions`` lists (CSV and JSON, synced and manual rows, awkward
descriptions); totals per month in two currencies; another user's export is 404; bad requests
name the field; where plans include exports, users without one get 403."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from dashcore.application.exports import RunExport
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from tests.integration.accounts_support import (
    connect_and_sync,
    entry,
    every_item,
    manual_account,
    problem,
)
from tests.integration.identity.conftest import (
    Backend,
    Served,
    mailbox,
    postgres_redis_backend,
    served,
)
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.conftest import sandboxes
from tests.integration.providers.support import signed_up

__all__ = ["mailbox", "sandboxes", "served"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

WIDE = {"since": "2000-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z"}
AWKWARD = 'Rent, "March"; =SUM(A1) — café'


@pytest.fixture
def export_plans() -> tuple[str, ...]:
    """No plan needed unless a test says otherwise (by parametrizing this fixture)."""
    return ()


@pytest.fixture
def backend(
    request: pytest.FixtureRequest,
    memory_settings: Settings,
    tmp_path: Path,
    export_plans: tuple[str, ...],
) -> Backend:
    settings = replace(memory_settings, exports_dir=tmp_path / "exports", export_plans=export_plans)
    return postgres_redis_backend(request, settings)


async def request_export(served: Served, account: Account, **body: Any) -> dict[str, Any]:
    response = await served.client.post(f"{API}/exports", json=body, headers=account.headers)
    assert response.status_code == 202, response.text
    export: dict[str, Any] = response.json()
    return export


async def run_export(served: Served, account: Account, export_id: str) -> dict[str, Any]:
    """Run the export's job as a worker would, then read the export back over HTTP."""
    async with served.core() as scope:
        await (await scope.get(RunExport))(UUID(export_id))
    response = await served.client.get(f"{API}/exports/{export_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    export: dict[str, Any] = response.json()
    return export


async def download(served: Served, account: Account, export: dict[str, Any]) -> str:
    response = await served.client.get(export["file_url"], headers=account.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-length"] == str(export["byte_size"])
    assert response.headers["cache-control"] == "no-store"
    return response.text


async def ledger_of(served: Served, mailbox: Mailbox) -> tuple[Account, str]:
    """Ada with a synced Schwab ledger and a manual account holding three entries."""
    ada = await signed_up(served, mailbox, "ada@example.com")
    await connect_and_sync(served, ada, "schwab")
    box = await manual_account(served.client, ada)
    for amount, day, text in (
        ("-1200.00", "2026-03-01", AWKWARD),
        ("15.25", "2026-03-02", 'Split 50%, "half"'),
        ("0.01", "2026-03-03", ""),
    ):
        await entry(
            served.client, ada, box["id"], amount,
            occurred_at=f"{day}T10:00:00Z", description=text,
        )  # fmt: skip
    return ada, box["id"]


def _oldest_first(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda row: (row["occurred_at"], row["id"]))


async def test_a_csv_export_downloads_and_parses_back_to_the_listed_rows(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    ada, _ = await ledger_of(served, mailbox)
    listed = _oldest_first(await every_item(served.client, ada, "/transactions", limit=500))

    queued = await request_export(served, ada, format="csv", **WIDE)
    assert queued["status"] == "queued" and queued["job_id"]
    assert queued["progress"] == {"rows_read": 0, "rows_estimated": None, "fraction": None}
    assert queued["file_url"] is None
    early = await served.client.get(f"{API}/exports/{queued['id']}/file", headers=ada.headers)
    assert problem(early, 409) == ("export_not_ready", [])

    done = await run_export(served, ada, queued["id"])
    assert done["status"] == "succeeded"
    assert done["progress"] == {
        "rows_read": len(listed),
        "rows_estimated": len(listed),
        "fraction": 1.0,
    }
    assert done["row_count"] == len(listed)
    response = await served.client.get(done["file_url"], headers=ada.headers)
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="transactions-20000101-20291231.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(await download(served, ada, done), newline="")))

    assert [row["id"] for row in rows] == [row["id"] for row in listed]
    for row, original in zip(rows, listed, strict=True):
        assert Decimal(row["amount"]) == Decimal(original["amount"]["amount"])
        assert row["currency"] == original["amount"]["currency"]
        assert row["type"] == original["type"]
        assert row["source"] == original["source"]
        assert row["account_id"] == original["account_id"]
        described = original["description"]
        assert row["description"] == ("'" + described if described.startswith("=") else described)
    assert {row["source"] for row in rows} == {"synced", "manual"}
    assert AWKWARD in {row["description"] for row in rows}
    assert 'Split 50%, "half"' in {row["description"] for row in rows}


async def test_a_json_export_of_one_account_is_one_array_of_its_rows(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    ada, box_id = await ledger_of(served, mailbox)
    queued = await request_export(served, ada, format="json", account_ids=[box_id], **WIDE)
    done = await run_export(served, ada, queued["id"])
    assert done["account_ids"] == [box_id]
    response = await served.client.get(done["file_url"], headers=ada.headers)
    assert response.headers["content-type"].startswith("application/json")
    rows = json.loads(await download(served, ada, done))
    assert [(r["amount"], r["description"]) for r in rows] == [
        ("-1200.00", AWKWARD),
        ("15.25", 'Split 50%, "half"'),
        ("0.01", ""),
    ]
    assert all(row["account_id"] == box_id for row in rows)


async def test_monthly_totals_sum_per_category_and_never_mix_currencies(
    served: Served, mailbox: Mailbox
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    dollars = await manual_account(served.client, ada)
    rupees = await manual_account(served.client, ada, name="Savings", currency="INR")
    for account_id, amount, day, kind in (
        (dollars["id"], "100.10", "2026-01-31T23:59:59Z", "deposit"),
        (dollars["id"], "0.20", "2026-01-02T00:00:00Z", "deposit"),
        (rupees["id"], "5000", "2026-01-15T00:00:00Z", "deposit"),
        (dollars["id"], "-3.30", "2026-01-20T00:00:00Z", "fee"),
        (dollars["id"], "7", "2026-02-01T00:00:00Z", "deposit"),
    ):
        await entry(served.client, ada, account_id, amount, occurred_at=day, type=kind)
    queued = await request_export(
        served, ada, format="csv", period="month",
        since="2026-01-01T00:00:00Z", until="2026-03-01T00:00:00Z",
    )  # fmt: skip
    done = await run_export(served, ada, queued["id"])
    assert (done["period"], done["row_count"], done["progress"]["rows_read"]) == ("month", 4, 5)
    text = await download(served, ada, done)
    assert [(r["period"], r["category"], r["currency"], r["amount"], r["count"]) for r in
            csv.DictReader(io.StringIO(text, newline=""))] == [
        ("2026-01", "deposit", "INR", "5000", "1"),
        ("2026-01", "deposit", "USD", "100.30", "2"),
        ("2026-01", "fee", "USD", "-3.30", "1"),
        ("2026-02", "deposit", "USD", "7", "1"),
    ]  # fmt: skip


async def test_another_users_export_and_accounts_are_not_found(
    served: Served, mailbox: Mailbox
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    bob = await signed_up(served, mailbox, "bob@example.com")
    box = await manual_account(served.client, ada)
    await entry(served.client, ada, box["id"], "10.00")
    mine = await request_export(served, ada, format="csv", **WIDE)
    done = await run_export(served, ada, mine["id"])

    for path in (f"/exports/{mine['id']}", f"/exports/{mine['id']}/file"):
        response = await served.client.get(f"{API}{path}", headers=bob.headers)
        assert problem(response, 404) == ("export_not_found", [])
    theirs = await served.client.post(
        f"{API}/exports", json={"format": "csv", "account_ids": [box["id"]], **WIDE},
        headers=bob.headers,
    )  # fmt: skip
    assert problem(theirs, 404) == ("account_not_found", [])
    anonymous = await served.client.get(done["file_url"])
    assert anonymous.status_code == 401
    unknown = await served.client.get(f"{API}/exports/{UUID(int=1)}", headers=ada.headers)
    assert problem(unknown, 404) == ("export_not_found", [])


BAD_BODIES: list[tuple[dict[str, Any], str]] = [
    ({"format": "csv", "since": WIDE["until"], "until": WIDE["since"]}, "until"),
    ({"format": "csv", "since": "2026-01-01T00:00:00", "until": WIDE["until"]}, "since"),
    ({"format": "xlsx", **WIDE}, "format"),
    ({"format": "csv", "period": "quarter", **WIDE}, "period"),
    ({"format": "csv", "rows": True, **WIDE}, "rows"),
    ({"format": "csv", "since": WIDE["since"]}, "until"),
    ({"format": "csv", "account_ids": ["not-an-id"], **WIDE}, "account_ids[0]"),
    ({"format": "csv", "account_ids": [str(UUID(int=n)) for n in range(101)], **WIDE},
     "account_ids"),
]  # fmt: skip


async def test_bad_requests_are_422_naming_the_field(served: Served, mailbox: Mailbox) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    for body, field in BAD_BODIES:
        response = await served.client.post(f"{API}/exports", json=body, headers=ada.headers)
        assert problem(response, 422)[1] == [field], body


@pytest.mark.parametrize("export_plans", [("pro",)])
async def test_where_plans_include_exports_a_user_without_one_gets_403(
    served: Served, mailbox: Mailbox
) -> None:
    ada = await signed_up(served, mailbox, "ada@example.com")
    response = await served.client.post(
        f"{API}/exports", json={"format": "csv", **WIDE}, headers=ada.headers
    )
    assert problem(response, 403) == ("plan_required", [])
