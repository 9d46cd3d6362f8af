"""Exports in the domain: the request's validation, the export's state machine, periods (ISO
weeks across year ends, months, years) and the streaming totals per (period, category,
currency): never mixing currencies, exact Decimal sums, rows in order only."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.aggregation import ManualEntry, StoredTransaction
from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.exports import (
    Export,
    ExportFailure,
    ExportFormat,
    ExportPeriod,
    ExportRequest,
    ExportStatus,
    PeriodTotal,
    PeriodTotals,
    check_file_key,
    export_file_key,
)
from dashcore.domain.money import Money
from dashcore.domain.portfolio import ActivityType
from tests.unit.aggregation_factories import USER_ID, manual_account, uuid7

JAN = datetime(2026, 1, 1, tzinfo=UTC)
APR = datetime(2026, 4, 1, tzinfo=UTC)
KEEP = timedelta(hours=24)
BOX = manual_account()
_ids = iter(range(1, 1_000_000))


def request(**changes: Any) -> ExportRequest:
    fields: dict[str, Any] = {"format": ExportFormat.CSV, "since": JAN, "until": APR}
    fields.update(changes)
    return ExportRequest(**fields)


def tx(
    at: datetime, amount: str, currency: str = "USD", activity: ActivityType = ActivityType.DIVIDEND
) -> StoredTransaction:
    """A row of the (USD) box; another currency is set on the row, as a provider's could be."""
    entry = ManualEntry(activity, at, Money.of(amount, "USD"))
    row = StoredTransaction.manual(uuid7(next(_ids)), BOX, entry, at)
    return replace(row, amount=Money.of(amount, currency))


def totals(period: ExportPeriod, rows: list[StoredTransaction]) -> list[PeriodTotal]:
    summing = PeriodTotals(period)
    result: list[PeriodTotal] = []
    for row in rows:
        result.extend(summing.add(row))
    return result + summing.finish()


def lines(found: list[PeriodTotal]) -> list[tuple[str, str, str, str, int]]:
    return [(t.label, t.category.value, t.currency, str(t.amount), t.count) for t in found]


# -- the request --------------------------------------------------------------------------------


def test_a_request_is_normalized_to_utc_and_reads_its_range() -> None:
    made = request(
        since=datetime(2026, 1, 1, 1, tzinfo=UTC).astimezone(),
        account_ids=[uuid7(1)],
        period=ExportPeriod.MONTH,
    )
    assert made.since == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert made.since.tzinfo is UTC
    assert made.account_ids == frozenset({uuid7(1)})
    query = made.transactions
    assert (query.since, query.until, query.account_ids) == (made.since, APR, {uuid7(1)})
    assert not query.include_removed


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"since": APR, "until": JAN}, "until"),
        ({"since": JAN, "until": JAN}, "until"),
        ({"since": datetime(2026, 1, 1)}, "since"),  # noqa: DTZ001 - a naive instant on purpose
        ({"until": datetime(2026, 1, 1)}, "until"),  # noqa: DTZ001
        ({"since": datetime(1899, 12, 31, tzinfo=UTC)}, "since"),
        ({"until": datetime(9999, 1, 2, tzinfo=UTC)}, "until"),
        ({"account_ids": frozenset(uuid7(n) for n in range(101))}, "account_ids"),
        ({"format": "xlsx"}, "format"),
        ({"period": "quarter"}, "period"),
    ],
)
def test_a_bad_request_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        request(**changes)
    assert [error.field for error in refused.value.errors] == [field]


def test_the_file_name_says_the_range_by_its_days_and_the_period() -> None:
    assert request().file_name == "transactions-20260101-20260331.csv"
    assert (
        request(format=ExportFormat.JSON, period=ExportPeriod.WEEK).file_name
        == "transactions-20260101-20260331-week.json"
    )
    noon = request(until=datetime(2026, 2, 1, 12, tzinfo=UTC))
    assert noon.file_name == "transactions-20260101-20260201.csv"


