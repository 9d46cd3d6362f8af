"""Export file encodings: CSV quoting (commas, quotes, line breaks, formulas neutralized in free
text only), Decimals as plain exact strings, JSON arrays written piece by piece that parse
back whole, and both formats round-tripping arbitrary rows."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.aggregation import StoredTransaction
from dashcore.domain.export_formats import (
    ROW_COLUMNS,
    TOTAL_COLUMNS,
    Cell,
    CsvWriter,
    JsonArrayWriter,
    total_cells,
    transaction_cells,
    writer_for,
)
from dashcore.domain.exports import ExportFormat, ExportPeriod, PeriodTotal
from dashcore.domain.money import Money
from dashcore.domain.portfolio import ActivityType
from tests.unit.aggregation_factories import synced_account, synced_transaction, uuid7

AT = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)
ACCOUNT = synced_account()


def row(**changes: object) -> StoredTransaction:
    return replace(synced_transaction(uuid7(7), ACCOUNT, "T-1", at=AT), **changes)  # type: ignore[arg-type]


def whole(writer: CsvWriter | JsonArrayWriter, rows: list[tuple[Cell, ...]]) -> str:
    return writer.begin() + "".join(writer.row(cells) for cells in rows) + writer.end()


def parsed_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_a_raw_row_holds_every_column_with_amounts_as_stored() -> None:
    cells = dict(zip(ROW_COLUMNS, transaction_cells(row()), strict=True))
    assert cells == {
        "id": str(uuid7(7)),
        "account_id": str(ACCOUNT.id),
        "occurred_at": "2026-03-10T09:30:00+00:00",
        "type": "buy",
        "amount": "-100.00",
        "currency": "USD",
        "symbol": "AAPL",
        "exchange": "XNAS",
        "quantity": "1",
        "price": "100.00",
        "price_currency": "USD",
        "description": "Bought AAPL",
        "provider_type": None,
        "order_ref": None,
        "source": "synced",
    }
    bare = transaction_cells(row(instrument=None, quantity=None, price=None))
    assert bare[6:11] == (None, None, None, None, None)


def test_a_total_row_names_its_period_and_counts_as_a_number() -> None:
    total = PeriodTotal(
        ExportPeriod.WEEK, date(2024, 12, 30), ActivityType.FEE, "INR", Decimal("-3.50"), 2
    )
    assert total_cells(total) == ("2025-W01", "2024-12-30", "2025-01-06", "fee", "INR", "-3.50", 2)


def test_csv_has_a_header_and_quotes_what_needs_quoting() -> None:
    nasty = 'Dividend, "special"\nsecond line'
    text = whole(CsvWriter(ROW_COLUMNS), [transaction_cells(row(description=nasty))])
    assert text.startswith(",".join(ROW_COLUMNS) + "\r\n")
    assert '"Dividend, ""special""\nsecond line"' in text
    assert text.endswith("\r\n")
    (back,) = parsed_csv(text)
    assert back["description"] == nasty
    assert back["provider_type"] == ""


@pytest.mark.parametrize("formula", ["=HYPERLINK(1)", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_neutralizes_formulas_in_free_text_but_never_numbers(formula: str) -> None:
    text = whole(
        CsvWriter(ROW_COLUMNS),
        [transaction_cells(row(description=formula, provider_type=formula))],
    )
    (back,) = parsed_csv(text)
    assert back["description"] == back["provider_type"] == "'" + formula
    assert back["amount"] == "-100.00"


def test_csv_of_totals_and_an_empty_export_is_just_the_header() -> None:
    assert whole(CsvWriter(TOTAL_COLUMNS), []) == ",".join(TOTAL_COLUMNS) + "\r\n"
    total = PeriodTotal(ExportPeriod.YEAR, date(2026, 1, 1), ActivityType.FEE, "USD", Decimal(1), 1)
    (back,) = parsed_csv(whole(CsvWriter(TOTAL_COLUMNS), [total_cells(total)]))
    assert back == {
        "period": "2026",
        "period_start": "2026-01-01",
        "period_end": "2027-01-01",
        "category": "fee",
        "currency": "USD",
        "amount": "1",
        "count": "1",
    }


def test_json_is_one_array_written_one_object_per_line() -> None:
    writer = JsonArrayWriter(ROW_COLUMNS)
    cells = [transaction_cells(row(description='Café ☕ "quoted"')), transaction_cells(row())]
    text = whole(writer, cells)
    lines = text.splitlines()
    assert lines[0] == "[" and lines[-1] == "]"
    assert len(lines) == 4
    documents = json.loads(text)
    assert [list(d) for d in documents] == [list(ROW_COLUMNS)] * 2
    assert documents[0]["description"] == 'Café ☕ "quoted"'
    assert documents[0]["amount"] == "-100.00"
    assert documents[0]["provider_type"] is None
    assert "Café" in text  # UTF-8 as is, not \u escapes


def test_an_empty_json_export_is_an_empty_array() -> None:
    assert json.loads(whole(JsonArrayWriter(TOTAL_COLUMNS), [])) == []
    assert whole(JsonArrayWriter(TOTAL_COLUMNS), []) == "[]\n"


def test_a_row_must_have_one_cell_per_column() -> None:
    for writer in (CsvWriter(TOTAL_COLUMNS), JsonArrayWriter(TOTAL_COLUMNS)):
        writer.begin()
        with pytest.raises(ValueError, match="one cell per column"):
            writer.row(("too", "few"))


def test_writer_for_picks_the_format() -> None:
    assert isinstance(writer_for(ExportFormat.CSV, ROW_COLUMNS), CsvWriter)
    assert isinstance(writer_for(ExportFormat.JSON, ROW_COLUMNS), JsonArrayWriter)


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
amounts = st.decimals(allow_nan=False, allow_infinity=False, places=4, max_value=10**15)


@given(st.lists(st.tuples(texts, amounts), max_size=6))
def test_both_formats_round_trip_any_rows(rows: list[tuple[str, Decimal]]) -> None:
    cells = [
        transaction_cells(row(description=text, amount=Money.of(amount, "USD")))
        for text, amount in rows
    ]
    from_csv = parsed_csv(whole(CsvWriter(ROW_COLUMNS), cells))
    from_json = json.loads(whole(JsonArrayWriter(ROW_COLUMNS), cells))
    for (text, amount), csv_row, json_row in zip(rows, from_csv, from_json, strict=True):
        assert Decimal(csv_row["amount"]) == Decimal(json_row["amount"]) == amount
        assert json_row["description"] == text
        neutral = "'" + text if text.startswith(("=", "+", "-", "@", "\t", "\r")) else text
        assert csv_row["description"] == neutral
