"""Listing transactions (filters, newest first, keyset pages), the change feed, and manual
entries (validated, owner-checked, synced ones read-only, the balance kept to their sum)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest

from dashcore.application.transactions import EntryChange, EntryInput
from dashcore.domain.aggregation import StoredTransaction, TransactionFilter, TransactionPosition
from dashcore.domain.errors import BadRequest, Conflict, InvalidInput, NotFound
from dashcore.domain.money import Currency
from dashcore.domain.portfolio import ActivityType
from tests.unit.accounts_world import CALLER, OTHER, OWNER, AccountsWorld
from tests.unit.aggregation_factories import T0, hours


@pytest.fixture
def world() -> AccountsWorld:
    return AccountsWorld()


def day(n: int) -> datetime:
    return T0 - timedelta(days=n)


async def test_transactions_are_listed_newest_first_across_pages_each_once(
    world: AccountsWorld,
) -> None:
    account = await world.synced()
    rows = await world.synced_transactions(
        account, [(f"T-{n}", day(n % 4), f"-{n}.00") for n in range(9)]
    )
    await world.synced_transactions(await world.synced(OTHER, provider_account_id="X"), [])

    seen: list[StoredTransaction] = []
    cursor = None
    while True:
        page = await world.list_transactions()(OWNER, TransactionFilter(), cursor=cursor, limit=4)
        seen.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert sorted(t.id for t in seen) == sorted(t.id for t in rows)
    assert [(t.occurred_at, t.id) for t in seen] == sorted(
        ((t.occurred_at, t.id) for t in rows), reverse=True
    )


async def test_filters_narrow_the_listing(world: AccountsWorld) -> None:
    brokerage = await world.synced()
    box = await world.manual()
    await world.synced_transactions(
        brokerage, [("T-1", day(1), "-100.00"), ("T-2", day(5), "-250.00")]
    )
    deposit = (await world.entry(box, "40.00", at=day(2))).provider_transaction_id
    fee = (
        await world.entry(
            box,
            "-12.50",
            at=day(3),
            activity=ActivityType.FEE,
            symbol="msft",
            exchange="xnas",
            quantity=Decimal(1),
        )
    ).provider_transaction_id

    async def listed(**fields: Any) -> list[str]:
        page = await world.list_transactions()(OWNER, TransactionFilter(**fields))
        return [t.provider_transaction_id for t in page.items]

    assert await listed() == ["T-1", deposit, fee, "T-2"]
    assert await listed(account_ids=frozenset({box.id})) == [deposit, fee]
    assert await listed(since=day(3), until=day(1)) == [deposit, fee]  # until is exclusive
    assert await listed(activities=frozenset({ActivityType.BUY})) == ["T-1", "T-2"]
    assert await listed(activities=frozenset({ActivityType.FEE, ActivityType.DEPOSIT})) == [
        deposit,
        fee,
    ]
    assert await listed(symbol="AAPL") == ["T-1", "T-2"]
    assert await listed(symbol="MSFT") == [fee]  # typed in lower case, kept upper case
    assert await listed(min_amount=Decimal("-100"), max_amount=Decimal("0")) == ["T-1", fee]


async def test_filtering_on_another_users_account_is_not_found(world: AccountsWorld) -> None:
    theirs = await world.synced(OTHER)

    with pytest.raises(NotFound) as refused:
        await world.list_transactions()(
            OWNER, TransactionFilter(account_ids=frozenset({theirs.id}))
        )

    assert refused.value.code == "account_not_found"


@pytest.mark.parametrize("cursor", ["garbage", "dHJhbnNhY3Rpb25zHzIwMjYfeHl6"])
async def test_a_malformed_listing_cursor_is_a_bad_request(
    world: AccountsWorld, cursor: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        await world.list_transactions()(OWNER, TransactionFilter(), cursor=cursor)

    assert refused.value.code == "invalid_cursor"


async def test_the_change_feed_reports_added_modified_and_removed_once(
    world: AccountsWorld,
) -> None:
    box = await world.manual()
    kept = await world.entry(box, "10")
    edited = await world.entry(box, "20")
    start = await world.change_feed()(OWNER)
    assert [t.id for t in start.added] == [kept.id, edited.id]
    assert not start.has_more

    dropped = await world.entry(box, "30")
    await world.manual_transactions().update(
        OWNER, edited.id, EntryChange(amount=Decimal("21")), CALLER
    )
    await world.manual_transactions().delete(OWNER, dropped.id, CALLER)
    changes = await world.change_feed()(OWNER, cursor=start.next_cursor)

    assert changes.added == ()  # added then removed between two reads: only its removal
    assert [(t.id, t.amount.amount) for t in changes.modified] == [(edited.id, Decimal("21"))]
    assert [t.id for t in changes.removed] == [dropped.id]
    quiet = await world.change_feed()(OWNER, cursor=changes.next_cursor)
    assert (quiet.added, quiet.modified, quiet.removed) == ((), (), ())
    assert quiet.next_cursor == changes.next_cursor
    assert (await world.change_feed()(OTHER)).added == ()


async def test_the_change_feed_pages_with_has_more(world: AccountsWorld) -> None:
    box = await world.manual()
    for n in range(5):
        await world.entry(box, str(n))

    first = await world.change_feed()(OWNER, limit=3)
    second = await world.change_feed()(OWNER, cursor=first.next_cursor, limit=3)

    assert (len(first.added), first.has_more) == (3, True)
    assert (len(second.added), second.has_more) == (2, False)


async def test_a_malformed_feed_cursor_is_a_bad_request(world: AccountsWorld) -> None:
    with pytest.raises(BadRequest) as refused:
        await world.change_feed()(OWNER, cursor=TransactionPosition(T0, UUID(int=1)).encode(OWNER))

    assert refused.value.code == "invalid_cursor"


async def test_a_manual_entry_moves_the_balance_and_is_audited(world: AccountsWorld) -> None:
    box = await world.manual()

    entry = await world.entry(box, "125.40", description=" Salary ")
    await world.entry(box, "-25.15")

    assert await world.cash(box) == Decimal("100.25")
    assert entry.description == "Salary" and entry.amount.currency == Currency("USD")
    assert entry.provider_transaction_id == str(entry.id)
    assert world.actions()[-2:] == ["manual_transaction_created"] * 2


async def test_editing_and_deleting_entries_keeps_the_balance_their_sum(
    world: AccountsWorld,
) -> None:
    box = await world.manual()
    first = await world.entry(box, "100")
    second = await world.entry(box, "-30")
    world.clock.advance(hours(1))

    edited = await world.manual_transactions().update(
        OWNER, second.id, EntryChange(amount=Decimal("-45.50"), description="Groceries"), CALLER
    )
    await world.manual_transactions().delete(OWNER, first.id, CALLER)

    assert edited.amount.amount == Decimal("-45.50") and edited.description == "Groceries"
    assert edited.occurred_at == second.occurred_at and edited.updated_at == world.clock.now()
    assert await world.cash(box) == Decimal("-45.50")
    balance = (await world.get_balances()(OWNER, box.id)).balance
    assert balance is not None and balance.buying_power.amount == 0  # never below zero
    assert world.actions()[-2:] == ["manual_transaction_updated", "manual_transaction_deleted"]
    with pytest.raises(NotFound) as again:
        await world.manual_transactions().delete(OWNER, first.id, CALLER)
    assert again.value.code == "transaction_not_found"


async def test_a_full_width_symbol_is_the_instrument_typed_plainly(world: AccountsWorld) -> None:
    box = await world.manual()
    bought = await world.entry(
        box,
        "-10",
        activity=ActivityType.BUY,
        symbol="\uff41\uff41\uff50\uff4c",
        exchange="xnas",
        quantity=Decimal(1),
        price=Decimal(10),
    )

    assert bought.instrument is not None
    assert (bought.instrument.symbol, bought.instrument.exchange) == ("AAPL", "XNAS")


async def test_an_edit_that_changes_nothing_writes_nothing(world: AccountsWorld) -> None:
    """Not in the change feed (a mirror would re-read the row for nothing), not audited."""
    box = await world.manual()
    entry = await world.entry(box, "-30")
    feed = await world.change_feed()(OWNER)
    actions = world.actions()
    world.clock.advance(hours(1))

    same = await world.manual_transactions().update(
        OWNER, entry.id, EntryChange(amount=Decimal("-30.0")), CALLER
    )
    empty = await world.manual_transactions().update(OWNER, entry.id, EntryChange(), CALLER)

    assert same == empty == entry
    later = await world.change_feed()(OWNER, cursor=feed.next_cursor)
    assert (later.added, later.modified, later.removed) == ((), (), ())
    assert world.actions() == actions


async def test_an_edit_can_clear_the_instrument(world: AccountsWorld) -> None:
    box = await world.manual()
    bought = await world.entry(
        box,
        "-10",
        activity=ActivityType.BUY,
        symbol="AAPL",
        exchange="XNAS",
        quantity=Decimal(1),
        price=Decimal(10),
    )

    cleared = await world.manual_transactions().update(
        OWNER,
        bought.id,
        EntryChange(
            activity=ActivityType.OTHER, symbol=None, exchange=None, quantity=None, price=None
        ),
        CALLER,
    )

    assert bought.instrument is not None and bought.price is not None
    assert (cleared.instrument, cleared.quantity, cleared.price) == (None, None, None)


async def test_synced_transactions_are_read_only(world: AccountsWorld) -> None:
    account = await world.synced()
    (synced,) = await world.synced_transactions(account, [("T-1", day(1), "-5")])

    with pytest.raises(Conflict) as edit:
        await world.manual_transactions().update(
            OWNER, synced.id, EntryChange(amount=Decimal(1)), CALLER
        )
    with pytest.raises(Conflict) as delete:
        await world.manual_transactions().delete(OWNER, synced.id, CALLER)
    with pytest.raises(Conflict) as add:
        await world.entry(account, "5")

    assert edit.value.code == delete.value.code == "synced_transaction_read_only"
    assert add.value.code == "synced_account_read_only"
    assert world.actions() == []


async def test_another_users_entries_and_accounts_are_not_found(world: AccountsWorld) -> None:
    theirs = await world.manual(OTHER)
    entry = await world.entry(theirs, "7")
    mine = EntryInput(activity=ActivityType.DEPOSIT, occurred_at=T0, amount=Decimal(1))

    with pytest.raises(NotFound) as add:
        await world.manual_transactions().create(OWNER, theirs.id, mine, CALLER)
    with pytest.raises(NotFound) as edit:
        await world.manual_transactions().update(
            OWNER, entry.id, EntryChange(amount=Decimal(1)), CALLER
        )
    with pytest.raises(NotFound) as delete:
        await world.manual_transactions().delete(OWNER, entry.id, CALLER)

    assert add.value.code == "account_not_found"
    assert edit.value.code == delete.value.code == "transaction_not_found"
    assert await world.cash(theirs) == Decimal(7)


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"occurred_at": T0.replace(tzinfo=None)}, "occurred_at", "invalid_input"),
        ({"occurred_at": T0 + timedelta(days=367)}, "occurred_at", "implausible_date"),
        ({"occurred_at": datetime(1899, 12, 31, tzinfo=UTC)}, "occurred_at", "implausible_date"),
        ({"currency": Currency("EUR")}, "amount.currency", "currency_mismatch"),
        ({"amount": Decimal("NaN")}, "amount", "invalid_input"),
        ({"symbol": "AAPL"}, "exchange", "invalid_input"),
        ({"symbol": "AAPL", "exchange": "XNAS"}, "quantity", "invalid_input"),
        ({"price": Decimal(1)}, "price", "invalid_input"),
        ({"description": "a\nb"}, "description", "invalid_input"),
        ({"symbol": "AA\u202ePL", "exchange": "XNAS"}, "symbol", "invalid_input"),
        ({"symbol": "AAPL", "exchange": "XN AS"}, "exchange", "invalid_input"),
    ],
)
async def test_entries_are_validated_naming_the_field(
    world: AccountsWorld, fields: dict[str, object], field: str, code: str
) -> None:
    box = await world.manual()
    arguments: dict[str, object] = {
        "activity": ActivityType.DEPOSIT,
        "occurred_at": T0,
        "amount": Decimal("1.00"),
    }
    entry = EntryInput(**{**arguments, **fields})  # type: ignore[arg-type]

    with pytest.raises(InvalidInput) as refused:
        await world.manual_transactions().create(OWNER, box.id, entry, CALLER)

    assert (refused.value.errors[0].field, refused.value.code) == (field, code)
    assert await world.cash(box) == Decimal(0)


async def test_a_year_ahead_is_still_plausible(world: AccountsWorld) -> None:
    box = await world.manual()

    planned = await world.entry(box, "-900", at=T0 + timedelta(days=365))

    assert planned.occurred_at == T0 + timedelta(days=365)
