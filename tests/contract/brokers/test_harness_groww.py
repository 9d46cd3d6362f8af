"""The public broker contract against the Groww adapter on its sandbox (issue #6 acceptance)."""

from __future__ import annotations

from decimal import Decimal

from dashcore.domain.instruments import Instrument
from dashcore_brokers.groww.gateway import CREATE_PATH, PAGE_SIZE
from dashcore_brokers.groww.mapping import INR
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID
from dashcore_brokers.sandbox.groww import GROWW_USER

from .sandbox_control import BrokerBook, Ledger, SandboxContract


class TestGrowwContract(SandboxContract):
    book = BrokerBook(
        case="groww",
        account_id=GROWW_USER.user_id,
        engine_account_id=INDIA_ACCOUNT_ID,
        instrument=Instrument(
            "RELIANCE", "NSE", INR, isin="INE002A01018", tick_size=Decimal("0.05")
        ),
        place_path=CREATE_PATH,
        ledger=Ledger.CASH,  # unused: Groww declares no transactions listing
    )
    listing_size = PAGE_SIZE + 10  # more than a page of holdings and positions (orders: 100)
