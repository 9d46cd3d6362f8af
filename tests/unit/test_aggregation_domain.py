"""Aggregated-data domain (issue #7): accounts keep their identity and show their freshness,
snapshots refuse double-listed instruments, synced transactions are read-only, the change feed
sorts rows into added/modified/removed, cursors are opaque and refuse what dashcore did not make,
sync runs move only forward, raw payloads are compressed and capped."""

from __future__ import annotations

import base64
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.aggregation import (
    AccountSource,
    ManualAccountDetails,
    ManualEntry,
    RawPayload,
    StoredBalance,
    StoredHolding,
    StoredPosition,
    StoredTransaction,
    SyncCounts,
    SyncFailure,
    SyncRun,
    SyncRunStatus,
    SyncStatus,
    SyncTrigger,
    TransactionChanges,
    TransactionFilter,
    TransactionPosition,
    check_page_size,
    decode_change_cursor,
    decode_key_cursor,
    encode_change_cursor,
    encode_key_cursor,
    keyset_page,
    parse_account_name,
    totals_by_currency,
)
from dashcore.domain.errors import BadRequest, Conflict, InvalidInput, NotFound
from dashcore.domain.money import Currency, Money
from dashcore.domain.portfolio import AccountType, ActivityType, Balance, Holding, Position
from tests.unit.aggregation_factories import (
    CONNECTION_ID,
    T0,
    USD,
    USER_ID,
    equity,
    hours,
    manual_account,
    provider_account,
    provider_transaction,
    synced_account,
    synced_transaction,
    uuid7,
)

INR = Currency("INR")


# ----------------------------------------------------------------------------- accounts


def test_a_provider_account_starts_never_synced_and_open() -> None:
    account = synced_account()
    assert account.source is AccountSource.SYNCED
    assert account.sync_status is SyncStatus.NEVER
    assert account.last_synced_at is None
    assert account.closed_at is None
    assert (account.connection_id, account.provider_account_id) == (CONNECTION_ID, "ACC-1")
    assert account.base_currency == USD


def test_a_refreshed_account_keeps_its_id_and_reopens() -> None:
    account = synced_account().closed(T0 + hours(1))
    assert account.closed_at == T0 + hours(1)
    again = account.refreshed_from(provider_account(name="Renamed"), T0 + hours(2))
    assert again.id == account.id
    assert again.created_at == T0
    assert again.name == "Renamed"
    assert again.closed_at is None


def test_another_provider_account_cannot_refresh_an_account() -> None:
    with pytest.raises(InvalidInput):
        synced_account().refreshed_from(provider_account(provider_account_id="ACC-2"), T0)


def test_freshness_moves_with_each_sync() -> None:
    account = synced_account().sync_started(T0 + hours(1))
    assert account.sync_status is SyncStatus.SYNCING
    ok = account.sync_finished(T0 + hours(2))
    assert (ok.sync_status, ok.last_synced_at) == (SyncStatus.OK, T0 + hours(2))
    failed = ok.sync_started(T0 + hours(3)).sync_failed(T0 + hours(4))
    assert failed.sync_status is SyncStatus.FAILED
    assert failed.last_synced_at == T0 + hours(2), "a failure keeps the last success"
    odd = failed.sync_finished(T0 + hours(5), suspicious=True)
    assert (odd.sync_status, odd.last_synced_at) == (SyncStatus.SUSPICIOUS, T0 + hours(5))


def test_a_doubted_sync_keeps_the_last_refresh() -> None:
    account = synced_account().sync_finished(T0).sync_started(T0 + hours(1))
    doubted = account.sync_doubted(T0 + hours(2))
    assert (doubted.sync_status, doubted.last_synced_at) == (SyncStatus.SUSPICIOUS, T0)


def test_closing_twice_keeps_the_first_instant() -> None:
    account = synced_account().closed(T0)
    assert account.closed(T0 + hours(1)).closed_at == T0


def test_a_manual_account_is_edited_and_deleted_but_never_synced() -> None:
    account = manual_account()
    assert account.is_manual and account.provider is None and account.connection_id is None
    edited = account.edited(ManualAccountDetails("Savings", AccountType.CASH, INR), T0 + hours(1))
    assert (edited.name, edited.base_currency) == ("Savings", INR)
    deleted = edited.deleted(T0 + hours(2))
    assert not deleted.is_visible
    with pytest.raises(NotFound):
        deleted.edited(ManualAccountDetails("Again", AccountType.CASH, USD), T0)
    with pytest.raises(Conflict, match="not synced"):
        account.sync_started(T0)


