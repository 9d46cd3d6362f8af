"""Properties of the lot ledger (issue #8) over arbitrary trades, splits and prices.

For every cost method and every position, and for the totals:

    realized + unrealized == (market value of the open quantity + sell proceeds − sell charges)
                             − (buy cost + buy charges)

with the market value taken from a quantity replayed independently in exact fractions. The
ledger rounds a quotient that does not end at its 50th decimal place, so "equal" here means
within ``TOLERANCE`` (1e-30 of a currency unit, far below any minor unit); where no division is
involved, and between methods once everything is closed, the tests ask for exact equality.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal, localcontext
from fractions import Fraction
from random import Random
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.instruments import InstrumentKey
from dashcore.domain.ledger import PRECISION, CostMethod, LotLedger, Portfolio, PositionPnl
from dashcore.domain.money import Currency, Money
from dashcore.domain.orders import OrderSide
from dashcore.domain.trades import Split, Trade, TradeSource, TradeType

TOLERANCE = Decimal("1e-30")
AAPL = InstrumentKey("AAPL", "XNAS")
MSFT = InstrumentKey("MSFT", "XNAS")
RELIANCE = InstrumentKey("RELIANCE", "NSE")
CURRENCY = {AAPL: Currency("USD"), MSFT: Currency("USD"), RELIANCE: Currency("INR")}
ACCOUNTS = ("broker-1", "manual")
T0 = datetime(2026, 2, 2, 9, 15, tzinfo=UTC)
USER = UUID(int=1)

Position = tuple[str, InstrumentKey]  # account, instrument


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


@dataclass(frozen=True)
class Spec:
    """A trade before it has an id: the strategies draw these."""

    account: str
    instrument: InstrumentKey
    side: OrderSide
    quantity: Decimal
    price: Decimal
    charges: Decimal
    mtf: Decimal | None
    step: int


specs = st.builds(
    Spec,
    account=st.sampled_from(ACCOUNTS),
    instrument=st.sampled_from(list(CURRENCY)),
    side=st.sampled_from(list(OrderSide)),
    quantity=cents(1, 20_000),
    price=cents(0, 1_000_000),
    charges=cents(0, 5_000),
    mtf=st.none() | cents(0, 1_000),
    step=st.integers(0, 30),  # few instants: equal ones are common
)
prices = st.fixed_dictionaries({key: cents(1, 1_000_000) for key in CURRENCY})
# Ratios whose quotients of two-decimal numbers are exact, and any small ratio.
EXACT_TERMS = (1, 2, 4, 5)
exact_ratios = st.tuples(st.sampled_from(EXACT_TERMS), st.sampled_from(EXACT_TERMS)).filter(
    lambda ratio: ratio[0] != ratio[1]
)
any_ratios = st.tuples(st.integers(1, 7), st.integers(1, 7)).filter(lambda r: r[0] != r[1])
splits = st.lists(
    st.builds(
        lambda instrument, ratio, step: Split(
            instrument, ratio[0], ratio[1], T0 + timedelta(minutes=step)
        ),
        st.sampled_from(list(CURRENCY)),
        any_ratios,
        st.integers(0, 32),
    ),
    max_size=3,
)


def trades_of(drawn: list[Spec]) -> list[Trade]:
    return [
        Trade(
            id=UUID(int=index + 1),
            user_id=USER,
            account=spec.account,
            instrument=spec.instrument,
            side=spec.side,
            quantity=spec.quantity,
            price=Money(spec.price, CURRENCY[spec.instrument]),
            charges=Money(spec.charges, CURRENCY[spec.instrument]),
            type=TradeType.EQUITY,
            executed_at=T0 + timedelta(minutes=spec.step),
            source=TradeSource.MANUAL,
            mtf_charge=None if spec.mtf is None else Money(spec.mtf, CURRENCY[spec.instrument]),
        )
        for index, spec in enumerate(drawn)
    ]


def price_map(drawn: dict[InstrumentKey, Decimal]) -> dict[InstrumentKey, Money]:
    return {key: Money(amount, CURRENCY[key]) for key, amount in drawn.items()}


def close(a: Decimal | Fraction, b: Decimal | Fraction) -> bool:
    """Equal within ``TOLERANCE``, compared exactly (Decimal arithmetic in the test itself
    would round at the default 28 digits)."""
    return abs(Fraction(a) - Fraction(b)) <= Fraction(TOLERANCE)


@dataclass
class Flows:
    """What an independent replay in exact fractions says about one position."""

    quantity: Fraction = Fraction(0)
    cash_in: Fraction = Fraction(0)  # sell proceeds - sell charges
    cash_out: Fraction = Fraction(0)  # buy cost + buy charges


def replay(trades: list[Trade], split_list: list[Split]) -> dict[Position, Flows]:
    """Splits before trades at the same instant; trades by instant, then id."""
    events: list[tuple[datetime, int, int, Trade | Split]] = [
        (s.effective_at, 0, index, s) for index, s in enumerate(split_list)
    ]
    events += [(t.executed_at, 1, t.id.int, t) for t in trades]
    flows: dict[Position, Flows] = defaultdict(Flows)
    for *_, event in sorted(events, key=lambda e: e[:3]):
        if isinstance(event, Split):
            for (_, instrument), flow in flows.items():
                if instrument == event.instrument:
                    flow.quantity *= Fraction(event.numerator, event.denominator)
            continue
        flow = flows[(event.account, event.instrument)]
        value = Fraction(event.quantity) * Fraction(event.price.amount)
        charges = Fraction(event.total_charges.amount)
        if event.side is OrderSide.BUY:
            flow.quantity += Fraction(event.quantity)
            flow.cash_out += value + charges
        else:
            flow.quantity -= Fraction(event.quantity)
            flow.cash_in += value - charges
    return flows


def unrealized_of(line: PositionPnl) -> Decimal:
    assert line.unrealized_pnl is not None
    return line.unrealized_pnl.amount


@given(st.lists(specs, max_size=40), splits, prices)
def test_realized_plus_unrealized_is_market_value_plus_cash_flows(
    drawn: list[Spec], split_list: list[Split], last: dict[InstrumentKey, Decimal]
) -> None:
    trades = trades_of(drawn)
    flows = replay(trades, split_list)
    for method in CostMethod:
        portfolio = LotLedger.build(trades, method, split_list).valued_at(price_map(last))
        per_currency: dict[Currency, Fraction] = defaultdict(Fraction)
        for line in portfolio.positions:
            assert line.account is not None
            flow = flows[(line.account, line.instrument)]
            market_value = flow.quantity * Fraction(last[line.instrument])
            expected = market_value + flow.cash_in - flow.cash_out
            realized = Fraction(line.realized_pnl.amount)
            assert close(realized + Fraction(unrealized_of(line)), expected), line
            assert line.market_value is not None
            assert close(line.market_value.amount, market_value)
            per_currency[line.currency] += expected
        for total in portfolio.totals:
            assert total.unrealized_pnl is not None
            realized = Fraction(total.realized_pnl.amount)
            assert close(
                realized + Fraction(total.unrealized_pnl.amount), per_currency[total.currency]
            )


@given(st.lists(specs, max_size=40), prices, st.randoms(use_true_random=False))
def test_the_order_trades_come_in_does_not_matter(
    drawn: list[Spec], last: dict[InstrumentKey, Decimal], random: Random
) -> None:
    trades = trades_of(drawn)
    shuffled = trades.copy()
    random.shuffle(shuffled)
    for method in CostMethod:
        assert LotLedger.build(shuffled, method).valued_at(price_map(last)) == LotLedger.build(
            trades, method
        ).valued_at(price_map(last))


def closed_out(trades: list[Trade], portfolio: Portfolio) -> list[Trade]:
    """``trades`` plus, after them, one trade per open position that closes it."""
    closing = []
    for index, line in enumerate(portfolio.positions, start=len(trades) + 1):
        if not line.quantity:
            continue
        assert line.account is not None
        closing.append(
            Trade(
                id=UUID(int=index),
                user_id=USER,
                account=line.account,
                instrument=line.instrument,
                side=OrderSide.SELL if line.quantity > 0 else OrderSide.BUY,
                quantity=abs(line.quantity),
                price=Money(Decimal("12.34"), line.currency),
                charges=Money(Decimal("0.5"), line.currency),
                type=TradeType.EQUITY,
                executed_at=T0 + timedelta(days=1),
                source=TradeSource.MANUAL,
            )
        )
    return trades + closing


@given(st.lists(specs, max_size=40))
def test_every_method_realizes_the_same_total_once_everything_is_closed(
    drawn: list[Spec],
) -> None:
    trades = trades_of(drawn)
    everything = closed_out(trades, LotLedger.build(trades, CostMethod.FIFO).valued_at({}))
    flows = replay(everything, [])
    realized = {}
    for method in CostMethod:
        portfolio = LotLedger.build(everything, method).valued_at({})
        for line in portfolio.positions:
            assert line.account is not None
            flow = flows[(line.account, line.instrument)]
            assert line.quantity == 0
            assert line.cost_basis.amount == 0
            assert close(line.realized_pnl.amount, flow.cash_in - flow.cash_out)
        realized[method] = {t.currency: t.realized_pnl.amount for t in portfolio.totals}
    assert realized[CostMethod.FIFO] == realized[CostMethod.LIFO] == realized[CostMethod.AVERAGE], (
        "exactly: quotients end at fixed places, so the parts of a lot add back to its basis"
    )


@given(st.lists(specs, max_size=40), splits)
def test_quantities_are_conserved_and_the_lots_add_up_to_the_line(
    drawn: list[Spec], split_list: list[Split]
) -> None:
    trades = trades_of(drawn)
    flows = replay(trades, split_list)
    for method in CostMethod:
        ledger = LotLedger.build(trades, method, split_list)
        for line in ledger.valued_at({}).positions:
            assert line.account is not None
            assert close(line.quantity, flows[(line.account, line.instrument)].quantity)
            lots = ledger.open_lots(line.account, line.instrument)
            assert close(sum((Fraction(lot.quantity) for lot in lots), Fraction(0)), line.quantity)
            assert close(
                sum((Fraction(lot.cost_basis.amount) for lot in lots), Fraction(0)),
                line.cost_basis.amount,
            )
            assert all((lot.quantity > 0) == (line.quantity > 0) for lot in lots)
            assert all(lot.opened_at <= T0 + timedelta(minutes=30) for lot in lots)
            if method is CostMethod.AVERAGE:
                assert len(lots) <= 1


def in_new_units(trade: Trade, numerator: int, denominator: int) -> Trade:
    """The same trade as it reads after a numerator-for-denominator split."""
    price = trade.price.amount * denominator / numerator
    return Trade(
        id=trade.id,
        user_id=trade.user_id,
        account=trade.account,
        instrument=trade.instrument,
        side=trade.side,
        quantity=trade.quantity * numerator / denominator,
        price=Money(price, trade.price.currency),
        charges=trade.charges,
        type=trade.type,
        executed_at=trade.executed_at,
        source=trade.source,
        mtf_charge=trade.mtf_charge,
    )


@given(
    st.lists(specs, max_size=40),
    prices,
    st.sampled_from(list(CURRENCY)),
    exact_ratios,
    st.integers(0, 31),
)
def test_a_split_changes_neither_cost_basis_nor_market_value(
    drawn: list[Spec],
    last: dict[InstrumentKey, Decimal],
    instrument: InstrumentKey,
    ratio: tuple[int, int],
    step: int,
) -> None:
    """The same history told in old units throughout, or in new units from the split on
    (quantities × n/d, prices × d/n, last price in new units), values the same."""
    numerator, denominator = ratio
    split_at = T0 + timedelta(minutes=step)
    old = trades_of(drawn)
    new = [
        in_new_units(t, numerator, denominator)
        if t.instrument == instrument and t.executed_at >= split_at
        else t
        for t in old
    ]
    new_last = price_map(last)
    new_last[instrument] = Money(last[instrument] * denominator / numerator, CURRENCY[instrument])
    for method in CostMethod:
        before = LotLedger.build(old, method).valued_at(price_map(last))
        after = LotLedger.build(
            new, method, [Split(instrument, numerator, denominator, split_at)]
        ).valued_at(new_last)
        for unsplit, split in zip(before.positions, after.positions, strict=True):
            assert (unsplit.account, unsplit.instrument) == (split.account, split.instrument)
            factor = Fraction(numerator, denominator) if split.instrument == instrument else 1
            assert close(split.quantity, Fraction(unsplit.quantity) * factor)
            assert close(split.cost_basis.amount, unsplit.cost_basis.amount)
            assert close(split.realized_pnl.amount, unsplit.realized_pnl.amount)
            assert split.market_value is not None and unsplit.market_value is not None
            assert close(split.market_value.amount, unsplit.market_value.amount)
            assert close(unrealized_of(split), unrealized_of(unsplit))


@dataclass(frozen=True)
class Order:
    """One order, executed either as one trade or as ``len(fills)`` smaller ones."""

    spec: Spec
    fills: tuple[int, ...]  # relative sizes of the fills
    charge_shares: tuple[int, ...]  # relative shares of the charges (average cost only)


orders = st.builds(
    lambda spec, fills, shares: Order(spec, tuple(fills), tuple(shares)),
    specs,
    st.lists(st.integers(1, 9), min_size=1, max_size=5),
    st.lists(st.integers(0, 9), min_size=5, max_size=5),
)


def as_fills(order_list: list[Order], *, proportional_charges: bool) -> list[Trade]:
    """Every order split into its fills, all at the order's own instant. Fill quantities are
    proportional to ``fills`` and add up to the order's; charges are shared in proportion to
    the quantities (``proportional_charges``) or to ``charge_shares``, and add up too."""
    result: list[Trade] = []
    for step, order in enumerate(order_list):
        spec = order.spec
        weights = [Fraction(w, sum(order.fills)) for w in order.fills]
        chosen = order.charge_shares[: len(weights)]
        if proportional_charges or not any(chosen):
            shares = weights
        else:
            shares = [Fraction(share, sum(chosen)) for share in chosen]
        for weight, share in zip(weights, shares, strict=True):
            with localcontext(prec=PRECISION):
                quantity = spec.quantity * weight.numerator / weight.denominator
                charges = spec.charges * share.numerator / share.denominator
            result.append(
                Trade(
                    id=UUID(int=len(result) + 1),
                    user_id=USER,
                    account=spec.account,
                    instrument=spec.instrument,
                    side=spec.side,
                    quantity=quantity,
                    price=Money(spec.price, CURRENCY[spec.instrument]),
                    charges=Money(charges, CURRENCY[spec.instrument]),
                    type=TradeType.EQUITY,
                    executed_at=T0 + timedelta(minutes=step),
                    source=TradeSource.MANUAL,
                )
            )
    return result


def as_orders(order_list: list[Order]) -> list[Trade]:
    return trades_of(
        [
            Spec(o.spec.account, o.spec.instrument, o.spec.side, o.spec.quantity, o.spec.price,
                 o.spec.charges, None, step)
            for step, o in enumerate(order_list)
        ]
    )  # fmt: skip


def assert_same_pnl(one: Portfolio, other: Portfolio) -> None:
    for a, b in zip(one.positions, other.positions, strict=True):
        assert (a.account, a.instrument) == (b.account, b.instrument)
        assert close(a.quantity, b.quantity)
        assert close(a.cost_basis.amount, b.cost_basis.amount)
        assert close(a.realized_pnl.amount, b.realized_pnl.amount)
        assert close(unrealized_of(a), unrealized_of(b))


@given(st.lists(orders, max_size=25), prices)
def test_partial_fills_give_the_pnl_of_one_trade_under_fifo_and_average(
    order_list: list[Order], last: dict[InstrumentKey, Decimal]
) -> None:
    whole = as_orders(order_list)
    filled = as_fills(order_list, proportional_charges=True)
    for method in (CostMethod.FIFO, CostMethod.AVERAGE):
        assert_same_pnl(
            LotLedger.build(filled, method).valued_at(price_map(last)),
            LotLedger.build(whole, method).valued_at(price_map(last)),
        )


def never_short(order_list: list[Order]) -> list[Order]:
    """The orders with every sell that would sell more than is held turned into a buy."""
    held: dict[Position, Decimal] = defaultdict(Decimal)
    result = []
    for order in order_list:
        spec = order.spec
        position = (spec.account, spec.instrument)
        if spec.side is OrderSide.SELL and spec.quantity > held[position]:
            spec = replace(spec, side=OrderSide.BUY)
        held[position] += spec.quantity if spec.side is OrderSide.BUY else -spec.quantity
        result.append(replace(order, spec=spec))
    return result


@given(st.lists(orders, max_size=25).map(never_short), prices)
def test_under_average_cost_how_charges_are_shared_between_fills_does_not_matter(
    order_list: list[Order], last: dict[InstrumentKey, Decimal]
) -> None:
    """Pooling adds the charges of every fill of an opening order into one basis, and a
    closing order's charges all reduce its realized P&L, so only their sum counts. (An order
    that goes through zero shares its charges between closing and opening by quantity, so
    there the split would move P&L between realized and unrealized: histories never short.)"""
    whole = as_orders(order_list)
    filled = as_fills(order_list, proportional_charges=False)
    assert_same_pnl(
        LotLedger.build(filled, CostMethod.AVERAGE).valued_at(price_map(last)),
        LotLedger.build(whole, CostMethod.AVERAGE).valued_at(price_map(last)),
    )
