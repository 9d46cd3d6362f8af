"""The exchange engine's records in Schwab's wire format (``reference/brokers.md`` §1.4-1.6).

Business rules:
- bodies are bare JSON (no envelope), camelCase, amounts as JSON *numbers* written from the
  exact ``Decimal`` (never through ``float``); times ``2024-03-29T14:30:00+0000``;
- an account is addressed by its hash: the upper-case SHA-256 of its number;
- one position line per symbol merges the settled holding and any open positions (long and
  short quantities, their average prices, market value at the last price); ETFs are
  ``COLLECTIVE_INVESTMENT`` / ``EXCHANGE_TRADED_FUND``, a US ISIN's characters 3-11 its CUSIP;
- engine statuses become Schwab's: working and partially filled orders ``WORKING`` (Schwab
  has no partial status: ``filledQuantity`` tells), stop orders waiting for their trigger
  ``AWAITING_STOP_CONDITION``, cancelled ``CANCELED`` (one L) or ``REPLACED`` when a replace
  ended them, the rest by name; each fill is an ``EXECUTION`` activity. A ``REPLACED`` order
  lists the order that replaced it in ``replacingOrderCollection`` (brokers.md §1.5 names the
  field; that it holds whole orders is UNCONFIRMED);
- ledger kinds become Schwab's transaction types: buys and sells ``TRADE`` (security item plus
  a ``COMMISSION`` item for charges), dividends, interest and (negative) tax
  ``DIVIDEND_OR_INTEREST``, deposits ``ACH_RECEIPT``, withdrawals ``ACH_DISBURSEMENT``, fees a
  ``JOURNAL`` of one ``GENERAL_CHARGE`` item, transfers a ``JOURNAL``, splits
  ``RECEIVE_AND_DELIVER``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
from litestar import Response
from litestar.enums import MediaType

from dashcore_brokers.sandbox.exchange import (
    AssetClass,
    OrderKind,
    Side,
    SimAccount,
    SimInstrument,
    SimOrder,
    SimStatus,
    SimTransaction,
    TxnKind,
    Validity,
)

__all__ = [
    "DURATIONS",
    "ORDER_TYPES",
    "account_hash",
    "order_body",
    "parse_time",
    "schwab_json",
    "schwab_time",
    "securities_account",
    "transaction_body",
]

_ZERO = Decimal(0)
_encoder = msgspec.json.Encoder(decimal_format="number")

ORDER_TYPES: dict[str, OrderKind] = {
    "MARKET": OrderKind.MARKET,
    "LIMIT": OrderKind.LIMIT,
    "STOP": OrderKind.STOP,
    "STOP_LIMIT": OrderKind.STOP_LIMIT,
}
DURATIONS: dict[str, Validity] = {
    "DAY": Validity.DAY,
    "GOOD_TILL_CANCEL": Validity.GTC,
    "IMMEDIATE_OR_CANCEL": Validity.IOC,
}
_ORDER_TYPE_OF = {kind: wire for wire, kind in ORDER_TYPES.items()}
_DURATION_OF = {validity: wire for wire, validity in DURATIONS.items()}
_STATUS: dict[SimStatus, str] = {
    SimStatus.OPEN: "WORKING",
    SimStatus.TRIGGER_PENDING: "AWAITING_STOP_CONDITION",
    SimStatus.PARTIALLY_FILLED: "WORKING",
    SimStatus.FILLED: "FILLED",
    SimStatus.CANCELLED: "CANCELED",
    SimStatus.REJECTED: "REJECTED",
    SimStatus.EXPIRED: "EXPIRED",
}
_TRANSACTION_TYPE: dict[TxnKind, str] = {
    TxnKind.BUY: "TRADE",
    TxnKind.SELL: "TRADE",
    TxnKind.DIVIDEND: "DIVIDEND_OR_INTEREST",
    TxnKind.INTEREST: "DIVIDEND_OR_INTEREST",
    TxnKind.TAX: "DIVIDEND_OR_INTEREST",
    TxnKind.FEE: "JOURNAL",
    TxnKind.DEPOSIT: "ACH_RECEIPT",
    TxnKind.WITHDRAWAL: "ACH_DISBURSEMENT",
    TxnKind.TRANSFER: "JOURNAL",
    TxnKind.SPLIT: "RECEIVE_AND_DELIVER",
}
_CASH = {"assetType": "CURRENCY", "symbol": "CURRENCY_USD", "description": "USD currency"}


def schwab_json(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    """A JSON response whose ``Decimal`` amounts are written as exact JSON numbers."""
    return Response(
        content=_encoder.encode(body),
        status_code=status,
        media_type=MediaType.JSON,
        headers=dict(headers or {}),
    )


def account_hash(number: str) -> str:
    """The opaque hash Schwab's URLs take instead of the account number."""
    return hashlib.sha256(number.encode()).hexdigest().upper()