def test_a_synced_account_cannot_be_edited_by_hand() -> None:
    with pytest.raises(Conflict) as caught:
        synced_account().edited(ManualAccountDetails("Mine", AccountType.CASH, USD), T0)
    assert caught.value.code == "synced_account_read_only"
    with pytest.raises(Conflict):
        synced_account().deleted(T0)


def test_an_account_is_synced_with_all_its_provider_ids_or_manual_with_none() -> None:
    with pytest.raises(InvalidInput):
        replace(synced_account(), provider_account_id=None)
    with pytest.raises(InvalidInput):
        replace(manual_account(), provider_account_id="ACC-1")
    with pytest.raises(InvalidInput):
        replace(manual_account(), connection_id=CONNECTION_ID, provider="schwab")


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, "tab\there"])
def test_account_names_are_short_and_printable(name: str) -> None:
    with pytest.raises(InvalidInput):
        parse_account_name(name)
    with pytest.raises(InvalidInput):
        ManualAccountDetails(name, AccountType.CASH, USD)


def test_account_names_are_trimmed() -> None:
    assert parse_account_name("  Savings ") == "Savings"
    assert parse_account_name(None) is None


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInput):
        synced_account(now=T0.replace(tzinfo=None))


# ---------------------------------------------------------------------- balances and snapshots


def balance(account_id_n: int, cash: str, currency: str = "USD") -> StoredBalance:
    account = synced_account(uuid7(account_id_n), base_currency=currency)
    money = Money.of(cash, currency)
    return StoredBalance.from_provider(
        account, Balance("ACC-1", money, money * 2, Money.zero(currency)), T0
    )


def test_totals_are_per_currency_and_count_each_account_once() -> None:
    totals = totals_by_currency([balance(1, "10.50"), balance(2, "100", "INR"), balance(3, "1")])
    assert [t.currency.code for t in totals] == ["INR", "USD"]
    usd = totals[1]
    assert (usd.cash, usd.buying_power, usd.accounts) == (
        Money.of("11.50", "USD"),
        Money.of("23.00", "USD"),
        2,
    )
    with pytest.raises(ValueError, match="one balance per account"):
        totals_by_currency([balance(1, "1"), balance(1, "2")])


def test_the_amounts_of_a_balance_or_a_holding_are_in_one_currency() -> None:
    usd, inr = Money.of(1, "USD"), Money.of(1, "INR")
    with pytest.raises(InvalidInput):
        StoredBalance.from_provider(synced_account(), Balance("ACC-1", usd, inr, usd), T0)
    with pytest.raises(InvalidInput):
        StoredHolding.snapshot(
            synced_account(), [Holding("ACC-1", equity(), Decimal(1), usd, inr, None)], T0
        )
    with pytest.raises(InvalidInput):
        StoredPosition.snapshot(
            synced_account(),
            [Position("ACC-1", equity(), Decimal(1), "cnc", usd, None, None, inr)],
            T0,
        )
    with pytest.raises(InvalidInput):
        StoredPosition.snapshot(
            synced_account(), [Position("ACC-1", equity(), Decimal(1), "", None, None, None)], T0
        )
    (line,) = StoredHolding.snapshot(
        synced_account(), [Holding("ACC-1", equity(), Decimal(1), None, inr, inr)], T0
    )
    assert line.price_currency == INR


def holding(symbol: str, quantity: str = "10") -> Holding:
    return Holding("ACC-1", equity(symbol), Decimal(quantity), None, None, None)


def test_a_holdings_snapshot_is_in_key_order() -> None:
    lines = StoredHolding.snapshot(synced_account(), [holding("MSFT"), holding("AAPL")], T0)
    assert [line.key for line in lines] == ["XNAS:AAPL", "XNAS:MSFT"]
    assert all(line.as_of == T0 and line.user_id == USER_ID for line in lines)


def test_an_instrument_listed_twice_is_refused_not_double_counted() -> None:
    with pytest.raises(InvalidInput) as caught:
        StoredHolding.snapshot(synced_account(), [holding("AAPL"), holding("AAPL", "5")], T0)
    assert caught.value.code == "duplicate_instrument"


