"""Build every broker sandbox at once, keyed by provider: ``schwab``, ``zerodha``, ``upstox``,
``groww``. Each value is an ASGI app that also exposes its state, settings, faults and its own
exchange engine (``sandbox.exchange``), seeded deterministically: Schwab with the US market
(USD), Kite, Upstox and Groww each with a separate Indian market (NSE/BSE, INR).
"""

from __future__ import annotations

from collections.abc import Mapping

from dashcore.ports.clock import Clock
from dashcore_brokers.sandbox.core import BrokerSandbox, Sleep
from dashcore_brokers.sandbox.groww import GrowwSandbox
from dashcore_brokers.sandbox.schwab import SchwabSandbox
from dashcore_brokers.sandbox.settings import ConsentMode
from dashcore_brokers.sandbox.upstox import UpstoxSandbox
from dashcore_brokers.sandbox.zerodha import KiteSandbox

__all__ = ["SANDBOX_KEYS", "create_sandboxes"]

SANDBOX_KEYS = ("schwab", "zerodha", "upstox", "groww")
_REDIRECTING = ("schwab", "zerodha", "upstox")


def create_sandboxes(
    clock: Clock,
    *,
    consent: ConsentMode = ConsentMode.APPROVE,
    redirect_uris: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
) -> dict[str, BrokerSandbox]:
    """One sandbox per broker on a shared ``clock``.

    ``redirect_uris`` overrides, per key, the exact redirect URI the default app accepts (Groww
    has none). ``consent`` is the consent mode of every browser login: ``APPROVE`` for tests,
    ``PAGE`` for people. ``sleep`` replaces ``asyncio.sleep`` for latency and timeout faults.
    """
    uris = dict(redirect_uris or {})
    unknown = set(uris) - set(_REDIRECTING)
    if unknown:
        raise ValueError(f"no sandbox takes a redirect URI for: {sorted(unknown)}")
    return {
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
