"""A small, deterministic exchange that every broker sandbox trades on.

Business rules:

- **Prices.** Each symbol has one last price, moved by :meth:`Exchange.set_price`; every move
  matches the symbol's resting orders in time priority. Fills always happen at the last price,
  which is the limit price or better for a marketable limit order.
- **Orders.** Invalid orders are not exceptions: they are recorded as ``REJECTED`` with a
  ``status_message`` (unknown instrument; quantity not positive or not a whole number of lots;
  price or trigger missing, superfluous, not positive or off the tick; a delivery buy beyond the
  buying power; a delivery sell beyond the holding less what open sells already hold back).
  ``MARKET`` fills at once; ``LIMIT`` fills when marketable (a buy at or above the last price, a
  sell at or below) and otherwise rests ``OPEN``; ``STOP`` and ``STOP_LIMIT`` wait in
  ``TRIGGER_PENDING`` until the last price reaches the trigger (a buy at or above it, a sell at or
  below; already reached at placement: triggered at once) and then work as ``MARKET`` or ``LIMIT``.
  ``IOC`` cancels whatever its first matching does not fill.
- **Liquidity.** With ``liquidity`` set, each matching event (a placement, a modification or a
  price move) fills at most that many units of a symbol, in whole lots, across its orders in time
  priority: orders go ``PARTIALLY_FILLED`` and complete on later price moves. ``None``: unlimited.
- **Money.** A fill moves cash by its value plus charges (:class:`ChargeSchedule`) and writes a
  ``BUY``/``SELL`` ledger line whose signed amount is that cash effect; ``DELIVERY`` fills move the
  holding, other products the position of that product. Open delivery buys block cash
  (``margin_used``) at their limit (or trigger, or last) price plus estimated charges.
- **End of day.** ``DAY`` orders still working expire; intraday positions are squared off at the
  last price by a system market order; bought holdings settle; flat positions and emptied holdings
  are dropped. ``GTC`` orders and margin positions carry over.

Order, trade and ledger ids are increasing numeric strings, one sequence each per exchange.
Nothing is random: the same calls give the same results.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.exchange.charges import ZERO_CHARGES, ChargeSchedule
from dashcore_brokers.sandbox.exchange.model import (
    AccountKind,
    AssetClass,
    OrderKind,
    Product,
    Side,
    SimAccount,
    SimFill,
    SimHolding,
    SimInstrument,
    SimOrder,
    SimPosition,
    SimStatus,
    SimTransaction,
    TxnKind,
    Validity,
)

__all__ = ["Exchange"]

_ZERO = Decimal(0)
_COST_QUANTUM = Decimal("1E-8")
_PRICED = frozenset({OrderKind.LIMIT, OrderKind.STOP_LIMIT})
_TRIGGERED = frozenset({OrderKind.STOP, OrderKind.STOP_LIMIT})


class _Liquidity:
    """What one matching event may still fill of a symbol (``None``: unlimited)."""

    def __init__(self, units: Decimal | None) -> None:
        self._left = units

    def take(self, wanted: Decimal, lot_size: Decimal) -> Decimal:
        """The whole-lot quantity granted out of ``wanted``, consumed from what is left."""
        if self._left is None:
            return wanted
        granted = min(wanted, self._left // lot_size * lot_size)
        self._left -= granted
        return granted


def _book(
    quantity: Decimal, cost: Decimal, delta: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """Apply a signed trade of ``delta`` at ``price`` to a book of ``quantity`` costing ``cost``.

    Returns the new quantity, the new cost and the realised profit. Trades in the book's
    direction add their value to the cost; trades against it first close the open quantity,
    removing cost pro rata (to 8 decimal places, all of it when closing everything) and
    realising proceeds less that cost, then open the rest. Cost and realised profit therefore
    stay exact sums: cash + cost changes by realised profit and nothing else.
    """
    if quantity == 0 or (quantity > 0) == (delta > 0):
        return quantity + delta, cost + delta * price, _ZERO
    closing = min(abs(delta), abs(quantity)).copy_sign(delta)
    if abs(closing) == abs(quantity):
        removed = cost
    else:
        removed = (cost * abs(closing) / abs(quantity)).quantize(_COST_QUANTUM)
    realised = -closing * price - removed
    rest = delta - closing
    return quantity + closing + rest, cost - removed + rest * price, realised


def _price_problem(label: str, value: Decimal, tick: Decimal) -> str | None:
    if not value.is_finite() or value <= 0:
        return f"{label} must be a positive number"
    if value % tick != 0:
        return f"{label} must be a multiple of the tick size {tick}"
    return None


def _quantity_problem(quantity: Decimal, lot: Decimal) -> str | None:
    if not quantity.is_finite() or quantity <= 0:
        return "quantity must be positive"
    if quantity % lot != 0:
        return f"quantity must be a multiple of the lot size {lot}"
    return None


def _positive(amount: Decimal, label: str) -> Decimal:
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"{label} must be a positive amount")
    return amount


class Exchange:
    """One market in one currency: instruments and their prices, accounts, orders and fills.

    Reading methods raise ``KeyError`` for an unknown symbol, account or order; operations that
    are not allowed in an order's or account's current state raise ``ValueError``. Orders that
    fail validation do not raise: they come back ``REJECTED`` (see the module rules).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        currency: str,
        charges: ChargeSchedule = ZERO_CHARGES,
        liquidity: Decimal | None = None,
    ) -> None:
        if liquidity is not None and (not liquidity.is_finite() or liquidity <= 0):
            raise ValueError("liquidity must be a positive number of units, or None")
        self.currency = currency
        self.charges = charges
        self.liquidity = liquidity
        self._clock = clock
        self._listings: dict[str, list[SimInstrument]] = {}
        self._prices: dict[str, Decimal] = {}
        self._accounts: dict[str, SimAccount] = {}
        self._orders: dict[str, SimOrder] = {}
        self._fills: list[tuple[str, SimFill]] = []
        self._brokerage: dict[str, Decimal] = {}
        self._order_ids = itertools.count(1)
        self._trade_ids = itertools.count(1)
        self._txn_ids = itertools.count(1)

    def __repr__(self) -> str:
        return (
            f"Exchange(currency={self.currency!r}, instruments={len(self._prices)}, "
            f"accounts={len(self._accounts)}, orders={len(self._orders)})"
        )

    # Instruments and prices ------------------------------------------------------------------

    def list_instruments(self) -> list[SimInstrument]:
        """Every listing: symbols in the order first listed, each with its listings in order."""
        return [listing for listings in self._listings.values() for listing in listings]

    def add_instrument(self, instrument: SimInstrument, price: Decimal) -> None:
        """List ``instrument`` and set its symbol's last price (shared by all its listings)."""
        if instrument.currency != self.currency:
            raise ValueError(f"this exchange trades in {self.currency}, not {instrument.currency}")
        if instrument.lot_size <= 0 or instrument.tick_size <= 0:
            raise ValueError("lot size and tick size must be positive")
        listings = self._listings.get(instrument.symbol, [])
        if any(listing.exchange == instrument.exchange for listing in listings):
            raise ValueError(f"{instrument.symbol} is already listed on {instrument.exchange}")
        problem = _price_problem("price", price, instrument.tick_size)
        if problem:
            raise ValueError(problem)
        self._listings[instrument.symbol] = [*listings, instrument]
        self.set_price(instrument.symbol, price)

    def instrument(self, symbol: str, exchange: str | None = None) -> SimInstrument:
        """The listing of ``symbol`` on ``exchange``, or its first listing when ``None``."""
        listings = self._listings.get(symbol)
        if not listings:
            raise KeyError(f"unknown instrument: {symbol}")
        if exchange is None:
            return listings[0]
        for listing in listings:
            if listing.exchange == exchange:
                return listing
        raise KeyError(f"unknown instrument: {exchange}:{symbol}")

    def last_price(self, symbol: str) -> Decimal:
        """The symbol's last traded price."""
        try:
            return self._prices[symbol]
        except KeyError:
            raise KeyError(f"unknown instrument: {symbol}") from None

    def set_price(self, symbol: str, price: Decimal) -> list[SimFill]:
        """Move the last price of ``symbol`` and match its resting orders; returns the fills."""
        instrument = self.instrument(symbol)
        problem = _price_problem("price", price, instrument.tick_size)
        if problem:
            raise ValueError(problem)
        self._prices[symbol] = price
        liquidity = _Liquidity(self.liquidity)
        fills: list[SimFill] = []
        touched: set[str] = set()
        for order in [o for o in self._orders.values() if o.is_open]:
            if order.instrument.symbol == symbol:
                fills.extend(self._work(order, liquidity))
                touched.add(order.account_id)
        for account_id in touched:
            self._refresh_margin(self._accounts[account_id])
        return fills

    # Accounts and cash -----------------------------------------------------------------------

    def open_account(
        self,
        account_id: str,
        *,
        number: str,
        kind: AccountKind = "CASH",
        cash: Decimal = _ZERO,
    ) -> SimAccount:
        """Open an account; opening ``cash`` is booked as a deposit."""
        if account_id in self._accounts:
            raise ValueError(f"account {account_id} already exists")
        if kind not in ("CASH", "MARGIN"):
            raise ValueError("an account is CASH or MARGIN")
        account = SimAccount(
            id=account_id, number=number, kind=kind, currency=self.currency, cash=_ZERO
        )
        self._accounts[account_id] = account
        if cash:
            self.deposit(account_id, cash, description="Opening balance")
        return account

    def account(self, account_id: str) -> SimAccount:
        """The account with that id."""
        try:
            return self._accounts[account_id]
        except KeyError:
            raise KeyError(f"unknown account: {account_id}") from None

    def accounts(self) -> list[SimAccount]:
        """Every account, in the order opened."""
        return list(self._accounts.values())

    def deposit(
        self, account_id: str, amount: Decimal, *, description: str = "Deposit"
    ) -> SimTransaction:
        """Add cash to an account."""
        return self._post(account_id, TxnKind.DEPOSIT, _positive(amount, "a deposit"), description)

    def withdraw(
        self, account_id: str, amount: Decimal, *, description: str = "Withdrawal"
    ) -> SimTransaction:
        """Take cash out; at most the cash not blocked by open orders."""
        account = self.account(account_id)
        _positive(amount, "a withdrawal")
        if amount > account.cash - account.margin_used:
            raise ValueError("insufficient funds for this withdrawal")
        return self._post(account_id, TxnKind.WITHDRAWAL, -amount, description)

    def pay_dividend(self, account_id: str, symbol: str, per_share: Decimal) -> SimTransaction:
        """Pay ``per_share`` on every share of ``symbol`` held for delivery."""
        holding = self.account(account_id).holdings.get(symbol)
        if holding is None or holding.quantity <= 0:
            raise ValueError(f"account {account_id} holds no {symbol}")
        amount = holding.quantity * _positive(per_share, "a dividend per share")
        return self._post(
            account_id,
            TxnKind.DIVIDEND,
            amount,
            f"Dividend {symbol} {per_share} x {holding.quantity}",
            instrument=holding.instrument,
            quantity=holding.quantity,
            price=per_share,
        )

    def pay_interest(
        self, account_id: str, amount: Decimal, *, description: str = "Interest"
    ) -> SimTransaction:
        """Credit interest on cash."""
        return self._post(account_id, TxnKind.INTEREST, _positive(amount, "interest"), description)

    def charge_fee(
        self, account_id: str, amount: Decimal, *, description: str = "Fee"
    ) -> SimTransaction:
        """Debit a fee (account maintenance, a statement, …); cash may go negative."""
        return self._post(account_id, TxnKind.FEE, -_positive(amount, "a fee"), description)

    def seed_holding(
        self, account_id: str, symbol: str, quantity: Decimal, average_price: Decimal
    ) -> SimHolding:
        """Give an account settled shares bought earlier (no cash effect, no ledger line)."""
        account = self.account(account_id)
        instrument = self.instrument(symbol)
        _positive(quantity, "a seeded quantity")
        if not average_price.is_finite() or average_price < 0:
            raise ValueError("an average price must not be negative")
        holding = account.holdings.setdefault(symbol, SimHolding(instrument, _ZERO, _ZERO))
        holding.quantity += quantity
        holding.cost += quantity * average_price
        return holding

    # Orders ----------------------------------------------------------------------------------

    def place(
        self,
        account_id: str,
        *,
        symbol: str,
        side: Side,
        quantity: Decimal,
        kind: OrderKind,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
        product: Product = Product.DELIVERY,
        validity: Validity = Validity.DAY,
        tag: str | None = None,
        exchange: str | None = None,
    ) -> SimOrder:
        """Place an order; it comes back filled, working, or ``REJECTED`` with a reason.

        ``exchange`` picks a listing of ``symbol`` (default: its first listing).
        """
        account = self.account(account_id)
        try:
            instrument: SimInstrument | None = self.instrument(symbol, exchange)
        except KeyError:
            instrument = None
        order = self._new_order(
            account,
            instrument or self._unlisted(symbol, exchange),
            side,
            quantity,
            kind,
            price,
            trigger_price,
            product,
            validity,
            tag,
        )
        problem = (
            f"unknown instrument: {symbol}"
            if instrument is None
            else self._order_problem(account, order, quantity, price, trigger_price, _ZERO)
        )
        if problem:
            order.status = SimStatus.REJECTED
            order.status_message = problem
            return order
        if kind in _TRIGGERED:
            order.status = SimStatus.TRIGGER_PENDING
        self._work(order, _Liquidity(self.liquidity))
        self._refresh_margin(account)
        return order

    def modify(
        self,
        order_id: str,
        *,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> SimOrder:
        """Change a working order's quantity, limit price or (before it triggers) trigger price.

        The new quantity must exceed what has already filled. The order then matches at once
        against the last price.
        """
        order = self.order(order_id)
        if not order.is_open:
            raise ValueError(f"order {order_id} is {order.status}: only open orders change")
        if price is not None and order.kind not in _PRICED:
            raise ValueError(f"a {order.kind} order has no limit price")
        if trigger_price is not None and order.status is not SimStatus.TRIGGER_PENDING:
            raise ValueError("only an order waiting for its trigger takes a new trigger price")
        new_quantity = order.quantity if quantity is None else quantity
        account = self._accounts[order.account_id]
        problem = self._order_problem(
            account,
            order,
            new_quantity,
            order.price if price is None else price,
            order.trigger_price if trigger_price is None else trigger_price,
            self._reserve_of(order),
        )
        if problem:
            raise ValueError(problem)
        if new_quantity <= order.filled_quantity:
            raise ValueError("the new quantity must exceed the filled quantity")
        order.quantity = new_quantity
        order.price = order.price if price is None else price
        order.trigger_price = order.trigger_price if trigger_price is None else trigger_price
        order.updated_at = self._clock.now()
        self._work(order, _Liquidity(self.liquidity))
        self._refresh_margin(account)
        return order

    def cancel(self, order_id: str) -> SimOrder:
        """Cancel what is left of a working order; fills already made stand."""
        order = self.order(order_id)
        if not order.is_open:
            raise ValueError(f"order {order_id} is {order.status}: only open orders cancel")
        self._close(order, SimStatus.CANCELLED, "cancelled by the user")
        self._refresh_margin(self._accounts[order.account_id])
        return order

    def number_from(self, first: int) -> None:
        """Hand out order, trade and ledger-entry ids from ``first`` on (each kind its own
        sequence): a sandbox started again after a restart does this so that its new orders and
        fills do not reuse the ids of the last run's, which a client may have stored. ``first``
        must be above every id handed out so far (the seeded entries keep theirs)."""
        for name in ("_order_ids", "_trade_ids", "_txn_ids"):
            upcoming = next(getattr(self, name))
            if first < upcoming:
                raise ValueError(f"ids up to {upcoming - 1} are taken: cannot start at {first}")
            setattr(self, name, itertools.count(first))

    def order(self, order_id: str) -> SimOrder:
        """The order with that id."""
        try:
            return self._orders[order_id]
        except KeyError:
            raise KeyError(f"unknown order: {order_id}") from None

    def orders(self, account_id: str) -> list[SimOrder]:
        """An account's orders, in the order placed (rejected ones included)."""
        self.account(account_id)
        return [order for order in self._orders.values() if order.account_id == account_id]

    def find_by_tag(self, account_id: str, tag: str) -> SimOrder | None:
        """The account's most recent order placed with this client reference."""
        tagged = [order for order in self.orders(account_id) if order.tag == tag]
        return tagged[-1] if tagged else None

    def fills(self, account_id: str) -> list[SimFill]:
        """An account's fills, oldest first."""
        self.account(account_id)
        return [fill for owner, fill in self._fills if owner == account_id]

    def end_of_day(self) -> None:
        """Close the trading day (see the module rules)."""
        for order in [o for o in self._orders.values() if o.is_open]:
            if order.validity is Validity.DAY:
                self._close(order, SimStatus.EXPIRED, "expired at the end of the day")
        for account in self._accounts.values():
            for position in list(account.positions.values()):
                if position.product is Product.INTRADAY and position.quantity:
                    self._square_off(account, position)
            for holding in account.holdings.values():
                holding.unsettled_quantity = _ZERO
            account.holdings = {s: h for s, h in account.holdings.items() if h.quantity}
            account.positions = {k: p for k, p in account.positions.items() if p.quantity}
            self._refresh_margin(account)

    # Internals -------------------------------------------------------------------------------

    def _unlisted(self, symbol: str, exchange: str | None) -> SimInstrument:
        """A stand-in instrument for an order rejected because its symbol is not listed."""
        return SimInstrument(symbol, exchange or "", self.currency, AssetClass.EQUITY)

    def _new_order(
        self,
        account: SimAccount,
        instrument: SimInstrument,
        side: Side,
        quantity: Decimal,
        kind: OrderKind,
        price: Decimal | None,
        trigger_price: Decimal | None,
        product: Product,
        validity: Validity,
        tag: str | None,
    ) -> SimOrder:
        now = self._clock.now()
        order = SimOrder(
            id=str(next(self._order_ids)),
            account_id=account.id,
            instrument=instrument,
            side=side,
            kind=kind,
            quantity=quantity,
            price=price,
            trigger_price=trigger_price,
            product=product,
            validity=validity,
            tag=tag,
            status=SimStatus.OPEN,
            status_message="",
            filled_quantity=_ZERO,
            average_price=None,
            placed_at=now,
            updated_at=now,
        )
        self._orders[order.id] = order
        return order

    def _order_problem(
        self,
        account: SimAccount,
        order: SimOrder,
        quantity: Decimal,
        price: Decimal | None,
        trigger_price: Decimal | None,
        blocked: Decimal,
    ) -> str | None:
        """Why ``order`` with these terms may not work, or ``None`` when it may.

        ``blocked`` is the cash the order already blocks (counted in ``margin_used``).
        """
        instrument = order.instrument
        problem = _quantity_problem(quantity, instrument.lot_size)
        if problem:
            return problem
        if order.kind in _PRICED and price is None:
            return f"a {order.kind} order needs a price"
        if order.kind not in _PRICED and price is not None:
            return f"a {order.kind} order takes no price"
        if order.kind in _TRIGGERED and trigger_price is None:
            return f"a {order.kind} order needs a trigger price"
        if order.kind not in _TRIGGERED and trigger_price is not None:
            return f"a {order.kind} order takes no trigger price"
        for label, value in (("price", price), ("trigger price", trigger_price)):
            problem = None if value is None else _price_problem(label, value, instrument.tick_size)
            if problem:
                return problem
        if order.product is not Product.DELIVERY:
            return None
        remaining = quantity - order.filled_quantity
        if order.side is Side.BUY:
            needed = self._reserve(remaining, self._reference_price(order, price, trigger_price))
            available = account.buying_power + blocked
            if needed > available:
                return f"insufficient funds: needs {needed}, buying power {available}"
            return None
        sellable = self._sellable(account, instrument.symbol, excluding=order.id)
        if remaining > sellable:
            return f"insufficient holdings: {sellable} {instrument.symbol} available to sell"
        return None

    def _reference_price(
        self, order: SimOrder, price: Decimal | None, trigger_price: Decimal | None
    ) -> Decimal:
        """The price an open buy blocks cash at: its limit, else its trigger, else the last."""
        return price or trigger_price or self._prices[order.instrument.symbol]

    def _reserve(self, quantity: Decimal, price: Decimal) -> Decimal:
        value = quantity * price
        return (
            value
            + self.charges.brokerage(value)
            + self.charges.tax(Product.DELIVERY, Side.BUY, value)
        )

    def _reserve_of(self, order: SimOrder) -> Decimal:
        """Cash that ``order`` blocks now."""
        if not (order.is_open and order.side is Side.BUY and order.product is Product.DELIVERY):
            return _ZERO
        price = self._reference_price(order, order.price, order.trigger_price)
        return self._reserve(order.pending_quantity, price)

    def _refresh_margin(self, account: SimAccount) -> None:
        account.margin_used = sum(
            (self._reserve_of(order) for order in self._open_orders(account.id)), _ZERO
        )

    def _open_orders(self, account_id: str) -> Iterator[SimOrder]:
        return (o for o in self._orders.values() if o.account_id == account_id and o.is_open)

    def _sellable(self, account: SimAccount, symbol: str, *, excluding: str) -> Decimal:
        """Shares held for delivery less those that open delivery sells already hold back."""
        holding = account.holdings.get(symbol)
        held = holding.quantity if holding else _ZERO
        for order in self._open_orders(account.id):
            if (
                order.id != excluding
                and order.side is Side.SELL
                and order.product is Product.DELIVERY
                and order.instrument.symbol == symbol
            ):
                held -= order.pending_quantity
        return held

    def _work(self, order: SimOrder, liquidity: _Liquidity) -> list[SimFill]:
        """Trigger and fill ``order`` as far as the last price and liquidity allow."""
        last = self._prices[order.instrument.symbol]
        if order.status is SimStatus.TRIGGER_PENDING:
            assert order.trigger_price is not None
            reached = (
                last >= order.trigger_price
                if order.side is Side.BUY
                else (last <= order.trigger_price)
            )
            if not reached:
                return []
            order.status = SimStatus.OPEN
            order.updated_at = self._clock.now()
        fills: list[SimFill] = []
        if self._marketable(order, last):
            wanted = order.quantity - order.filled_quantity
            granted = liquidity.take(wanted, order.instrument.lot_size)
            if granted:
                fills.append(self._fill(order, granted, last))
        if order.validity is Validity.IOC and order.is_open:
            self._close(order, SimStatus.CANCELLED, "IOC: the unfilled quantity was cancelled")
        return fills

    @staticmethod
    def _marketable(order: SimOrder, last: Decimal) -> bool:
        if order.kind not in _PRICED:
            return True
        assert order.price is not None
        return last <= order.price if order.side is Side.BUY else last >= order.price

    def _fill(self, order: SimOrder, quantity: Decimal, price: Decimal) -> SimFill:
        """Execute ``quantity`` of ``order`` at ``price`` and book it everywhere."""
        account = self._accounts[order.account_id]
        now = self._clock.now()
        value = quantity * price
        brokerage = self.charges.brokerage(value, self._brokerage.get(order.id, _ZERO))
        self._brokerage[order.id] = self._brokerage.get(order.id, _ZERO) + brokerage
        charges = brokerage + self.charges.tax(order.product, order.side, value)
        fill = SimFill(str(next(self._trade_ids)), order.id, quantity, price, charges, now)
        order.fills.append(fill)
        self._fills.append((account.id, fill))
        order.filled_quantity += quantity
        order.average_price = sum((f.quantity * f.price for f in order.fills), _ZERO) / (
            order.filled_quantity
        )
        full = order.filled_quantity == order.quantity
        order.status = SimStatus.FILLED if full else SimStatus.PARTIALLY_FILLED
        order.updated_at = now
        delta = quantity if order.side is Side.BUY else -quantity
        self._book_trade(account, order, delta, price)
        amount = -delta * price - charges
        account.cash += amount
        account.transactions.append(
            SimTransaction(
                id=str(next(self._txn_ids)),
                account_id=account.id,
                kind=TxnKind.BUY if order.side is Side.BUY else TxnKind.SELL,
                at=now,
                amount=amount,
                instrument=order.instrument,
                quantity=quantity,
                price=price,
                order_id=order.id,
                description=f"{order.side} {quantity} {order.instrument.symbol} @ {price}",
                charges=charges,
            )
        )
        return fill

    @staticmethod
    def _book_trade(account: SimAccount, order: SimOrder, delta: Decimal, price: Decimal) -> None:
        symbol = order.instrument.symbol
        if order.product is Product.DELIVERY:
            holding = account.holdings.setdefault(
                symbol, SimHolding(order.instrument, _ZERO, _ZERO)
            )
            holding.quantity, holding.cost, realised = _book(
                holding.quantity, holding.cost, delta, price
            )
            holding.realised_pnl += realised
            account.realised_pnl += realised
            if delta > 0:
                holding.unsettled_quantity += delta
            holding.unsettled_quantity = min(holding.unsettled_quantity, holding.quantity)
            return
        key = (symbol, order.product)
        position = account.positions.setdefault(
            key, SimPosition(order.instrument, order.product, _ZERO, _ZERO)
        )
        position.quantity, position.cost, realised = _book(
            position.quantity, position.cost, delta, price
        )
        position.realised_pnl += realised
        account.realised_pnl += realised

    def _square_off(self, account: SimAccount, position: SimPosition) -> None:
        """Close an intraday position at the last price with a system market order."""
        side = Side.SELL if position.quantity > 0 else Side.BUY
        quantity = abs(position.quantity)
        order = self._new_order(
            account,
            position.instrument,
            side,
            quantity,
            OrderKind.MARKET,
            None,
            None,
            Product.INTRADAY,
            Validity.DAY,
            None,
        )
        order.status_message = "square-off at the end of the day"
        self._fill(order, quantity, self._prices[position.instrument.symbol])

    def _close(self, order: SimOrder, status: SimStatus, message: str) -> None:
        order.status = status
        order.status_message = message
        order.updated_at = self._clock.now()

    def _post(
        self,
        account_id: str,
        kind: TxnKind,
        amount: Decimal,
        description: str,
        *,
        instrument: SimInstrument | None = None,
        quantity: Decimal | None = None,
        price: Decimal | None = None,
    ) -> SimTransaction:
        """Book a cash movement that is not a trade."""
        account = self.account(account_id)
        account.cash += amount
        transaction = SimTransaction(
            id=str(next(self._txn_ids)),
            account_id=account_id,
            kind=kind,
            at=self._clock.now(),
            amount=amount,
            instrument=instrument,
            quantity=quantity,
            price=price,
            description=description,
        )
        account.transactions.append(transaction)
        return transaction