# -- periods ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "start", "label", "end"),
    [
        (date(2024, 12, 30), date(2024, 12, 30), "2025-W01", date(2025, 1, 6)),
        (date(2025, 1, 5), date(2024, 12, 30), "2025-W01", date(2025, 1, 6)),
        (date(2021, 1, 3), date(2020, 12, 28), "2020-W53", date(2021, 1, 4)),
        (date(2021, 1, 4), date(2021, 1, 4), "2021-W01", date(2021, 1, 11)),
        (date(2026, 3, 15), date(2026, 3, 9), "2026-W11", date(2026, 3, 16)),
    ],
)
def test_weeks_are_iso_weeks_starting_monday(day: date, start: date, label: str, end: date) -> None:
    instant = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=UTC)
    week = ExportPeriod.WEEK
    assert week.start_of(instant) == start
    assert week.label(start) == label
    assert week.end_of(start) == end


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "instant", "start", "label", "end"),
    [
        (ExportPeriod.DAY, utc(2026, 3, 9, 23), date(2026, 3, 9), "2026-03-09", date(2026, 3, 10)),
        (ExportPeriod.MONTH, utc(2024, 2, 29, 12), date(2024, 2, 1), "2024-02", date(2024, 3, 1)),
        (ExportPeriod.MONTH, utc(2025, 12, 31, 23), date(2025, 12, 1), "2025-12", date(2026, 1, 1)),
        (ExportPeriod.MONTH, utc(2026, 1, 31), date(2026, 1, 1), "2026-01", date(2026, 2, 1)),
        (ExportPeriod.YEAR, utc(2025, 12, 31, 23, 59), date(2025, 1, 1), "2025", date(2026, 1, 1)),
    ],
)  # fmt: skip
def test_days_months_and_years(
    period: ExportPeriod, instant: datetime, start: date, label: str, end: date
) -> None:
    assert period.start_of(instant) == start
    assert period.label(start) == label
    assert period.end_of(start) == end


