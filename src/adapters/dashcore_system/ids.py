"""UUID version 7 (RFC 9562 §5.7): 48-bit Unix milliseconds, then randomness.

Within one millisecond the 12-bit ``rand_a`` field is used as a counter (RFC 9562 §6.2,
method 1) so identifiers made by one process are strictly increasing. The standard library
gains ``uuid.uuid7`` only in Python 3.14; this is the same algorithm for 3.11+.
"""

from __future__ import annotations

import secrets
import threading
import time
from uuid import UUID

from dashcore.ports.ids import IdGenerator

__all__ = ["Uuid7Generator"]

_COUNTER_MAX = 0xFFF


class Uuid7Generator(IdGenerator):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def new_id(self) -> UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                self._counter = secrets.randbits(11)  # leave room to count up within the ms
            else:
                self._counter += 1
                if self._counter > _COUNTER_MAX:
                    self._last_ms += 1  # borrow the next millisecond rather than repeat
                    self._counter = 0
            timestamp, counter = self._last_ms, self._counter
        value = (timestamp & 0xFFFF_FFFF_FFFF) << 80
        value |= 0x7 << 76
        value |= counter << 64
        value |= 0b10 << 62
        value |= secrets.randbits(62)
        return UUID(int=value)
