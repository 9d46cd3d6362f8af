"""Bodies of the broker webhook endpoint. The request body is taken raw (its bytes are what
the signature covers), so only the acknowledgement has a schema."""

from __future__ import annotations

import msgspec

__all__ = ["WebhookAck"]


class WebhookAck(msgspec.Struct, frozen=True, kw_only=True):
    """The delivery is stored (``received``); ``duplicate`` when it was stored before, in
    which case nothing was done with it this time."""

    received: bool = True
    duplicate: bool