def test_periods_are_cut_in_utc_whatever_the_offset_of_the_instant() -> None:
    late_in_new_york = datetime(2025, 12, 31, 22, tzinfo=UTC).astimezone()
    assert ExportPeriod.YEAR.start_of(late_in_new_york) == date(2025, 1, 1)
    assert ExportPeriod.DAY.start_of(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == date(2026, 1, 1)


@given(st.datetimes(min_value=datetime(1900, 1, 8), max_value=datetime(9998, 12, 1)))  # noqa: DTZ001
def test_every_instant_falls_inside_its_period(naive: datetime) -> None:
    instant = naive.replace(tzinfo=UTC)
    for period in ExportPeriod:
        start = period.start_of(instant)
        end = period.end_of(start)
        assert start <= instant.date() < end
        assert period.start_of(datetime(end.year, end.month, end.day, tzinfo=UTC)) == end


# -- totals ----------------------------------------------------------------------------------


def test_totals_per_category_and_currency_never_mix_currencies() -> None:
    rows = [
        tx(datetime(2026, 1, 5, 9, tzinfo=UTC), "10.10"),
        tx(datetime(2026, 1, 6, 9, tzinfo=UTC), "100.00", "INR"),
        tx(datetime(2026, 1, 7, 9, tzinfo=UTC), "-2.05", activity=ActivityType.FEE),
        tx(datetime(2026, 1, 31, 23, 59, tzinfo=UTC), "0.90"),
        tx(datetime(2026, 2, 1, 0, 0, tzinfo=UTC), "5", "INR"),
    ]
    assert lines(totals(ExportPeriod.MONTH, rows)) == [
        ("2026-01", "dividend", "INR", "100.00", 1),
        ("2026-01", "dividend", "USD", "11.00", 2),
        ("2026-01", "fee", "USD", "-2.05", 1),
        ("2026-02", "dividend", "INR", "5", 1),
    ]
    assert lines(totals(ExportPeriod.YEAR, rows)) == [
        ("2026", "dividend", "INR", "105.00", 2),
        ("2026", "dividend", "USD", "11.00", 2),
        ("2026", "fee", "USD", "-2.05", 1),
    ]


def test_weekly_totals_cross_the_year_end_as_iso_weeks() -> None:
    rows = [
        tx(datetime(2024, 12, 29, 23, 59, tzinfo=UTC), "1"),  # Sunday: 2024-W52
        tx(datetime(2024, 12, 30, 0, 0, tzinfo=UTC), "2"),  # Monday: 2025-W01
        tx(datetime(2025, 1, 5, 23, 59, tzinfo=UTC), "3"),  # Sunday: still 2025-W01
        tx(datetime(2025, 1, 6, 0, 0, tzinfo=UTC), "4"),  # 2025-W02
    ]
    found = totals(ExportPeriod.WEEK, rows)
    assert lines(found) == [
        ("2024-W52", "dividend", "USD", "1", 1),
        ("2025-W01", "dividend", "USD", "5", 2),
        ("2025-W02", "dividend", "USD", "4", 1),
    ]
    assert [(t.start, t.end) for t in found][1] == (date(2024, 12, 30), date(2025, 1, 6))


def test_sums_are_exact_beyond_the_default_decimal_precision() -> None:
    huge, tiny = "12345678901234567890123.123456789", "0.000000000000000001"
    rows = [tx(JAN, huge), tx(JAN, tiny), tx(JAN, f"-{huge}")]
    assert lines(totals(ExportPeriod.DAY, rows)) == [("2026-01-01", "dividend", "USD", "1E-18", 3)]
    many = [tx(JAN, "0.10") for _ in range(1000)]
    assert totals(ExportPeriod.DAY, many)[0].amount == Decimal("100.00")


def test_totals_come_back_as_each_period_closes_and_rows_must_come_in_order() -> None:
    summing = PeriodTotals(ExportPeriod.DAY)
    assert summing.finish() == []
    assert summing.add(tx(datetime(2026, 1, 1, tzinfo=UTC), "1")) == []
    assert summing.add(tx(datetime(2026, 1, 1, 12, tzinfo=UTC), "1")) == []
    closed = summing.add(tx(datetime(2026, 1, 3, tzinfo=UTC), "1"))
    assert lines(closed) == [("2026-01-01", "dividend", "USD", "2", 2)]
    with pytest.raises(ValueError, match="oldest first"):
        summing.add(tx(datetime(2026, 1, 2, tzinfo=UTC), "1"))
    assert lines(summing.finish()) == [("2026-01-03", "dividend", "USD", "1", 1)]
    assert summing.finish() == []


# -- the export -----------------------------------------------------------------------------


def queued() -> Export:
    return Export.queued(uuid7(42), USER_ID, request(), JAN)


def test_an_export_goes_queued_running_succeeded_with_its_progress() -> None:
    export = queued().with_job("job-1")
    assert (export.status, export.progress, export.job_id) == (ExportStatus.QUEUED, None, "job-1")
    running = export.started(JAN + timedelta(seconds=1), 4)
    assert (running.rows_read, running.rows_estimated, running.progress) == (0, 4, 0.0)
    halfway = running.progressed(2, JAN + timedelta(seconds=2))
    assert (halfway.progress, halfway.heartbeat_at) == (0.5, JAN + timedelta(seconds=2))
    assert running.progressed(9, JAN).progress == 1.0
    done = halfway.succeeded(
        JAN + timedelta(seconds=3), row_count=4, byte_size=99, file_key="k.csv", keep=KEEP
    )
    assert done.status is ExportStatus.SUCCEEDED
    assert (done.progress, done.row_count, done.byte_size) == (1.0, 4, 99)
    assert done.finished_at == JAN + timedelta(seconds=3)
    assert done.expires_at == JAN + timedelta(seconds=3) + KEEP
    assert not done.is_active


def test_an_empty_running_export_is_at_zero_and_failure_keeps_the_reason() -> None:
    running = queued().started(JAN, 0)
    assert running.progress == 0.0
    failed = running.failed(JAN, ExportFailure("export_error", "x" * 900), keep=KEEP)
    assert failed.error is not None
    assert len(failed.error.message) == 500
    assert failed.expires_at == JAN + KEEP
    assert (
        queued().failed(JAN, ExportFailure("unknown_task", "no"), keep=KEEP).is_expired(JAN + KEEP)
    )


@pytest.mark.parametrize(
    "move",
    [
        lambda e: e.succeeded(JAN, row_count=0, byte_size=0, file_key="k.csv", keep=KEEP),
        lambda e: e.progressed(1, JAN),
        lambda e: e.started(JAN, 1).started(JAN, 1),
        lambda e: e.failed(JAN, ExportFailure("a", "b"), keep=KEEP).started(JAN, 1),
        lambda e: (
            e.started(JAN, 1)
            .succeeded(JAN, row_count=0, byte_size=0, file_key="k.csv", keep=KEEP)
            .failed(JAN, ExportFailure("a", "b"), keep=KEEP)
        ),
    ],
)
def test_other_moves_are_conflicts(move: Any) -> None:
    with pytest.raises(Conflict) as refused:
        move(queued())
    assert refused.value.code == "invalid_export_transition"


def test_rows_read_never_go_down_and_invariants_hold() -> None:
    running = queued().started(JAN, 10).progressed(5, JAN)
    with pytest.raises(ValueError, match="never go down"):
        running.progressed(4, JAN)
    with pytest.raises(ValueError, match="file exactly"):
        Export(uuid7(1), USER_ID, request(), ExportStatus.QUEUED, JAN, JAN, file_key="k.csv")
    with pytest.raises(ValueError, match="error exactly"):
        Export(uuid7(1), USER_ID, request(), ExportStatus.FAILED, JAN, JAN)
    with pytest.raises(ValueError, match="negative"):
        Export(uuid7(1), USER_ID, request(), ExportStatus.QUEUED, JAN, JAN, rows_read=-1)


def test_the_file_is_downloadable_only_once_succeeded_and_until_it_expires() -> None:
    export = queued()
    codes = []
    for state in (export, export.started(JAN, 1)):
        with pytest.raises(Conflict) as refused:
            state.downloadable_file(JAN)
        codes.append(refused.value.code)
    failed = export.failed(JAN, ExportFailure("a", "b"), keep=KEEP)
    with pytest.raises(Conflict) as refused:
        failed.downloadable_file(JAN)
    codes.append(refused.value.code)
    running = export.started(JAN, 1)
    done = running.succeeded(
        JAN, row_count=1, byte_size=1, file_key=export_file_key(running), keep=KEEP
    )
    assert done.downloadable_file(JAN + KEEP - timedelta(microseconds=1)) == done.file_key
    with pytest.raises(Conflict) as expired:
        done.downloadable_file(JAN + KEEP)
    codes.append(expired.value.code)
    assert codes == ["export_not_ready", "export_not_ready", "export_failed", "export_expired"]


def test_file_keys_are_made_from_the_id_and_the_attempt_and_checked() -> None:
    queued_export = Export.queued(UUID(int=7), USER_ID, request(format=ExportFormat.JSON), JAN)
    with pytest.raises(ValueError, match="never started"):
        export_file_key(queued_export)
    first = queued_export.started(JAN + timedelta(microseconds=5), 1)
    key = export_file_key(first)
    assert key == f"00000000-0000-0000-0000-000000000007-{int(JAN.timestamp())}000005.json"
    assert check_file_key(key) == key
    again = first.restarted(JAN + timedelta(minutes=3), 1)
    assert export_file_key(again) != key, "a taken-over export writes a file of its own"
    assert not again.same_attempt(first) and first.same_attempt(first)
    for bad in ("../x.csv", "x/y", ".x", "", "x.c.csv"):
        with pytest.raises(InvalidInput):
            check_file_key(bad)
