"""The broker-neutral exchange engine under every sandbox.

An :class:`Exchange` lists instruments with a controllable last price, keeps accounts (cash,
holdings, positions, a cash ledger) and matches orders (market, limit, stop, stop-limit; day,
IOC, GTC; delivery, intraday, margin) deterministically on an injected clock. Each broker sandbox
owns one (``sandbox.exchange``) and renders its records in the broker's wire format.
``us_market`` and ``india_market`` build the seeded markets; see ``docs/sandboxes.md``.
"""

from __future__ import annotations

from dashcore_brokers.sandbox.exchange.charges import (
    INDIA_EQUITY_CHARGES,
    ZERO_CHARGES,
    ChargeSchedule,
)
from dashcore_brokers.sandbox.exchange.engine import Exchange
from dashcore_brokers.sandbox.exchange.model import (
    OPEN_STATUSES,
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
from dashcore_brokers.sandbox.exchange.seed import (
    INDIA_ACCOUNT_ID,
    US_ACCOUNT_ID,
    india_market,
    many_rows,
    us_market,
)

__all__ = [
    "INDIA_ACCOUNT_ID",
    "INDIA_EQUITY_CHARGES",
    "OPEN_STATUSES",
    "US_ACCOUNT_ID",
    "ZERO_CHARGES",
    "AccountKind",
    "AssetClass",
    "ChargeSchedule",
    "Exchange",
    "OrderKind",
    "Product",
    "Side",
    "SimAccount",
    "SimFill",
    "SimHolding",
    "SimInstrument",
    "SimOrder",
    "SimPosition",
    "SimStatus",
    "SimTransaction",
    "TxnKind",
    "Validity",
    "india_market",
    "many_rows",
    "us_market",
]
