"""Exact decimal arithmetic inside SQLite, for totals over ``ExactDecimal`` columns.

SQLite keeps an ``ExactDecimal`` as the decimal's text, and its own ``SUM`` and ``*`` would
turn those into binary floats. These functions keep them exact, with money's arithmetic
(``dashcore.domain.money.ARITHMETIC``), so that a total over many rows is computed where the
rows are, on the driver's thread, instead of every row travelling to the event loop and being
added up there:

- ``dashcore_decimal_product(a, b)``: ``a × b``, NULL when either is NULL;
- ``dashcore_decimal_total(x)``: the aggregate sum of the non-NULL ``x``, NULL when there are
  none (as ``SUM``).

Both answer the decimal's text, which ``ExactDecimal`` reads back. :func:`register` adds them to
a connection; the SQLite driver does so for every connection it opens.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Final

from dashcore.domain.money import ARITHMETIC

__all__ = ["DECIMAL_PRODUCT", "DECIMAL_TOTAL", "register"]

DECIMAL_PRODUCT: Final = "dashcore_decimal_product"
DECIMAL_TOTAL: Final = "dashcore_decimal_total"

_Stored = str | int | None
"""What an ``ExactDecimal`` column holds on SQLite: the text (an integer if written by hand)."""


def _product(left: _Stored, right: _Stored) -> str | None:
    if left is None or right is None:
        return None
    return str(ARITHMETIC.multiply(Decimal(left), Decimal(right)))


class _Total:
    """The aggregate's state for one group."""

    def __init__(self) -> None:
        self._total: Decimal | None = None

    def step(self, value: _Stored) -> None:
        if value is not None:
            self._total = ARITHMETIC.add(self._total or Decimal(0), Decimal(value))

    def finalize(self) -> str | None:
        return None if self._total is None else str(self._total)


def register(connection: sqlite3.Connection) -> None:
    """Add the functions to ``connection`` (on the thread that uses it)."""
    connection.create_function(DECIMAL_PRODUCT, 2, _product, deterministic=True)
    # typeshed has an aggregate answer only integers; SQLite takes any SQL value (text here).
    connection.create_aggregate(DECIMAL_TOTAL, 1, _Total)  # type: ignore[arg-type]
