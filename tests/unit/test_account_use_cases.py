"""Reading aggregated accounts (owner-checked, keyset pages, visible freshness, totals per
currency) and keeping manual accounts, on the memory store with a fake clock."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

import pytest

from dashcore.application.transactions import EntryChange
from dashcore.domain.aggregation import SyncStatus, TransactionFilter, encode_key_cursor
from dashcore.domain.errors import BadRequest, Conflict, InvalidInput, NotFound
from dashcore.domain.money import Currency
from dashcore.domain.portfolio import AccountType
from tests.unit.accounts_world import CALLER, OTHER, OWNER, AccountsWorld
from tests.unit.aggregation_factories import hours


@pytest.fixture
def world() -> AccountsWorld:
    return AccountsWorld()


async def test_accounts_are_listed_in_creation_order_across_pages_each_once(
    world: AccountsWorld,
) -> None:
    created = [await world.synced(provider_account_id=f"ACC-{n}") for n in range(5)]
    created.append(await world.manual())
    await world.synced(OTHER, provider_account_id="ACC-X")

    seen: list[UUID] = []
    cursor = None
    while True:
        page = await world.list_accounts()(OWNER, cursor=cursor, limit=2)
        seen.extend(account.id for account in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert seen == [account.id for account in created]


@pytest.mark.parametrize(
    "cursor",
    [
        "not base64 !",
        encode_key_cursor("holdings", OWNER, "XNAS:AAPL"),
        encode_key_cursor("accounts", OWNER, "x"),
        encode_key_cursor("accounts", UUID(int=99), str(UUID(int=5))),
    ],
)
async def test_a_cursor_dashcore_did_not_make_for_accounts_is_a_bad_request(
    world: AccountsWorld, cursor: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        await world.list_accounts()(OWNER, cursor=cursor)

    assert refused.value.code == "invalid_cursor"
    assert refused.value.errors[0].field == "cursor"


@pytest.mark.parametrize("limit", [0, 501])
async def test_a_page_holds_one_to_five_hundred(world: AccountsWorld, limit: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        await world.list_accounts()(OWNER, limit=limit)

    assert refused.value.errors[0].field == "limit"


async def test_another_users_account_is_not_found_like_a_missing_one(world: AccountsWorld) -> None:
    theirs = await world.synced(OTHER)
    await world.holdings(theirs, ["AAPL"])

    for read in (
        world.get_account()(OWNER, theirs.id),
        world.get_balances()(OWNER, theirs.id),
        world.list_holdings()(OWNER, theirs.id),
        world.list_positions()(OWNER, theirs.id),
        world.get_account()(OWNER, UUID(int=7)),
    ):
        with pytest.raises(NotFound) as refused:
            await read
        assert refused.value.code == "account_not_found"


async def test_an_account_carries_its_freshness(world: AccountsWorld) -> None:
    account = await world.synced()
    world.clock.advance(hours(2))
    await world.save(account.sync_failed(world.clock.now()))

    read = await world.get_account()(OWNER, account.id)

    assert read.sync_status is SyncStatus.FAILED
    assert read.last_synced_at == account.last_synced_at  # the last success, two hours ago


async def test_balances_of_an_account_before_and_after_its_first_balance(
    world: AccountsWorld,
) -> None:
    account = await world.synced()

    assert (await world.get_balances()(OWNER, account.id)).balance is None

    await world.balance(account, "1500.25")
    read = await world.get_balances()(OWNER, account.id)

    assert read.account == account
    assert read.balance is not None and read.balance.cash.amount == Decimal("1500.25")


async def test_holdings_and_positions_page_by_instrument_key(world: AccountsWorld) -> None:
    account = await world.synced()
    await world.holdings(account, ["MSFT", "AAPL", "NVDA"])
    await world.positions(account, ["TSLA", "AMD"])

    first = await world.list_holdings()(OWNER, account.id, limit=2)
    rest = await world.list_holdings()(OWNER, account.id, cursor=first.next_cursor, limit=2)
    positions = await world.list_positions()(OWNER, account.id)

    assert [h.instrument.symbol for h in (*first.items, *rest.items)] == ["AAPL", "MSFT", "NVDA"]
    assert rest.next_cursor is None
    assert [p.instrument.symbol for p in positions.items] == ["AMD", "TSLA"]
    with pytest.raises(BadRequest):  # a holdings cursor is not a positions cursor
        await world.list_positions()(OWNER, account.id, cursor=first.next_cursor)


async def test_totals_are_per_currency_and_name_their_accounts_and_oldest_sync(
    world: AccountsWorld,
) -> None:
    early = await world.synced(provider_account_id="US-1")
    world.clock.advance(hours(3))
    late = await world.synced(provider_account_id="US-2")
    india = await world.synced(provider_account_id="IN-1", base_currency="INR")
    box = await world.manual()
    await world.entry(box, "20.00")
    await world.balance(early, "100.10")
    await world.balance(late, "50.05")
    await world.balance(india, "9000", "INR")
    theirs = await world.synced(OTHER, provider_account_id="US-9")
    await world.balance(theirs, "1000000")

    totals = await world.balance_totals()(OWNER)

    assert [t.total.currency for t in totals] == [Currency("INR"), Currency("USD")]
    inr, usd = totals
    assert inr.total.cash.amount == Decimal("9000") and [a.id for a in inr.accounts] == [india.id]
    assert usd.total.cash.amount == Decimal("170.15")
    assert {a.id for a in usd.accounts} == {early.id, late.id, box.id}
    assert usd.total.accounts == 3
    assert usd.oldest_synced_at == early.last_synced_at


async def test_a_closed_account_is_not_in_the_totals(world: AccountsWorld) -> None:
    kept = await world.synced(provider_account_id="ACC-1")
    gone = await world.synced(provider_account_id="ACC-2")
    await world.balance(kept, "10")
    await world.balance(gone, "99")
    await world.save(gone.closed(world.clock.now()))

    (usd,) = await world.balance_totals()(OWNER)

    assert usd.total.cash.amount == Decimal("10")
    assert [a.id for a in usd.accounts] == [kept.id]
    listed = await world.list_accounts()(OWNER)
    assert gone.id in {a.id for a in listed.items}  # still listed, with closed_at


async def test_no_balances_no_totals(world: AccountsWorld) -> None:
    await world.synced()

    assert await world.balance_totals()(OWNER) == ()


async def test_creating_a_manual_account_opens_it_at_zero_and_audits(
    world: AccountsWorld,
) -> None:
    account = await world.manual_accounts().create(
        OWNER,
        CALLER,
        name="  Piggy bank ",
        account_type=AccountType.CASH,
        base_currency=Currency("EUR"),
        last4="0042",
    )

    assert account.is_manual and account.name == "Piggy bank"
    assert account.masked_number == "****0042"
    assert account.sync_status is SyncStatus.NEVER and account.last_synced_at is None
    assert await world.cash(account) == Decimal(0)
    assert world.actions() == ["manual_account_created"]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"last4": "12345"}, "last4"),
        ({"last4": "12-4"}, "last4"),
    ],
)
async def test_manual_account_input_is_validated_naming_the_field(
    world: AccountsWorld, fields: dict[str, str], field: str
) -> None:
    arguments: dict[str, object] = {
        "name": "Box",
        "account_type": AccountType.CASH,
        "base_currency": Currency("USD"),
    }
    with pytest.raises(InvalidInput) as refused:
        await world.manual_accounts().create(OWNER, CALLER, **{**arguments, **fields})  # type: ignore[arg-type]

    assert refused.value.errors[0].field == field


async def test_updating_a_manual_account_changes_only_what_is_given(world: AccountsWorld) -> None:
    account = await world.manual()
    world.clock.advance(hours(1))

    updated = await world.manual_accounts().update(OWNER, account.id, CALLER, name="Wallet")

    assert updated.name == "Wallet"
    assert (updated.type, updated.base_currency) == (account.type, account.base_currency)
    assert updated.updated_at == world.clock.now()
    assert await world.get_account()(OWNER, account.id) == updated
    assert world.actions()[-1] == "manual_account_updated"


async def test_the_currency_of_a_manual_account_changes_only_while_it_is_empty(
    world: AccountsWorld,
) -> None:
    empty = await world.manual(name="Empty")
    used = await world.manual(name="Used")
    await world.entry(used, "5")

    moved = await world.manual_accounts().update(
        OWNER, empty.id, CALLER, base_currency=Currency("GBP")
    )
    with pytest.raises(Conflict) as refused:
        await world.manual_accounts().update(OWNER, used.id, CALLER, base_currency=Currency("GBP"))

    assert moved.base_currency == Currency("GBP")
    balance = (await world.get_balances()(OWNER, empty.id)).balance
    assert balance is not None and balance.cash.currency == Currency("GBP")
    assert refused.value.code == "account_currency_in_use"


async def test_a_synced_account_cannot_be_edited_or_deleted_by_hand(world: AccountsWorld) -> None:
    account = await world.synced()

    with pytest.raises(Conflict) as edit:
        await world.manual_accounts().update(OWNER, account.id, CALLER, name="Mine")
    with pytest.raises(Conflict) as delete:
        await world.manual_accounts().delete(OWNER, account.id, CALLER)

    assert edit.value.code == delete.value.code == "synced_account_read_only"
    assert world.actions() == []


async def test_deleting_a_manual_account_removes_it_and_its_transactions(
    world: AccountsWorld,
) -> None:
    account = await world.manual()
    first = await world.entry(account, "10")
    second = await world.entry(account, "-3")
    feed = await world.change_feed()(OWNER)

    await world.manual_accounts().delete(OWNER, account.id, CALLER)

    with pytest.raises(NotFound):
        await world.get_account()(OWNER, account.id)
    assert (await world.list_accounts()(OWNER)).items == ()
    after = await world.change_feed()(OWNER, cursor=feed.next_cursor)
    assert {t.id for t in after.removed} == {first.id, second.id}
    assert (await world.list_transactions()(OWNER, TransactionFilter())).items == ()
    assert world.actions()[-1] == "manual_account_deleted"
    with pytest.raises(NotFound) as again:
        await world.manual_accounts().delete(OWNER, account.id, CALLER)
    assert again.value.code == "account_not_found"
    with pytest.raises(NotFound):
        await world.manual_transactions().update(
            OWNER, first.id, EntryChange(amount=Decimal(1)), CALLER
        )


async def test_another_users_manual_account_cannot_be_changed(world: AccountsWorld) -> None:
    theirs = await world.manual(OTHER)

    with pytest.raises(NotFound) as edit:
        await world.manual_accounts().update(OWNER, theirs.id, CALLER, name="Mine")
    with pytest.raises(NotFound) as delete:
        await world.manual_accounts().delete(OWNER, theirs.id, CALLER)

    assert edit.value.code == delete.value.code == "account_not_found"
    assert (await world.get_account()(OTHER, theirs.id)).name == "Cash box"