def test_positions_are_keyed_by_instrument_and_product() -> None:
    def position(product: str, quantity: str) -> Position:
        return Position("ACC-1", equity(), Decimal(quantity), product, None, None, None)

    lines = StoredPosition.snapshot(
        synced_account(), [position("intraday", "-5"), position("delivery", "3")], T0
    )
    assert [line.key for line in lines] == ["XNAS:AAPL/delivery", "XNAS:AAPL/intraday"]
    with pytest.raises(InvalidInput):
        StoredPosition.snapshot(
            synced_account(), [position("intraday", "1"), position("intraday", "2")], T0
        )


# ---------------------------------------------------------------------------- transactions


def entry(**overrides: object) -> ManualEntry:
    fields: dict[str, object] = {
        "activity": ActivityType.DEPOSIT,
        "occurred_at": T0,
        "amount": Money.of("250.00", "USD"),
        "description": " Salary ",
    }
    fields.update(overrides)
    return ManualEntry(**fields)  # type: ignore[arg-type]


def test_a_manual_entry_uses_its_own_id_as_provider_id() -> None:
    row = StoredTransaction.manual(uuid7(9), manual_account(), entry(), T0)
    assert row.provider_transaction_id == str(uuid7(9))
    assert row.source is AccountSource.MANUAL
    assert row.description == "Salary"
    assert row.entry == entry()


def test_a_manual_entry_is_in_the_account_currency() -> None:
    with pytest.raises(InvalidInput) as caught:
        StoredTransaction.manual(uuid7(9), manual_account(), entry(amount=Money.of(1, "INR")), T0)
    assert caught.value.code == "currency_mismatch"


def test_manual_entries_only_go_to_manual_accounts() -> None:
    with pytest.raises(Conflict):
        StoredTransaction.manual(uuid7(9), synced_account(), entry(), T0)
    with pytest.raises(Conflict):
        StoredTransaction.from_provider(uuid7(9), manual_account(), provider_transaction(), T0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"quantity": Decimal(1)},
        {"instrument": equity()},
        {"price": Money.of(1, "USD")},
        {"instrument": equity(), "quantity": Decimal("NaN")},
        {"description": "x" * 501},
        {"description": "line\nbreak"},
        {"occurred_at": T0.replace(tzinfo=None)},
        {"activity": "deposit"},
        {"amount": Decimal(1)},
    ],
)
def test_bad_manual_entries_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        entry(**overrides)


def test_a_manual_transaction_is_edited_then_deleted() -> None:
    account = manual_account()
    row = StoredTransaction.manual(uuid7(9), account, entry(), T0)
    edited = row.edited(account, replace(row.entry, amount=Money.of("300", "USD")), T0 + hours(1))
    assert (edited.id, edited.amount, edited.updated_at) == (
        row.id,
        Money.of("300", "USD"),
        T0 + hours(1),
    )
    deleted = edited.deleted(T0 + hours(2))
    assert deleted.removed_at == T0 + hours(2)
    with pytest.raises(NotFound):
        deleted.edited(account, entry(), T0)
    with pytest.raises(NotFound):
        deleted.deleted(T0)


def test_a_synced_transaction_is_read_only() -> None:
    row = synced_transaction(uuid7(9), synced_account())
    with pytest.raises(Conflict) as edit:
        row.edited(manual_account(), entry(), T0)
    with pytest.raises(Conflict) as delete:
        row.deleted(T0)
    assert edit.value.code == delete.value.code == "synced_transaction_read_only"


def test_an_identical_provider_row_changes_nothing() -> None:
    account = synced_account()
    stored = replace(synced_transaction(uuid7(9), account), created_seq=4, change_seq=7)
    incoming = synced_transaction(uuid7(99), account, now=T0 + hours(1))
    assert stored.updated_from(incoming, T0 + hours(1)) is None


def test_a_changed_provider_row_keeps_its_identity() -> None:
    account = synced_account()
    stored = replace(synced_transaction(uuid7(9), account), created_seq=4, change_seq=7)
    incoming = synced_transaction(uuid7(99), account, amount="-101.00", now=T0 + hours(1))
    updated = stored.updated_from(incoming, T0 + hours(1))
    assert updated is not None
    assert (updated.id, updated.created_at, updated.updated_at) == (uuid7(9), T0, T0 + hours(1))
    assert updated.amount == Money.of("-101.00", "USD")
    assert (updated.created_seq, updated.change_seq) == (4, 7), "the repository stamps"


