"""The example broker itself: a tiny in-memory exchange with its own "wire format".

It stands in for a broker's HTTP API: every call names an access token and an operation and
answers plain dicts whose numbers are strings (as a JSON API would), or raises
:class:`ExchangeError` with the broker's own error code. Orders fill in full: a market order
at the last price, a limit buy once the price is at or below its limit. Status spellings are
the broker's own: ``NEW``, ``PARTIAL``, ``DONE``, ``CANCELLED``, ``REJECTED``.
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dashcore.ports.clock import Clock

Wire = dict[str, Any]

EXCHANGE = "XEXM"
CURRENCY = "USD"
PAGE_SIZE = 25


class ExchangeError(Exception):
    """An error answer: ``code`` is the broker's (``token_invalid``, ``order_not_found``,
    ``order_final``, ``bad_request``, ``answer_lost``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Account:
    cash: Decimal
    holdings: dict[str, Wire] = field(default_factory=dict)
    positions: list[Wire] = field(default_factory=list)
    ledger: list[Wire] = field(default_factory=list)
    orders: list[Wire] = field(default_factory=list)


class ExampleExchange:
    """One broker, one account (``EX-1001``), a price feed and programmable faults."""

    account_id = "EX-1001"

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.requests = 0
        self.prices: dict[str, Decimal] = {"ACME": Decimal("100.00")}
        self._tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._lose_next_place = False
        self._account = _Account(cash=Decimal(100_000))

    # ------------------------------------------------------------ sandbox controls

    def login(self) -> str:
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        return token

    def expire_tokens(self) -> None:
        self._tokens.clear()

    def lose_next_place_answer(self) -> None:
        self._lose_next_place = True

    def set_price(self, symbol: str, price: Decimal) -> None:
        self.prices[symbol] = price
        for order in self._account.orders:
            if order["status"] == "NEW" and Decimal(order["limit"]) >= price:
                self._fill(order, price)

    def seed_holdings(self, count: int) -> None:
        start = len(self._account.holdings)
        for number in range(start, start + count):
            symbol = f"S{number:04d}"
            self.prices[symbol] = Decimal("10.00")
            self._account.holdings[symbol] = {"sym": symbol, "qty": "5", "avg": "9.50"}

    def seed_positions(self, count: int) -> None:
        start = len(self._account.positions)
        for number in range(start, start + count):
            symbol = f"P{number:04d}"
            self.prices[symbol] = Decimal("20.00")
            self._account.positions.append({"sym": symbol, "qty": "-3", "avg": "21.00"})

    def seed_transactions(self, count: int) -> None:
        for _ in range(count):
            self._record("DEPOSIT", Decimal("10.00"), None)

    def seed_orders(self, count: int) -> None:
        for _ in range(count):
            self._new_order("ACME", "LIMIT", Decimal(1), Decimal("1.00"), tag=None)

    # ------------------------------------------------------------------- the API

    def call(self, token: str, operation: str, **params: Any) -> Any:
        """One request to the broker."""
        self.requests += 1
        if token not in self._tokens:
            raise ExchangeError("token_invalid", "The access token is invalid or expired.")
        return getattr(self, f"_api_{operation}")(**params)

    def _api_account(self) -> Wire:
        return {"id": self.account_id, "number": "99881001", "cash": str(self._account.cash)}

    def _api_holdings(self, offset: int) -> Wire:
        return self._page([self._valued(h) for h in self._account.holdings.values()], offset)

    def _api_positions(self, offset: int) -> Wire:
        return self._page([self._valued(p) for p in self._account.positions], offset)

    def _api_ledger(self, offset: int) -> Wire:
        return self._page(self._account.ledger, offset)

    def _api_orders(self, offset: int) -> Wire:
        return self._page(self._account.orders, offset)

    def _api_quote(self, symbol: str) -> Wire:
        if symbol not in self.prices:
            raise ExchangeError("bad_request", f"No such symbol {symbol}.")
        return {"sym": symbol, "last": str(self.prices[symbol])}

    def _api_order(self, order_id: str) -> Wire:
        for order in self._account.orders:
            if order["id"] == order_id:
                return order
        raise ExchangeError("order_not_found", f"No order {order_id}.")

    def _api_place(self, sym: str, kind: str, qty: str, limit: str | None, tag: str) -> Wire:
        order = self._new_order(sym, kind, Decimal(qty), Decimal(limit) if limit else None, tag)
        if self._lose_next_place:
            self._lose_next_place = False
            raise ExchangeError("answer_lost", "The connection dropped before the answer.")
        return order

    def _api_modify(self, order_id: str, limit: str) -> Wire:
        order = self._api_order(order_id)
        if order["status"] != "NEW":
            raise ExchangeError("order_final", f"Order {order_id} is {order['status']}.")
        order["limit"] = limit
        if Decimal(limit) >= self.prices[order["sym"]]:
            self._fill(order, self.prices[order["sym"]])
        return order

    def _api_cancel(self, order_id: str) -> Wire:
        order = self._api_order(order_id)
        if order["status"] != "NEW":
            raise ExchangeError("order_final", f"Order {order_id} is {order['status']}.")
        order["status"] = "CANCELLED"
        return order

    # ---------------------------------------------------------------- machinery

    def _page(self, rows: list[Wire], offset: int) -> Wire:
        end = offset + PAGE_SIZE
        return {"rows": rows[offset:end], "next": end if end < len(rows) else None}

    def _valued(self, row: Wire) -> Wire:
        return {**row, "last": str(self.prices[row["sym"]])}

    def _new_order(
        self, sym: str, kind: str, qty: Decimal, limit: Decimal | None, tag: str | None
    ) -> Wire:
        order: Wire = {
            "id": f"{next(self._ids):08d}",
            "sym": sym,
            "kind": kind,
            "qty": str(qty),
            "filled": "0",
            "limit": None if limit is None else str(limit),
            "tag": tag,
            "status": "NEW",
            "at": self.clock.now().isoformat(),
            "trades": [],
        }
        self._account.orders.append(order)
        price = self.prices[sym]
        if qty * price > self._account.cash:
            order["status"] = "REJECTED"
        elif kind == "MARKET" or (limit is not None and limit >= price):
            self._fill(order, price)
        return order

    def _fill(self, order: Wire, price: Decimal) -> None:
        quantity = Decimal(order["qty"])
        trade_id = f"T{next(self._ids):08d}"
        order["trades"].append(
            {
                "id": trade_id,
                "qty": str(quantity),
                "px": str(price),
                "at": self.clock.now().isoformat(),
            }
        )
        order["filled"], order["status"] = str(quantity), "DONE"
        self._account.cash -= quantity * price
        self._record("BUY", -quantity * price, order)

    def _record(self, kind: str, amount: Decimal, order: Wire | None) -> None:
        self._account.ledger.append(
            {
                "id": f"L{next(self._ids):08d}",
                "kind": kind,
                "amount": str(amount),
                "at": self.clock.now().isoformat(),
                "order": None if order is None else order["id"],
                "sym": None if order is None else order["sym"],
            }
        )
