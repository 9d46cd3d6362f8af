"""A lot ledger resumed from a snapshot (issue #8): for any trades, splits and point where the
history is cut, the ledger of the first part kept as a snapshot, restored and extended with the
rest equals the ledger built at once, in every figure, every open lot and every last trade
price, under every cost method. Plus the rules a resumed ledger keeps: the execution order
across calls, pending splits, one account's view, and snapshots that do not fit together."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import CostMethod, LedgerEntry, LotLedger, ledger_entry
from dashcore.domain.trades import Split, Trade
from tests.unit.test_ledger import AAPL, MSFT, at, buy, money, sell
from tests.unit.test_ledger_properties import (
    ACCOUNTS,
    Spec,
    price_map,
    prices,
    specs,
    splits,
    trades_of,
)


def entries_of(trades: list[Trade]) -> list[LedgerEntry]:
    """In execution order, as the trade repository reads them."""
    return [ledger_entry(t) for t in sorted(trades, key=lambda t: (t.executed_at, t.id))]


@given(
    st.lists(specs, max_size=40),
    splits,
    prices,
    st.integers(0, 40),
    st.integers(0, 40),
)
def test_a_ledger_resumed_from_its_snapshot_is_the_ledger_built_at_once(
    drawn: list[Spec],
    split_list: list[Split],
    last: dict[InstrumentKey, Decimal],
    cut: int,
    second_cut: int,
) -> None:
    entries = entries_of(trades_of(drawn))
    first, second = sorted((min(cut, len(entries)), min(second_cut, len(entries))))
    for method in CostMethod:
        whole = LotLedger.from_entries(entries, method, split_list)
        head = LotLedger.from_entries(entries[:first], method, split_list)
        middle = LotLedger.from_snapshot(head.snapshot()).extend(entries[first:second])
        resumed = LotLedger.from_snapshot(middle.snapshot()).extend(entries[second:])

        assert resumed.valued_at(price_map(last)) == whole.valued_at(price_map(last))
        assert resumed.valued_at({}) == whole.valued_at({})
        assert resumed.last_trade_prices() == whole.last_trade_prices()
        assert resumed.snapshot() == whole.snapshot()
        for account in ACCOUNTS:
            for instrument in price_map(last):
                assert resumed.open_lots(account, instrument) == whole.open_lots(
                    account, instrument
                )


@given(st.lists(specs, max_size=40), splits, prices)
def test_one_accounts_view_is_the_ledger_of_its_trades_alone(
    drawn: list[Spec], split_list: list[Split], last: dict[InstrumentKey, Decimal]
) -> None:
    entries = entries_of(trades_of(drawn))
    for method in CostMethod:
        whole = LotLedger.from_entries(entries, method, split_list)
        for account in ACCOUNTS:
            alone = LotLedger.from_entries(
                [entry for entry in entries if entry[0] == account], method, split_list
            )
            view = whole.for_account(account)
            assert view.valued_at(price_map(last)) == alone.valued_at(price_map(last))
            assert view.last_trade_prices() == alone.last_trade_prices()
            assert view.accounts() <= {account}
            assert view.open_instruments() == {
                line.instrument: line.currency
                for line in alone.valued_at({}).positions
                if line.quantity
            }


def test_an_entry_earlier_than_the_last_one_applied_is_refused_across_calls() -> None:
    ledger = LotLedger.from_entries([ledger_entry(buy(1, 100, step=5))], CostMethod.FIFO)
    resumed = LotLedger.from_snapshot(ledger.snapshot())

    with pytest.raises(ValueError, match="execution order"):
        resumed.extend([ledger_entry(buy(1, 100, step=4))])
    # The same instant is no earlier: trades at one instant go in order of their ids.
    resumed = LotLedger.from_snapshot(ledger.snapshot())
    resumed.extend([ledger_entry(sell(1, 110, step=5))])
    assert resumed.valued_at({}).positions[0].realized_pnl == money(10)


def test_a_split_not_reached_yet_is_valued_and_still_applies_to_later_trades() -> None:
    two_for_one = Split(AAPL, 2, 1, at(10))
    ledger = LotLedger.from_entries([ledger_entry(buy(10, 100, step=1))], "fifo", [two_for_one])

    # Valued after the split: 20 units of 50 each, the split kept pending.
    (line,) = ledger.valued_at({AAPL: money(60)}).positions
    assert (line.quantity, line.average_cost) == (Decimal(20), money(50))
    assert ledger.snapshot().pending_splits == (("AAPL", "XNAS", 2, 1, at(10)),)

    # A buy before the split is in old units; the split then doubles both lots.
    resumed = LotLedger.from_snapshot(ledger.snapshot())
    resumed.extend([ledger_entry(buy(10, 120, step=5)), ledger_entry(sell(5, 70, step=11))])
    assert resumed.open_lots("manual", AAPL)[0].quantity == Decimal(15)
    assert resumed.snapshot().pending_splits == ()
    (line,) = resumed.valued_at({}).positions
    # fifo: the sale of 5 new units takes a quarter of the first lot's 1000: 350 - 250.
    assert (line.quantity, line.realized_pnl) == (Decimal(35), money(100))


def test_the_last_trade_price_is_the_latest_entrys_in_any_account() -> None:
    trades = [
        buy(1, 100, step=1, account="a"),
        buy(1, 104, step=2, account="b"),
        # Same instant, the later id: applied last, so it is the last trade.
        buy(1, 103, step=2, account="a"),
        buy(1, 50, step=3, instrument=MSFT, account="b"),
    ]
    ledger = LotLedger.from_entries(entries_of(trades), "average")

    assert ledger.last_trade_prices() == {AAPL: money(103), MSFT: money(50)}
    assert ledger.for_account("b").last_trade_prices() == {AAPL: money(104), MSFT: money(50)}
    assert ledger.accounts() == {"a", "b"}


def test_one_accounts_view_is_a_copy() -> None:
    ledger = LotLedger.from_entries([ledger_entry(buy(2, 100, step=1))], "lifo")
    view = ledger.for_account("manual")
    view.extend([ledger_entry(sell(2, 120, step=2))])

    assert ledger.valued_at({}).positions[0].quantity == Decimal(2)
    assert view.valued_at({}).positions[0].quantity == Decimal(0)
    assert ledger.for_account("elsewhere").valued_at({}).positions == ()


def test_a_snapshot_whose_parts_do_not_fit_is_refused() -> None:
    snapshot = LotLedger.from_entries([ledger_entry(buy(2, 100, step=1))], "fifo").snapshot()
    (position,) = snapshot.positions
    lots_off = replace(snapshot, positions=((*position[:10], (), *position[11:]),))
    with pytest.raises(ValueError, match="do not fit"):
        LotLedger.from_snapshot(lots_off)
    two_currencies = replace(
        snapshot, positions=(position, ("other", *position[1:3], "INR", *position[4:]))
    )
    with pytest.raises(ValueError, match="two currencies"):
        LotLedger.from_snapshot(two_currencies)


def test_a_snapshot_is_plain_values() -> None:
    trades = [buy(3, "10.5", "0.25", step=1), sell(1, 11, step=2, account="b")]
    snapshot = LotLedger.from_entries(
        entries_of(trades), "fifo", [Split(AAPL, 3, 1, at(9))]
    ).snapshot()

    def leaves(value: object) -> list[object]:
        if isinstance(value, tuple):
            return [leaf for item in value for leaf in leaves(item)]
        return [value]

    values = [snapshot.method, snapshot.entries, snapshot.last_executed_at]
    values += leaves(snapshot.positions) + leaves(snapshot.pending_splits)
    assert {type(value).__name__ for value in values} == {"str", "int", "Decimal", "datetime"}
    assert all(value.tzinfo is not None for value in values if hasattr(value, "tzinfo"))
    assert snapshot.entries == 2
    assert snapshot.last_executed_at == at(2)
    assert snapshot.positions[0][8] == Decimal("10.5")  # the last trade price