def test_a_removed_row_that_comes_back_is_restored() -> None:
    account = synced_account()
    stored = synced_transaction(uuid7(9), account).removed(T0 + hours(1))
    assert stored.removed(T0 + hours(5)).removed_at == T0 + hours(1)
    back = stored.updated_from(synced_transaction(uuid7(99), account), T0 + hours(2))
    assert back is not None and back.removed_at is None


def test_rows_of_another_transaction_are_not_merged() -> None:
    account = synced_account()
    with pytest.raises(ValueError, match="not the same"):
        synced_transaction(uuid7(9), account).updated_from(
            synced_transaction(uuid7(10), account, "T-2"), T0
        )


def test_filters_match_as_documented() -> None:
    account = synced_account()
    row = synced_transaction(uuid7(9), account, at=T0)
    assert TransactionFilter().matches(row)
    assert TransactionFilter(since=T0, until=T0 + hours(1)).matches(row)
    assert not TransactionFilter(until=T0).matches(row), "until is exclusive"
    assert TransactionFilter(account_ids=frozenset({account.id})).matches(row)
    assert not TransactionFilter(account_ids=frozenset({uuid7(1)})).matches(row)
    assert TransactionFilter(activities=frozenset({ActivityType.BUY})).matches(row)
    assert not TransactionFilter(activities=frozenset({ActivityType.SELL})).matches(row)
    assert TransactionFilter(symbol="AAPL").matches(row)
    assert not TransactionFilter(symbol="MSFT").matches(row)
    assert TransactionFilter(min_amount=Decimal(-100), max_amount=Decimal(-100)).matches(row)
    assert not TransactionFilter(min_amount=Decimal("-99.99")).matches(row)
    removed = row.removed(T0)
    assert not TransactionFilter().matches(removed)
    assert TransactionFilter(include_removed=True).matches(removed)
    no_instrument = replace(row, instrument=None, quantity=None, price=None)
    assert not TransactionFilter(symbol="AAPL").matches(no_instrument)


@pytest.mark.parametrize(
    "fields",
    [
        {"since": T0, "until": T0},
        {"min_amount": Decimal(2), "max_amount": Decimal(1)},
        {"min_amount": Decimal("Infinity")},
        {"symbol": ""},
        {"since": T0.replace(tzinfo=None)},
    ],
)
def test_bad_filters_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        TransactionFilter(**fields)  # type: ignore[arg-type]


# -------------------------------------------------------------------------------- cursors


OWNER, OTHER = UUID(int=1), UUID(int=2)


@given(st.datetimes(timezones=st.just(UTC)), st.uuids())
def test_transaction_positions_round_trip(when: datetime, identifier: UUID) -> None:
    position = TransactionPosition(when, identifier)
    assert TransactionPosition.decode(position.encode(OWNER), OWNER) == position


@given(st.text(min_size=1, max_size=100))
def test_key_cursors_round_trip(key: str) -> None:
    assert decode_key_cursor("holdings", OWNER, encode_key_cursor("holdings", OWNER, key)) == key


@given(st.integers(min_value=0, max_value=10**17))
def test_change_cursors_round_trip(seq: int) -> None:
    assert decode_change_cursor(OWNER, encode_change_cursor(OWNER, seq)) == seq


