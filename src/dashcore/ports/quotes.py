"""A short-lived cache of last prices (issue #8: quotes are "cached briefly").

Prices come from a provider's :class:`~dashcore.ports.brokers.QuoteReader`; a provider asked
every time a portfolio or a quote list is shown would rate-limit us quickly. A price in the
cache is at most the cache's time-to-live old (5 seconds by default), measured on the
application's :class:`~dashcore.ports.clock.Clock`: a price cached at ``t`` is served strictly
before ``t + ttl`` and never at or after it. Keys are the caller's (the quote use cases key by
provider and instrument, so one provider's price never answers for another's).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Protocol

from dashcore.domain.money import Money

__all__ = ["QuoteCache"]


class QuoteCache(Protocol):
    async def get_many(self, keys: Collection[str]) -> dict[str, Money]:
        """The fresh prices among ``keys`` (a missing or expired key is simply absent)."""
        ...

    async def put_many(self, prices: Mapping[str, Money]) -> None:
        """Remember ``prices`` for the cache's time-to-live from now."""
        ...
