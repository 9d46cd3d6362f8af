"""What the broker contract harness needs from an adapter's sandbox: a remote control.

An adapter author implements :class:`SandboxControl` over whatever stands in for the broker
(an in-memory exchange, a wire-faithful simulator, a vendor's paper-trading account with a
back door). The harness never talks to the sandbox any other way, so an implementation backed
by HTTP control routes of an out-of-process simulator works as well as an in-process one.

Business rules an implementation must keep:

- ``account_id`` is funded for at least a hundred lots of ``instrument`` at its current price;
  the harness buys one lot at a time and never sells.
- ``instrument`` is liquid: a marketable order fills at once and in full, a limit order away
  from the price rests until the price crosses it.
- ``seed_*(count)`` adds exactly ``count`` *new* distinct items to that listing of
  ``account_id`` (holdings and positions on instruments the account does not hold yet), so the
  listing grows by exactly ``count``.
- ``expire_credentials()`` makes every credential the broker issued unusable from now on (the
  next request is refused as the broker refuses a dead token).
- ``arm_timeout_after_accept()`` arms one fault: the *next* order placement is accepted and
  stored by the broker, but its answer never reaches the adapter.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from dashcore.domain.instruments import Instrument

__all__ = ["SandboxControl"]


class SandboxControl(Protocol):
    @property
    def account_id(self) -> str:
        """The provider account id the harness reads and trades in."""
        ...

    @property
    def instrument(self) -> Instrument:
        """A liquid instrument the account may trade, with its lot and tick sizes."""
        ...

    async def price(self, instrument: Instrument) -> Decimal:
        """The instrument's last price at the broker now."""
        ...

    async def set_price(self, instrument: Instrument, price: Decimal) -> None:
        """Move the last price; resting orders the new price crosses fill."""
        ...

    async def seed_holdings(self, count: int) -> None: ...

    async def seed_positions(self, count: int) -> None: ...

    async def seed_transactions(self, count: int) -> None: ...

    async def seed_orders(self, count: int) -> None:
        """Add ``count`` orders to the account's order book (any legal statuses)."""
        ...

    async def expire_credentials(self) -> None: ...

    async def arm_timeout_after_accept(self) -> None: ...

    def requests_seen(self) -> int | None:
        """How many requests the broker has received so far, or ``None`` when the sandbox
        cannot tell; with a count, the harness checks that a refused capability never
        reached the broker."""
        ...
