"""Column types that keep money exact and time in UTC on both PostgreSQL and SQLite.

Identifiers need no type of ours: SQLAlchemy's ``Uuid`` is native ``UUID`` on PostgreSQL and a
32-digit hex string on SQLite, which sorts in the same order as the UUIDs themselves.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String, Text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from dashcore.domain.money import to_decimal
from dashcore.domain.time import ensure_utc

__all__ = ["ExactDecimal", "UtcDateTime", "stored_instant"]

_SQLITE_INSTANT_WIDTH = len("2026-01-01T09:00:00.000000+00:00")


class ExactDecimal(TypeDecorator[Decimal]):
    """A finite ``Decimal`` stored without loss: unconstrained ``NUMERIC`` on PostgreSQL, the
    decimal's own text on SQLite.

    ``float`` and non-finite values are refused (``InvalidInput``), as they are for ``Money``.
    SQLite gives back the very same digits and exponent. PostgreSQL gives back the same value
    and the same number of decimal places; a positive exponent comes back written out in full
    (``1E+30`` as ``1000…0``, an equal number), and at most 16383 decimal places are kept.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.NUMERIC(asdecimal=True))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = to_decimal(value)
        return exact if dialect.name == "postgresql" else str(exact)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant, always given back in UTC; a naive datetime is refused.

    PostgreSQL stores ``TIMESTAMPTZ``. SQLite stores fixed-width ISO 8601 text in UTC with
    microseconds (``2026-01-01T09:00:00.000000+00:00``), so text order is time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(_SQLITE_INSTANT_WIDTH))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        instant = ensure_utc(value)
        return instant.isoformat(timespec="microseconds") if dialect.name == "sqlite" else instant

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else stored_instant(value)


def stored_instant(value: str | datetime) -> datetime:
    """An instant as the driver gives it back (ISO 8601 text on SQLite, a datetime on
    PostgreSQL), in UTC; ``ValueError`` for text that is not one."""
    return ensure_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
