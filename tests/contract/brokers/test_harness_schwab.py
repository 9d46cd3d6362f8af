"""The public broker contract against the Schwab adapter on its sandbox (issue #6 acceptance)."""

from __future__ import annotations

from dashcore.domain.instruments import Instrument
from dashcore_brokers.sandbox.exchange import US_ACCOUNT_ID, Product
from dashcore_brokers.sandbox.schwab.render import account_hash
from dashcore_brokers.schwab.gateway import PAGE_SIZE, TRADER
from dashcore_brokers.schwab.mapping import USD

from .sandbox_control import BrokerBook, Ledger, SandboxContract


class TestSchwabContract(SandboxContract):
    book = BrokerBook(
        case="schwab",
        account_id=account_hash("12345678"),  # Schwab's URLs name the account by its hash
        engine_account_id=US_ACCOUNT_ID,
        instrument=Instrument("AAPL", "US", USD),
        place_path=f"{TRADER}/accounts/*/orders",
        ledger=Ledger.CASH,
        position_product=Product.MARGIN,  # Schwab has no intraday product
    )
    listing_size = PAGE_SIZE + 10  # more than one of the adapter's pages
