"""``GET /api/v1/portfolio`` over HTTP on PostgreSQL + Redis as trades come and change: the
stored ledger is used as is, resumed with a new trade, rebuilt after a trade dated back, an
edit and a deletion, and one account's view comes from the same stored ledger; every answer is
the hand-computed one."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.integration.identity.conftest import Served, mailbox, served
from tests.integration.identity.support import Account, Mailbox
from tests.integration.providers.support import signed_up
from tests.integration.test_portfolio_http import hand_checked_trades, portfolio
from tests.integration.trades_support import TRADES, backend, post_trade

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
__all__ = ["backend", "mailbox", "served"]


@pytest.fixture
async def owner(served: Served, mailbox: Mailbox) -> Account:
    return await signed_up(served, mailbox, "investor@example.com")


def figures(body: Any, account: str = "manual") -> tuple[Decimal, ...]:
    """Quantity, realized P&L and cost basis of INFY in ``account``, and its last price."""
    (line,) = [line for line in body["positions"] if line["account"] == account]
    return tuple(
        Decimal(line[name]) for name in ("quantity", "realized_pnl", "cost_basis", "last_price")
    )


async def test_every_change_of_the_trades_shows_in_the_next_answer(
    served: Served, owner: Account
) -> None:
    await hand_checked_trades(served, owner)
    # fifo: 5 left of the second buy (602.5), realized 336.5, last price 130.
    first = figures(await portfolio(served, owner, method="fifo"))
    assert first == (Decimal(5), Decimal("336.5"), Decimal("602.5"), Decimal(130))
    assert figures(await portfolio(served, owner, method="fifo")) == first  # stored, as is

    # An append: buy 5 @ 140, charges 2 -> 10 open, basis 602.5 + 702.
    await post_trade(
        served.client, owner, quantity="5", price="140", brokerage_charge="2",
        executed_at="2026-01-04T10:00:00Z",
    )  # fmt: skip
    appended = figures(await portfolio(served, owner, method="fifo"))
    assert appended == (Decimal(10), Decimal("336.5"), Decimal("1304.5"), Decimal(140))

    # Dated back before everything: buy 10 @ 90 -> the sale of 15 now takes it and 5 of the
    # first buy (502.5): 1944 - 900 - 502.5 = 541.5; open: 5 of lot 1 (502.5), lot 2 (1205),
    # the append (702).
    dated_back = await post_trade(
        served.client, owner, quantity="10", price="90", brokerage_charge="0",
        executed_at="2025-12-31T10:00:00Z",
    )  # fmt: skip
    assert figures(await portfolio(served, owner, method="fifo")) == (
        Decimal(20), Decimal("541.5"), Decimal("2409.5"), Decimal(140),
    )  # fmt: skip

    # An edit: the dated-back buy becomes 10 @ 100 -> the sale takes it (1000) and 5 of the
    # first buy (502.5): realized 441.5.
    edited = await served.client.patch(
        f"{TRADES}/{dated_back['id']}", json={"price": "100"}, headers=owner.headers
    )
    assert edited.status_code == 200, edited.text
    assert figures(await portfolio(served, owner, method="fifo")) == (
        Decimal(20), Decimal("441.5"), Decimal("2409.5"), Decimal(140),
    )  # fmt: skip

    # Deleted: back to the answer after the append.
    deleted = await served.client.delete(f"{TRADES}/{dated_back['id']}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    assert figures(await portfolio(served, owner, method="fifo")) == appended


async def test_one_accounts_answer_comes_from_the_whole_stored_ledger(
    served: Served, owner: Account
) -> None:
    await hand_checked_trades(served, owner)
    await post_trade(
        served.client, owner, account="IRA", quantity="3", price="150", brokerage_charge="0",
        executed_at="2026-01-05T10:00:00Z",
    )  # fmt: skip
    whole = await portfolio(served, owner, method="lifo")
    only_ira = await portfolio(served, owner, method="lifo", account="IRA")

    assert {line["account"] for line in whole["positions"]} == {"manual", "IRA"}
    assert [line["account"] for line in only_ira["positions"]] == ["IRA"]
    assert figures(only_ira, "IRA") == (Decimal(3), Decimal(0), Decimal(450), Decimal(150))
    # The manual account's last trade price is its own (130), not the IRA's later 150.
    only_manual = await portfolio(served, owner, method="lifo", account="manual")
    assert figures(only_manual)[3] == Decimal(130)
    assert figures(whole)[3] == Decimal(150)