def test_a_cursor_is_refused_by_any_listing_but_the_one_it_was_made_for() -> None:
    """A holdings cursor of one account on another, a feed or listing cursor of one user by
    another: each a ``BadRequest`` ``invalid_cursor``, never a silently wrong page."""
    position = TransactionPosition(datetime(2026, 1, 1, tzinfo=UTC), UUID(int=9))
    refusals = [
        lambda: decode_key_cursor("holdings", OTHER, encode_key_cursor("holdings", OWNER, "K")),
        lambda: TransactionPosition.decode(position.encode(OWNER), OTHER),
        lambda: decode_change_cursor(OTHER, encode_change_cursor(OWNER, 3)),
    ]
    for refused in refusals:
        with pytest.raises(BadRequest) as caught:
            refused()
        assert caught.value.code == "invalid_cursor"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64!",
        "é",
        _b64(f"holdings\x1f{OWNER.hex}\x1fXNAS:AAPL"),
        _b64(f"transactions\x1f{OWNER.hex}\x1fyesterday\x1f" + "0" * 32),
        _b64(f"transactions\x1f{OWNER.hex}\x1f2026-01-01T00:00:00\x1f" + "0" * 32),
        _b64(f"transactions\x1f{OWNER.hex}\x1f2026-01-01T00:00:00+00:00\x1fnot-a-uuid"),
        _b64(f"transactions\x1f{OWNER.hex}\x1f2026-01-01T00:00:00+00:00"),
        _b64("transactions\x1f2026-01-01T00:00:00+00:00\x1f" + "0" * 32),
        "A" * 2000,
    ],
)
def test_transaction_cursors_dashcore_did_not_make_are_bad_requests(cursor: str) -> None:
    with pytest.raises(BadRequest) as caught:
        TransactionPosition.decode(cursor, OWNER)
    assert caught.value.code == "invalid_cursor"


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(f"changes\x1f{OWNER.hex}\x1f-1"),
        _b64(f"changes\x1f{OWNER.hex}\x1f1e3"),
        _b64(f"changes\x1f{OWNER.hex}\x1f" + "9" * 19),
        _b64("changes\x1f3"),
    ],
)
def test_change_cursors_dashcore_did_not_make_are_bad_requests(cursor: str) -> None:
    with pytest.raises(BadRequest):
        decode_change_cursor(OWNER, cursor)
    assert decode_change_cursor(OWNER, None) == decode_change_cursor(OWNER, "") == 0


def test_an_empty_key_cursor_is_refused() -> None:
    with pytest.raises(BadRequest):
        decode_key_cursor("holdings", OWNER, encode_key_cursor("holdings", OWNER, ""))
    with pytest.raises(BadRequest):
        decode_key_cursor("positions", OWNER, encode_key_cursor("holdings", OWNER, "XNAS:AAPL"))


def test_a_position_is_before_the_rows_that_follow_it() -> None:
    account = synced_account()
    position = TransactionPosition(T0, uuid7(5))
    assert position.is_before(synced_transaction(uuid7(4), account, at=T0))
    assert position.is_before(synced_transaction(uuid7(9), account, at=T0 - hours(1)))
    assert not position.is_before(synced_transaction(uuid7(5), account, at=T0))
    assert not position.is_before(synced_transaction(uuid7(1), account, at=T0 + hours(1)))


def test_keyset_pages_say_whether_more_follow() -> None:
    page = keyset_page([1, 2, 3], 2, str)
    assert (page.items, page.next_cursor) == ((1, 2), "2")
    last = keyset_page([1, 2], 2, str)
    assert (last.items, last.next_cursor) == ((1, 2), None)
    assert keyset_page([], 2, str).next_cursor is None


@pytest.mark.parametrize("limit", [0, -1, 501, True])
def test_page_sizes_are_bounded(limit: int) -> None:
    with pytest.raises(InvalidInput):
        check_page_size(limit)
    assert check_page_size(500) == 500


# ---------------------------------------------------------------------------- change feed


def stamped(n: int, created: int, changed: int, *, removed: bool = False) -> StoredTransaction:
    row = synced_transaction(uuid7(n), synced_account(), f"T-{n}")
    row = replace(row, created_seq=created, change_seq=changed)
    return row.removed(T0) if removed else row


def test_changes_are_sorted_into_added_modified_and_removed() -> None:
    rows = [stamped(1, 3, 6), stamped(2, 7, 7), stamped(3, 2, 8, removed=True), stamped(4, 9, 9)]
    changes = TransactionChanges.of(OWNER, rows, after_seq=5, limit=3)
    assert [r.id for r in changes.modified] == [uuid7(1)]
    assert [r.id for r in changes.added] == [uuid7(2)]
    assert [r.id for r in changes.removed] == [uuid7(3)]
    assert changes.has_more
    assert decode_change_cursor(OWNER, changes.next_cursor) == 8


