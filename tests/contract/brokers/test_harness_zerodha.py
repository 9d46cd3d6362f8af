"""The public broker contract against the Zerodha Kite adapter on its sandbox (issue #6
acceptance)."""

from __future__ import annotations

from decimal import Decimal

from dashcore.domain.instruments import Instrument
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.zerodha import KITE_USER
from dashcore_brokers.zerodha.gateway import DEFAULT_PAGE_SIZE, PLACE_VARIETY
from dashcore_brokers.zerodha.mapping import INR

from .sandbox_control import BrokerBook, Ledger, SandboxContract


class TestZerodhaContract(SandboxContract):
    book = BrokerBook(
        case="zerodha",
        account_id=KITE_USER.user_id,
        engine_account_id=INDIA_ACCOUNT_ID,
        instrument=Instrument("INFY", "NSE", INR, tick_size=Decimal("0.05")),
        place_path=f"/orders/{PLACE_VARIETY}",
        ledger=Ledger.TRADES,  # Kite's transactions are the day's trades
    )
    listing_size = DEFAULT_PAGE_SIZE + 10  # more than one of the adapter's pages
