"""What an export file looks like: its columns and the CSV and JSON encodings (issue #7).

Columns:
- raw rows: ``id, account_id, occurred_at, type, amount, currency, symbol, exchange, quantity,
  price, price_currency, description, provider_type, order_ref, source``;
- totals: ``period, period_start, period_end, category, currency, amount, count``
  (``period_end`` is the first day after the period).

Values: instants are ISO 8601 in UTC (``2026-03-10T09:00:00+00:00``), days ``YYYY-MM-DD``,
amounts, quantities and prices plain decimal strings exactly as stored (``-1250.50``, never
``-1.2505E+3`` and never a float); a missing value is empty (CSV) or ``null`` (JSON).

**CSV** (RFC 4180, UTF-8, CRLF line ends): a header row, then one row per line, quoted by
Python's ``csv`` module where a value holds a comma, a quote or a line break. A text value
that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return) is written with a leading ``'`` (OWASP's advice against CSV injection):
descriptions come from providers and from people. Numbers are never altered.

**JSON**: one JSON array of objects (``[`` … ``]``), written incrementally, one object per
line: a standard document that any JSON parser reads whole, and that a streaming reader can
also take line by line. Amounts stay strings; ``count`` is a number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol, TypeAlias

from dashcore.domain.aggregation import StoredTransaction
from dashcore.domain.exports import ExportFormat, PeriodTotal
from dashcore.domain.money import plain_decimal

__all__ = [
    "ROW_COLUMNS",
    "TOTAL_COLUMNS",
    "Cell",
    "CsvWriter",
    "ExportWriter",
    "JsonArrayWriter",
    "total_cells",
    "transaction_cells",
    "writer_for",
]

Cell: TypeAlias = str | int | None

ROW_COLUMNS = (
    "id",
    "account_id",
    "occurred_at",
    "type",
    "amount",
    "currency",
    "symbol",
    "exchange",
    "quantity",
    "price",
    "price_currency",
    "description",
    "provider_type",
    "order_ref",
    "source",
)
TOTAL_COLUMNS = ("period", "period_start", "period_end", "category", "currency", "amount", "count")

_FREE_TEXT = frozenset({"symbol", "exchange", "description", "provider_type", "order_ref"})
"""Columns whose text comes from providers or people (CSV neutralizes formulas in them)."""
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _optional(value: Decimal | None) -> str | None:
    return None if value is None else plain_decimal(value)


def transaction_cells(transaction: StoredTransaction) -> tuple[Cell, ...]:
    """One raw row, in :data:`ROW_COLUMNS` order."""
    instrument, price = transaction.instrument, transaction.price
    return (
        str(transaction.id),
        str(transaction.account_id),
        transaction.occurred_at.isoformat(),
        transaction.activity.value,
        plain_decimal(transaction.amount.amount),
        transaction.amount.currency.code,
        None if instrument is None else instrument.symbol,
        None if instrument is None else instrument.exchange,
        _optional(transaction.quantity),
        None if price is None else plain_decimal(price.amount),
        None if price is None else price.currency.code,
        transaction.description,
        transaction.provider_type,
        transaction.order_ref,
        transaction.source.value,
    )


def total_cells(total: PeriodTotal) -> tuple[Cell, ...]:
    """One period's total, in :data:`TOTAL_COLUMNS` order."""
    return (
        total.label,
        total.start.isoformat(),
        total.end.isoformat(),
        total.category.value,
        total.currency,
        plain_decimal(total.amount),
        total.count,
    )


class ExportWriter(Protocol):
    """Turns rows of cells into the file's text, piece by piece: ``begin()``, then ``row()``
    for each row, then ``end()``; the pieces joined are the whole file."""

    def begin(self) -> str: ...

    def row(self, cells: Sequence[Cell]) -> str: ...

    def end(self) -> str: ...


class CsvWriter(ExportWriter):
    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        self._free_text = tuple(name in _FREE_TEXT for name in self._columns)
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def _line(self, values: Sequence[object]) -> str:
        self._csv.writerow(values)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def begin(self) -> str:
        return self._line(self._columns)

    def row(self, cells: Sequence[Cell]) -> str:
        if len(cells) != len(self._columns):
            raise ValueError("one cell per column")
        return self._line(
            [
                _neutralized(cell) if free and isinstance(cell, str) else cell
                for cell, free in zip(cells, self._free_text, strict=True)
            ]
        )

    def end(self) -> str:
        return ""


def _neutralized(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class JsonArrayWriter(ExportWriter):
    def __init__(self, columns: Sequence[str]) -> None:
        self._columns = tuple(columns)
        self._rows = 0

    def begin(self) -> str:
        return "["

    def row(self, cells: Sequence[Cell]) -> str:
        if len(cells) != len(self._columns):
            raise ValueError("one cell per column")
        separator = "\n" if self._rows == 0 else ",\n"
        self._rows += 1
        document = dict(zip(self._columns, cells, strict=True))
        return separator + json.dumps(document, ensure_ascii=False, separators=(",", ":"))

    def end(self) -> str:
        return "\n]\n" if self._rows else "]\n"


def writer_for(export_format: ExportFormat, columns: Sequence[str]) -> ExportWriter:
    if export_format is ExportFormat.CSV:
        return CsvWriter(columns)
    return JsonArrayWriter(columns)