def test_no_changes_keep_the_cursor() -> None:
    changes = TransactionChanges.of(OWNER, [], after_seq=12, limit=10)
    assert (changes.added, changes.modified, changes.removed, changes.has_more) == (
        (),
        (),
        (),
        False,
    )
    assert decode_change_cursor(OWNER, changes.next_cursor) == 12


def test_changes_out_of_order_are_a_defect() -> None:
    with pytest.raises(ValueError, match="increasing"):
        TransactionChanges.of(OWNER, [stamped(1, 1, 7), stamped(2, 1, 6)], after_seq=0, limit=5)
    with pytest.raises(ValueError, match="increasing"):
        TransactionChanges.of(OWNER, [stamped(1, 1, 3)], after_seq=3, limit=5)


def test_a_row_is_never_stamped_before_it_was_created() -> None:
    with pytest.raises(ValueError, match="created_seq"):
        stamped(1, 5, 4)


# ------------------------------------------------------------------------------ sync runs


def run() -> SyncRun:
    return SyncRun.queued(uuid7(1), CONNECTION_ID, USER_ID, SyncTrigger.MANUAL, T0)


def test_a_run_goes_queued_running_succeeded() -> None:
    queued = run().with_job("job-1")
    assert queued.is_active and queued.heartbeat_at == T0 and queued.job_id == "job-1"
    running = queued.started(T0 + timedelta(seconds=1))
    counts = SyncCounts(accounts=1, transactions_added=5)
    running = running.progressed(counts, T0 + timedelta(seconds=2))
    assert running.heartbeat_at == T0 + timedelta(seconds=2)
    done = running.flagged("holdings went empty").succeeded(T0 + timedelta(seconds=3))
    assert done.status is SyncRunStatus.SUCCEEDED
    assert (done.started_at, done.finished_at) == (
        T0 + timedelta(seconds=1),
        T0 + timedelta(seconds=3),
    )
    assert done.counts == counts and done.is_suspicious and not done.is_active


def test_a_run_fails_with_a_reason_from_queued_or_running() -> None:
    reason = SyncFailure("provider_unavailable", "x" * 900)
    assert len(reason.message) == 500
    assert run().failed(T0, reason).error == reason
    assert run().started(T0).failed(T0, reason).status is SyncRunStatus.FAILED


@pytest.mark.parametrize(
    "move",
    [
        lambda r: r.succeeded(T0),
        lambda r: r.progressed(SyncCounts(), T0),
        lambda r: r.started(T0).started(T0),
        lambda r: r.started(T0).succeeded(T0).failed(T0, SyncFailure("x", "y")),
        lambda r: r.failed(T0, SyncFailure("x", "y")).started(T0),
    ],
)
def test_a_run_never_moves_backwards_or_skips(move: object) -> None:
    with pytest.raises(Conflict) as caught:
        move(run())  # type: ignore[operator]
    assert caught.value.code == "invalid_sync_transition"


def test_counts_add_up_and_are_never_negative() -> None:
    total = SyncCounts(accounts=1, holdings=2) + SyncCounts(holdings=3, transactions_removed=1)
    assert total == SyncCounts(accounts=1, holdings=5, transactions_removed=1)
    with pytest.raises(ValueError, match="negative"):
        SyncCounts(accounts=-1)


def test_failure_codes_are_short() -> None:
    with pytest.raises(ValueError, match="1-64"):
        SyncFailure("", "empty")
    with pytest.raises(ValueError, match="1-64"):
        SyncFailure("x" * 65, "long")


# --------------------------------------------------------------------------- raw payloads


@given(st.binary(max_size=2000), st.integers(min_value=0, max_value=3000))
def test_payloads_are_compressed_and_capped(body: bytes, cap: int) -> None:
    payload = RawPayload.capture(uuid7(1), uuid7(2), "holdings", body, T0, cap=cap)
    assert payload.content() == body[:cap]
    assert payload.size == len(body)
    assert payload.truncated == (len(body) > cap)
    assert zlib.decompress(payload.body) == body[:cap]


def test_a_payload_body_stays_out_of_its_repr() -> None:
    payload = RawPayload.capture(uuid7(1), uuid7(2), "holdings", b"secret-ish", T0, cap=100)
    assert "secret" not in repr(payload)
    with pytest.raises(ValueError, match="kind"):
        RawPayload.capture(uuid7(1), uuid7(2), "", b"", T0, cap=10)
