"""Token lifetimes as the brokers enforce them (``reference/brokers.md`` §1.2, §2.2, §3.2, §4.2).

- Schwab: an access token lives 30 minutes; a refresh token lives 7 days from the original
  consent, and refreshing never extends it.
- Zerodha Kite and Groww: a session dies at the next 06:00 Asia/Kolkata (the regulatory daily
  reset), whenever it was issued.
- Upstox: an access token dies at the next 03:30 Asia/Kolkata — one minted at 02:30 dies an hour
  later; its read-only ``extended_token`` lives one year.

Every instant here is timezone-aware UTC; the wall-clock rules are evaluated in India time.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "GROWW_DAILY_RESET",
    "KITE_DAILY_RESET",
    "KOLKATA",
    "SCHWAB_ACCESS_TOKEN_LIFETIME",
    "SCHWAB_REFRESH_TOKEN_LIFETIME",
    "UPSTOX_DAILY_RESET",
    "UPSTOX_EXTENDED_TOKEN_LIFETIME",
    "next_wall_clock",
]

KOLKATA = ZoneInfo("Asia/Kolkata")
SCHWAB_ACCESS_TOKEN_LIFETIME = timedelta(minutes=30)
SCHWAB_REFRESH_TOKEN_LIFETIME = timedelta(days=7)
KITE_DAILY_RESET = time(6, 0)
GROWW_DAILY_RESET = time(6, 0)
UPSTOX_DAILY_RESET = time(3, 30)
UPSTOX_EXTENDED_TOKEN_LIFETIME = timedelta(days=365)


def next_wall_clock(after: datetime, at: time, zone: ZoneInfo = KOLKATA) -> datetime:
    """The first instant strictly after ``after`` at which the clock in ``zone`` reads ``at``.

    A token issued exactly at the reset time lives until the next day's reset.
    """
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return candidate.astimezone(UTC)
