"""Build every broker sandbox at once, keyed by provider: ``schwab``, ``zerodha``, ``upstox``,
``groww``. Each value is an ASGI app that also exposes its state, settings, faults and its own
exchange engine (``sandbox.exchange``), seeded deterministically: Schwab with the US market
(USD), Kite, Upstox and Groww each with a separate Indian market (NSE/BSE, INR).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.groww import GrowwSandbox
from dashcore_brokers.sandbox.schwab import SchwabSandbox
from dashcore_brokers.sandbox.settings import ConsentMode
from dashcore_brokers.sandbox.upstox import UpstoxSandbox
from dashcore_brokers.sandbox.zerodha import KiteSandbox

__all__ = ["SANDBOX_KEYS", "create_sandboxes", "first_id_at"]

SANDBOX_KEYS = ("schwab", "zerodha", "upstox", "groww")
_REDIRECTING = ("schwab", "zerodha", "upstox")


_IDS_PER_SECOND = 1000


def first_id_at(started: datetime) -> int:
    """The first order, trade and ledger-entry id of sandboxes started at ``started``: a
    thousand per second of the UTC day (1,000 to 86,400,000, within every broker's id format:
    Kite's 8-digit trade ids are the narrowest).

    A sandbox keeps no state across restarts, while the clients that used it keep the ids it
    gave them: starting from 1 again, the next order would get an id a stored order already
    has (dashcore refuses a broker order id bound to another order). With this, a new start
    hands out ids no earlier start that day reached, unless that run made more than a thousand
    orders (or fills) per second it ran. Upstox ids carry the day as well; the other brokers'
    ids can meet again only between starts in the same second of two different days."""
    midnight = started.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    seconds = int((started - midnight).total_seconds())
    return (seconds + 1) * _IDS_PER_SECOND


def create_sandboxes(
    clock: Clock,
    *,
    consent: ConsentMode = ConsentMode.APPROVE,
    redirect_uris: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    first_id: int | None = None,
) -> dict[str, BrokerSandbox]:
    """One sandbox per broker on a shared ``clock``.

    ``redirect_uris`` overrides, per key, the exact redirect URI the default app accepts (Groww
    has none). ``consent`` is the consent mode of every browser login: ``APPROVE`` for tests,
    ``PAGE`` for people. ``sleep`` replaces ``asyncio.sleep`` for latency and timeout faults.
    ``first_id`` numbers orders, trades and ledger entries after the seeded ones from there
    (:func:`first_id_at` for a sandbox that may be restarted against stored data); ``None``
    counts on from the seed (deterministic ids, for tests).
    """
    uris = dict(redirect_uris or {})
    unknown = set(uris) - set(_REDIRECTING)
    if unknown:
        raise ValueError(f"no sandbox takes a redirect URI for: {sorted(unknown)}")
    sandboxes: dict[str, BrokerSandbox] = {
        "schwab": SchwabSandbox(
            clock, consent=consent, redirect_uri=uris.get("schwab"), sleep=sleep
        ),
        "zerodha": KiteSandbox(
            clock, consent=consent, redirect_uri=uris.get("zerodha"), sleep=sleep
        ),
        "upstox": UpstoxSandbox(
            clock, consent=consent, redirect_uri=uris.get("upstox"), sleep=sleep
        ),
        "groww": GrowwSandbox(clock, consent=consent, sleep=sleep),
    }
    if first_id is not None:
        for sandbox in sandboxes.values():
            sandbox.exchange.number_from(first_id)
    return sandboxes
