"""Exact decimals in response bodies.

An amount, price or quantity leaves as a JSON string of its exact digits in positional
notation: ``"0.0000000001"``, never ``"1E-10"``; ``"100"``, never ``"1E+2"``. msgspec writes a
``Decimal`` with ``str()``, which switches to an exponent for numbers below 10**-6 (a P&L of a
fraction of a paisa after an average cost carried to 50 digits) and for some whole numbers, so a
view holds the text instead, made by :func:`decimal_string`. The pattern documents the form in
the OpenAPI schema; it is not checked on the way out.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, TypeAlias

import msgspec

from dashcore.domain.money import plain_decimal

__all__ = ["DECIMAL_PATTERN", "DecimalString", "decimal_string", "optional_decimal_string"]

DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
DecimalString: TypeAlias = Annotated[str, msgspec.Meta(pattern=DECIMAL_PATTERN)]
"""The type of every decimal field of a response body."""


def decimal_string(value: Decimal) -> str:
    """``value`` as a :data:`DecimalString`."""
    return plain_decimal(value)


def optional_decimal_string(value: Decimal | None) -> str | None:
    """``None`` stays ``None`` (unknown, never zero)."""
    return None if value is None else plain_decimal(value)