def schwab_time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def parse_time(text: str) -> datetime | None:
    """A query time (``2024-03-29T00:00:00.000Z``); ``None`` when it is not one."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else None


def _instrument(instrument: SimInstrument) -> dict[str, Any]:
    body: dict[str, Any] = {
        "assetType": "EQUITY",
        "symbol": instrument.symbol,
        "description": instrument.name,
        "instrumentId": instrument.instrument_token,
        "netChange": 0,
    }
    if instrument.isin and instrument.isin.startswith("US"):
        body["cusip"] = instrument.isin[2:11]
    match instrument.asset_class:
        case AssetClass.ETF:
            body["assetType"] = "COLLECTIVE_INVESTMENT"
            body["type"] = "EXCHANGE_TRADED_FUND"
        case AssetClass.MUTUAL_FUND:
            body["assetType"] = "MUTUAL_FUND"
        case AssetClass.CASH_EQUIVALENT:
            body["assetType"] = "CASH_EQUIVALENT"
            body["type"] = "MONEY_MARKET_FUND"
    return body


class _Line:
    """One symbol's position line while it is being merged."""

    __slots__ = ("instrument", "long", "long_cost", "settled", "short", "short_cost")

    def __init__(self, instrument: SimInstrument) -> None:
        self.instrument = instrument
        self.long = self.long_cost = self.settled = self.short = self.short_cost = _ZERO


def _positions(account: SimAccount, last_price: Any) -> list[dict[str, Any]]:
    lines: dict[str, _Line] = {}
    for symbol, holding in account.holdings.items():
        if holding.quantity:
            line = lines.setdefault(symbol, _Line(holding.instrument))
            line.long += holding.quantity
            line.long_cost += holding.cost
            line.settled += holding.settled_quantity
    for (symbol, _product), position in account.positions.items():
        if not position.quantity:
            continue
        line = lines.setdefault(symbol, _Line(position.instrument))
        if position.quantity > 0:
            line.long += position.quantity
            line.long_cost += position.cost
        else:
            line.short -= position.quantity
            line.short_cost -= position.cost
    rendered = []
    for symbol, line in lines.items():
        average_long = line.long_cost / line.long if line.long else _ZERO
        average_short = line.short_cost / line.short if line.short else _ZERO
        rendered.append(
            {
                "shortQuantity": line.short,
                "averagePrice": average_long if line.long else average_short,
                "currentDayProfitLoss": _ZERO,
                "currentDayProfitLossPercentage": _ZERO,
                "longQuantity": line.long,
                "settledLongQuantity": line.settled,
                "settledShortQuantity": _ZERO,
                "instrument": _instrument(line.instrument),
                "marketValue": (line.long - line.short) * last_price(symbol),
                "maintenanceRequirement": _ZERO,
                "averageLongPrice": average_long,
                "averageShortPrice": average_short,
                "longOpenProfitLoss": line.long * last_price(symbol) - line.long_cost,
                "shortOpenProfitLoss": line.short_cost - line.short * last_price(symbol),
                "previousSessionLongQuantity": line.settled,
                "previousSessionShortQuantity": _ZERO,
                "currentDayCost": line.long_cost - line.settled * average_long,
            }
        )
    return rendered


def _balances(account: SimAccount, market_value: Decimal) -> dict[str, Any]:
    equity = account.cash + market_value
    if account.kind == "MARGIN":
        current = {
            "availableFunds": account.cash - account.margin_used,
            "availableFundsNonMarginableTrade": account.cash - account.margin_used,
            "buyingPower": account.buying_power,
            "buyingPowerNonMarginableTrade": account.cash - account.margin_used,
            "dayTradingBuyingPower": account.buying_power,
            "equity": equity,
            "longMarginValue": market_value,
            "maintenanceCall": _ZERO,
            "maintenanceRequirement": _ZERO,
            "marginBalance": account.margin_used,
            "regTCall": _ZERO,
            "shortBalance": _ZERO,
            "shortMarginValue": _ZERO,
            "sma": _ZERO,
            "isInCall": False,
        }
        initial = {
            "cashBalance": account.cash,
            "totalCash": account.cash,
            "buyingPower": account.buying_power,
            "equity": equity,
            "longStockValue": market_value,
            "liquidationValue": equity,
            "marginBalance": account.margin_used,
            "accountValue": equity,
            "isInCall": False,
        }
        return {
            "initialBalances": initial,
            "currentBalances": current,
            "projectedBalances": current,
        }
    cash_current = {
        "cashAvailableForTrading": account.buying_power,
        "cashAvailableForWithdrawal": account.cash - account.margin_used,
        "cashCall": _ZERO,
        "longNonMarginableMarketValue": market_value,
        "totalCash": account.cash,
        "cashDebitCallValue": _ZERO,
        "unsettledCash": _ZERO,
    }
    cash_initial = {
        "cashAvailableForTrading": account.buying_power,
        "cashAvailableForWithdrawal": account.cash - account.margin_used,
        "cashBalance": account.cash,
        "totalCash": account.cash,
        "longStockValue": market_value,
        "liquidationValue": equity,
        "accountValue": equity,
        "isInCall": False,
    }
    return {
        "initialBalances": cash_initial,
        "currentBalances": cash_current,
        "projectedBalances": cash_current,
    }


