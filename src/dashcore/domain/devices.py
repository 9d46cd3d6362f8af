"""Devices an account has signed in from, to warn its owner about a new one (NOTIF-1).

A device is recognised by a fingerprint of its user agent: a SHA-256 prefix, so the stored
value says nothing by itself. The first device of an account is simply remembered (that is the
owner signing in after registering); every later unseen one triggers a "new sign-in" mail. A
changed user agent (a browser update) counts as a new device: a false alarm is cheaper than a
missed one.
"""

from __future__ import annotations

import hashlib

__all__ = ["device_fingerprint"]


def device_fingerprint(user_agent: str | None) -> str:
    """32 hex digits identifying the client software (an absent user agent is one device)."""
    return hashlib.sha256((user_agent or "").encode("utf-8", "replace")).hexdigest()[:32]
