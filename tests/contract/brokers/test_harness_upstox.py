"""The public broker contract against the Upstox adapter on its sandbox (issue #6 acceptance)."""

from __future__ import annotations

from decimal import Decimal

from dashcore.domain.instruments import Instrument
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.upstox import UPSTOX_USER
from dashcore_brokers.upstox.calls import PAGE_SIZE
from dashcore_brokers.upstox.mapping import INR
from dashcore_brokers.upstox.orders import PLACE_PATH

from .sandbox_control import BrokerBook, Ledger, SandboxContract


class TestUpstoxContract(SandboxContract):
    book = BrokerBook(
        case="upstox",
        account_id=UPSTOX_USER.user_id,
        engine_account_id=INDIA_ACCOUNT_ID,
        instrument=Instrument(
            "RELIANCE", "NSE", INR, isin="INE002A01018", tick_size=Decimal("0.05")
        ),
        place_path=PLACE_PATH,
        ledger=Ledger.TRADES,  # Upstox's transactions are its historical trades
    )
    listing_size = PAGE_SIZE + 10  # more than one of the adapter's pages