def securities_account(
    account: SimAccount, last_price: Any, *, with_positions: bool
) -> dict[str, Any]:
    """``{"securitiesAccount": {...}}`` with balances, and positions when asked for."""
    positions = _positions(account, last_price)
    market_value = sum((line["marketValue"] for line in positions), _ZERO)
    body: dict[str, Any] = {
        "type": account.kind,
        "accountNumber": account.number,
        "roundTrips": 0,
        "isDayTrader": False,
        "isClosingOnlyRestricted": False,
        "pfcbFlag": False,
    }
    if with_positions:
        body["positions"] = positions
    body.update(_balances(account, market_value))
    return {"securitiesAccount": body}


def order_body(
    order: SimOrder, account_number: str, *, replacing: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One order as ``GET /accounts/{hash}/orders/{orderId}`` shows it; ``replacing`` is the
    order a replace ended it for."""
    remaining = order.quantity
    activities = []
    for fill in order.fills:
        remaining -= fill.quantity
        activities.append(
            {
                "activityType": "EXECUTION",
                "executionType": "FILL",
                "quantity": fill.quantity,
                "orderRemainingQuantity": remaining,
                "executionLegs": [
                    {
                        "legId": 1,
                        "price": fill.price,
                        "quantity": fill.quantity,
                        "mismarkedQuantity": _ZERO,
                        "instrumentId": order.instrument.instrument_token,
                        "time": schwab_time(fill.at),
                    }
                ],
            }
        )
    body: dict[str, Any] = {
        "session": "NORMAL",
        "duration": _DURATION_OF[order.validity],
        "orderType": _ORDER_TYPE_OF[order.kind],
        "complexOrderStrategyType": "NONE",
        "quantity": order.quantity,
        "filledQuantity": order.filled_quantity,
        "remainingQuantity": order.pending_quantity,
        "requestedDestination": "AUTO",
        "destinationLinkName": "AutoRoute",
        "orderLegCollection": [
            {
                "orderLegType": "EQUITY",
                "legId": 1,
                "instrument": _instrument(order.instrument),
                "instruction": "BUY" if order.side is Side.BUY else "SELL",
                "positionEffect": "OPENING" if order.side is Side.BUY else "CLOSING",
                "quantity": order.quantity,
            }
        ],
        "orderStrategyType": "SINGLE",
        "orderId": int(order.id),
        "cancelable": order.is_open,
        "editable": order.is_open,
        "status": _STATUS[order.status],
        "enteredTime": schwab_time(order.placed_at),
        "accountNumber": int(account_number) if account_number.isdigit() else account_number,
        "orderActivityCollection": activities,
    }
    if order.price is not None:
        body["price"] = order.price
    if order.trigger_price is not None:
        body["stopPrice"] = order.trigger_price
    if not order.is_open:
        body["closeTime"] = schwab_time(order.updated_at)
    if order.status is SimStatus.REJECTED and order.status_message:
        body["statusDescription"] = order.status_message
    if replacing is not None and order.status is SimStatus.CANCELLED:
        body["status"] = "REPLACED"
        body["replacingOrderCollection"] = [replacing]
    return body


def _transfer_items(entry: SimTransaction) -> list[dict[str, Any]]:
    if entry.kind in (TxnKind.BUY, TxnKind.SELL) and entry.instrument is not None:
        quantity = entry.quantity or _ZERO
        items: list[dict[str, Any]] = [
            {
                "instrument": _instrument(entry.instrument),
                "amount": quantity if entry.kind is TxnKind.BUY else -quantity,
                "cost": entry.amount + entry.charges,
                "price": entry.price,
                "positionEffect": "OPENING" if entry.kind is TxnKind.BUY else "CLOSING",
            }
        ]
        if entry.charges:
            items.append(
                {
                    "instrument": _CASH,
                    "amount": entry.charges,
                    "cost": -entry.charges,
                    "feeType": "COMMISSION",
                }
            )
        return items
    if entry.instrument is not None:
        item: dict[str, Any] = {"instrument": _instrument(entry.instrument), "cost": _ZERO}
        if entry.quantity is not None:
            item["amount"] = entry.quantity
        if entry.price is not None:
            item["price"] = entry.price
        return [item]
    cash: dict[str, Any] = {"instrument": _CASH, "amount": entry.amount, "cost": entry.amount}
    if entry.kind is TxnKind.FEE:
        cash["feeType"] = "GENERAL_CHARGE"
    return [cash]


def transaction_type(entry: SimTransaction) -> str:
    return _TRANSACTION_TYPE[entry.kind]


def transaction_body(entry: SimTransaction, account: SimAccount) -> dict[str, Any]:
    """One ledger line as ``GET /accounts/{hash}/transactions`` lists it."""
    body: dict[str, Any] = {
        "activityId": int(entry.id),
        "time": schwab_time(entry.at),
        "description": entry.description,
        "accountNumber": account.number,
        "type": transaction_type(entry),
        "status": "VALID",
        "subAccount": account.kind,
        "tradeDate": schwab_time(entry.at),
        "netAmount": entry.amount,
        "transferItems": _transfer_items(entry),
    }
    if entry.order_id is not None:
        body["orderId"] = int(entry.order_id)
        body["activityType"] = "EXECUTION"
    return body
