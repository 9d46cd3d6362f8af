"""Orders over HTTP on PostgreSQL + Redis, against the Upstox sandbox connected through the real
flow (issue #8; security.md ORD-1..3, c.2).

Each test signs a user up, connects Upstox with trading allowed, and places orders on INFY (NSE,
last price 1500.00, tick 0.05): a limit buy below the market stays open, so it can be modified
and cancelled. What reached the broker is read from the sandbox's exchange. Time is the app's
FakeClock (shared by the sandboxes): a stale sign-in and the reconciler's grace period are
reached by moving it. Reconciliation runs as the ``reconcile_orders`` job, taken from the Redis
queue by a worker running on the app's container.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest

from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import SYSTEM
from dashcore.domain.jobs import JobStatus
from dashcore.ports.jobs import JobQueue
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID, SimOrder
from dashcore_brokers.sandbox.upstox import UPSTOX_USER
from dashcore_brokers.sandbox.upstox.render import order_id as upstox_id
from dashcore_worker.runner import run_worker
from tests.integration.accounts_support import every_item, request_sync, run_sync
from tests.integration.identity.conftest import Backend, Served, postgres_redis_backend, served
from tests.integration.identity.support import API, Account, ClockedMailbox, log_in
from tests.integration.providers.conftest import sandboxes
from tests.integration.providers.support import consent, land, problem_code, signed_up

__all__ = ["sandboxes", "served"]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

ORDERS = f"{API}/orders"
FAULTS = "/sandbox/upstox/__sandbox__/faults"
ACCOUNT = UPSTOX_USER.user_id
RECONCILE_GRACE = 60
ADMIN_PASSWORD = "the administrator's own long passphrase"
_JSON = {"Content-Type": "application/json"}


@pytest.fixture
def backend(request: pytest.FixtureRequest, memory_settings: Settings) -> Backend:
    return postgres_redis_backend(request, memory_settings)


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


@dataclass(frozen=True, slots=True)
class Trader:
    """A signed-in user with Upstox connected for trading."""

    client: httpx.AsyncClient
    account: Account
    connection_id: str

    def order(self, **changes: Any) -> dict[str, Any]:
        """A limit buy of 10 INFY at 1400.00 (below the market: it stays open)."""
        body: dict[str, Any] = {
            "connection_id": self.connection_id,
            "account_id": ACCOUNT,
            "symbol": "INFY",
            "exchange": "NSE",
            "side": "buy",
            "type": "limit",
            "quantity": "10",
            "limit_price": "1400.00",
        }
        body.update(changes)
        return {name: value for name, value in body.items() if value is not None}

    async def place(self, body: dict[str, Any], key: str | None = "key-1") -> httpx.Response:
        headers = dict(self.account.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        return await self.client.post(ORDERS, json=body, headers=headers)

    async def get(self, order_id: str) -> httpx.Response:
        return await self.client.get(f"{ORDERS}/{order_id}", headers=self.account.headers)


async def connect_for_trading(served: Served, mailbox: ClockedMailbox, email: str) -> Trader:
    client = served.client
    account = await signed_up(served, mailbox, email)
    created = await client.post(
        f"{API}/providers", json={"provider": "upstox", "trade": True}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    connection_id = str(created.json()["id"])
    landed = await land(client, account, await consent(client, account, connection_id))
    assert landed.json()["connected"] is True, landed.text
    return Trader(client, account, connection_id)


@pytest.fixture
async def trader(served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes) -> Trader:
    return await connect_for_trading(served, mailbox, "trader@example.com")


def at_the_broker(sandboxes: BrokerSandboxes) -> list[SimOrder]:
    """Every order the Upstox sandbox's exchange holds for the test account."""
    return sandboxes.apps["upstox"].exchange.orders(INDIA_ACCOUNT_ID)


WORKER_STOP_SECONDS = 20
"""How long a test waits for its in-process worker to stop (it takes well under a second)."""


@pytest.fixture
async def worker(served: Served, backend: Backend) -> AsyncIterator[JobQueue]:
    """A worker taking jobs from the app's Redis queue, on the app's container (the same
    sandboxes and clock); the queue to enqueue on."""
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_worker(served.core, backend.settings, stop=stop, concurrency=1, scheduler=False)
    )
    try:
        yield await served.core.get(JobQueue)
    finally:
        stop.set()
        # Bounded, so a test's teardown can never hang the suite: a stop that lost its queue
        # read once waited forever (dashcore_taskiq.streams now gives every read a timeout).
        done, _ = await asyncio.wait({running}, timeout=WORKER_STOP_SECONDS)
        if not done:
            running.cancel()
            await asyncio.wait({running}, timeout=5)
            pytest.fail(f"the in-process worker did not stop within {WORKER_STOP_SECONDS} s")


async def run_job(queue: JobQueue, task: str) -> None:
    """Enqueue ``task`` and wait until the worker has run it successfully."""
    job_id = await queue.enqueue(task)
    async with asyncio.timeout(10):
        while True:  # the status lives in Redis: read it until the worker is done
            state = await queue.status(job_id)
            if state.status.is_final:
                break
            await asyncio.sleep(0.02)
    assert state.status is JobStatus.SUCCEEDED, state.error


# -- placing -------------------------------------------------------------------------------------


async def test_an_order_is_placed_once_and_read_back(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    placed = await trader.place(trader.order())
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert placed.headers["location"] == f"{ORDERS}/{order['id']}"
    assert "idempotent-replayed" not in placed.headers
    assert order["status"] == "open"
    assert (order["quantity"], order["limit_price"], order["filled_quantity"]) == (
        "10",
        "1400.00",
        "0",
    )
    assert order["instrument"]["symbol"] == "INFY"
    [sent] = at_the_broker(sandboxes)
    assert (upstox_id(sent), sent.tag, sent.quantity, sent.price) == (
        order["broker_order_id"],
        order["client_reference"],
        Decimal(10),
        Decimal("1400.00"),
    )
    read = await trader.get(order["id"])
    assert read.status_code == 200
    assert read.json() == order
    listed = await trader.client.get(ORDERS, headers=trader.account.headers)
    assert listed.json() == {"items": [order], "next_cursor": None}


async def test_a_symbol_and_exchange_in_lower_case_name_the_same_instrument(
    trader: Trader,
) -> None:
    """As /trades and /quotes read them (found by QA: /orders refused "infy")."""
    placed = await trader.place(trader.order(symbol=" infy", exchange="nse "))
    assert placed.status_code == 201, placed.text
    instrument = placed.json()["instrument"]
    assert (instrument["symbol"], instrument["exchange"]) == ("INFY", "NSE")
    listed = await trader.client.get(
        ORDERS, params={"symbol": "infy"}, headers=trader.account.headers
    )
    assert [order["id"] for order in listed.json()["items"]] == [placed.json()["id"]]


async def test_a_replay_answers_with_the_same_order_and_sends_nothing(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    first = await trader.place(trader.order())
    again = await trader.place(trader.order(quantity="10.00"))  # the same number
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert len(at_the_broker(sandboxes)) == 1


async def test_the_same_key_with_another_order_is_refused(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    await trader.place(trader.order())
    refused = await trader.place(trader.order(quantity="11"))
    assert refused.status_code == 422, refused.text
    assert problem_code(refused) == "idempotency_key_reused"
    assert [e["field"] for e in refused.json()["errors"]] == ["Idempotency-Key"]
    assert len(at_the_broker(sandboxes)) == 1


async def test_concurrent_duplicates_place_one_order(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    answers = await asyncio.gather(*(trader.place(trader.order()) for _ in range(2)))
    assert len(at_the_broker(sandboxes)) == 1
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses in ([201, 201], [201, 409]), [a.text for a in answers]
    ids = {answer.json()["id"] for answer in answers if answer.status_code == 201}
    assert len(ids) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert problem_code(answer) == "order_in_flight"
    settled = await trader.place(trader.order())
    assert settled.status_code == 201
    assert settled.json()["id"] in ids
    assert len(at_the_broker(sandboxes)) == 1


async def test_keys_are_per_user(
    served: Served, mailbox: ClockedMailbox, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    other = await connect_for_trading(served, mailbox, "other-trader@example.com")
    mine = await trader.place(trader.order(), key="shared")
    theirs = await other.place(other.order(), key="shared")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert len(at_the_broker(sandboxes)) == 2


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", [None, b"", b"x" * 256, b"tab\there", b"new\x7fline", "ключ".encode()]
)
async def test_a_missing_or_malformed_idempotency_key_is_400(
    trader: Trader, sandboxes: BrokerSandboxes, key: bytes | None
) -> None:
    headers: list[tuple[str, str | bytes]] = [*trader.account.headers.items(), *_JSON.items()]
    if key is not None:
        headers.append(("Idempotency-Key", key))
    refused = await trader.client.post(ORDERS, content=json.dumps(trader.order()), headers=headers)
    assert refused.status_code == 400, refused.text
    assert problem_code(refused) == "idempotency_key_required"
    assert [e["field"] for e in refused.json()["errors"]] == ["Idempotency-Key"]
    assert at_the_broker(sandboxes) == []


async def test_two_idempotency_keys_are_400(trader: Trader) -> None:
    headers = [
        *trader.account.headers.items(),
        ("Idempotency-Key", "a"),
        ("Idempotency-Key", "b"),
        *_JSON.items(),
    ]
    refused = await trader.client.post(ORDERS, content=json.dumps(trader.order()), headers=headers)
    assert refused.status_code == 400
    assert problem_code(refused) == "idempotency_key_required"


async def test_a_json_number_for_a_quantity_or_price_is_400_naming_it(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    refused = await trader.place(trader.order(quantity=10, limit_price=1400.5))
    assert refused.status_code == 400, refused.text
    assert problem_code(refused) == "amount_not_string"
    assert [e["field"] for e in refused.json()["errors"]] == ["quantity", "limit_price"]
    assert at_the_broker(sandboxes) == []


@pytest.mark.parametrize(
    ("changes", "fields"),
    [
        ({"quantity": "0"}, ["quantity"]),
        ({"quantity": "-1", "limit_price": "1400.03"}, ["quantity", "limit_price"]),
        ({"quantity": "1.5"}, ["quantity"]),
        ({"limit_price": None}, ["limit_price"]),
        ({"type": "market"}, ["limit_price"]),
        ({"symbol": "NOSUCH"}, ["instrument"]),
        ({"validity": "gtc"}, ["validity"]),
        ({"quantity": "NaN", "limit_price": "1e"}, ["quantity", "limit_price"]),
        ({"quantity": "1e309"}, ["quantity"]),
        ({"quantity": "1e999999999", "limit_price": "1e-999999999"}, ["quantity", "limit_price"]),
    ],
)
async def test_an_order_that_cannot_be_placed_is_422_naming_each_field(
    trader: Trader, sandboxes: BrokerSandboxes, changes: dict[str, Any], fields: list[str]
) -> None:
    refused = await trader.place(trader.order(**changes))
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == fields
    assert at_the_broker(sandboxes) == []
    listed = await trader.client.get(ORDERS, headers=trader.account.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "extra", [{"status": "filled"}, {"user_id": "x"}, {"broker_order_id": "1"}]
)
async def test_fields_the_server_decides_are_refused(
    trader: Trader, sandboxes: BrokerSandboxes, extra: dict[str, str]
) -> None:
    refused = await trader.place({**trader.order(), **extra})
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == [next(iter(extra))]
    assert at_the_broker(sandboxes) == []


async def test_a_stale_sign_in_needs_step_up_above_the_order_value_limit(
    trader: Trader, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    mailbox.clock.advance(seconds=301)
    big = await trader.place(trader.order(quantity="400"), key="big")  # 560,000 INR
    assert big.status_code == 401, big.text
    assert problem_code(big) == "step_up_required"
    small = await trader.place(trader.order(), key="small")
    assert small.status_code == 201, small.text
    assert len(at_the_broker(sandboxes)) == 1


async def test_a_read_only_connection_cannot_trade(
    served: Served, mailbox: ClockedMailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "reader@example.com")
    created = await client.post(
        f"{API}/providers", json={"provider": "upstox"}, headers=account.headers
    )
    connection_id = str(created.json()["id"])
    await land(client, account, await consent(client, account, connection_id))
    reader = Trader(client, account, connection_id)
    refused = await reader.place(reader.order())
    assert refused.status_code == 403, refused.text
    assert problem_code(refused) == "connection_cannot_trade"
    assert at_the_broker(sandboxes) == []


# -- a lost answer -------------------------------------------------------------------------------


async def test_a_timeout_after_acceptance_is_unknown_then_reconciled_never_resent(
    trader: Trader,
    mailbox: ClockedMailbox,
    sandboxes: BrokerSandboxes,
    worker: JobQueue,
) -> None:
    fault = {"path": "/v3/order/place", "method": "POST", "kind": "timeout_after_accept"}
    armed = await trader.client.post(FAULTS, json={**fault, "seconds": 0})
    assert armed.status_code == 201, armed.text

    placed = await trader.place(trader.order())
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert (order["status"], order["broker_order_id"]) == ("unknown", None)
    assert order["last_error"]["code"] == "order_state_unknown"
    [sent] = at_the_broker(sandboxes)
    assert sent.tag == order["client_reference"]

    retried = await trader.place(trader.order())  # the client's retry after a 202
    assert retried.status_code == 202
    assert retried.json()["id"] == order["id"]

    await run_job(worker, "reconcile_orders")  # within the grace period: left alone
    assert (await trader.get(order["id"])).json()["status"] == "unknown"

    mailbox.clock.advance(seconds=RECONCILE_GRACE + 1)
    await run_job(worker, "reconcile_orders")
    settled = (await trader.get(order["id"])).json()
    assert settled["status"] in ("submitted", "open"), settled
    assert settled["broker_order_id"] == upstox_id(sent)
    assert at_the_broker(sandboxes) == [sent]

    replayed = await trader.place(trader.order())
    assert replayed.status_code == 201
    assert replayed.json() == settled
    assert len(at_the_broker(sandboxes)) == 1


# -- changing an order ---------------------------------------------------------------------------


async def test_an_open_order_is_modified(trader: Trader, sandboxes: BrokerSandboxes) -> None:
    order = (await trader.place(trader.order())).json()
    changed = await trader.client.patch(
        f"{ORDERS}/{order['id']}",
        json={"quantity": "12", "limit_price": "1405.50"},
        headers=trader.account.headers,
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["quantity"], changed.json()["limit_price"]) == ("12", "1405.50")
    [sent] = at_the_broker(sandboxes)
    assert (sent.quantity, sent.price) == (Decimal(12), Decimal("1405.50"))
    assert (await trader.get(order["id"])).json() == changed.json()


async def test_a_modification_moves_updated_at(trader: Trader, mailbox: ClockedMailbox) -> None:
    order = (await trader.place(trader.order())).json()
    mailbox.clock.advance(seconds=5)
    changed = await trader.client.patch(
        f"{ORDERS}/{order['id']}", json={"quantity": "12"}, headers=trader.account.headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["updated_at"] > order["updated_at"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"limit_price": 1405.5}, 400, "amount_not_string"),
        ({}, 422, "invalid_input"),
        ({"limit_price": "1405.03"}, 422, "invalid_input"),
        ({"status": "filled"}, 422, "invalid_input"),
    ],
)
async def test_a_bad_modification_changes_nothing(
    trader: Trader, sandboxes: BrokerSandboxes, body: dict[str, Any], status: int, code: str
) -> None:
    order = (await trader.place(trader.order())).json()
    refused = await trader.client.patch(
        f"{ORDERS}/{order['id']}", json=body, headers=trader.account.headers
    )
    assert refused.status_code == status, refused.text
    assert problem_code(refused) == code
    [sent] = at_the_broker(sandboxes)
    assert sent.price == Decimal("1400.00")
    assert (await trader.get(order["id"])).json() == order


async def test_an_open_order_is_cancelled_once(trader: Trader, sandboxes: BrokerSandboxes) -> None:
    order = (await trader.place(trader.order())).json()
    cancelled = await trader.client.delete(
        f"{ORDERS}/{order['id']}", headers=trader.account.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    [sent] = at_the_broker(sandboxes)
    assert sent.status.value.lower() == "cancelled"
    again = await trader.client.delete(f"{ORDERS}/{order['id']}", headers=trader.account.headers)
    assert again.status_code == 409
    assert problem_code(again) == "order_not_changeable"


async def test_an_order_whose_connection_was_disconnected_cannot_be_changed(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    order = (await trader.place(trader.order())).json()
    gone = await trader.client.delete(
        f"{API}/providers/{trader.connection_id}/authorization", headers=trader.account.headers
    )
    assert gone.status_code == 204, gone.text

    for method, body in (("PATCH", {"quantity": "2"}), ("DELETE", None)):
        refused = await trader.client.request(
            method, f"{ORDERS}/{order['id']}", json=body, headers=trader.account.headers
        )
        assert refused.status_code == 409, refused.text
        assert problem_code(refused) == "connection_not_usable"
    [still_open] = at_the_broker(sandboxes)
    assert (still_open.status.value.lower(), still_open.quantity) == ("open", Decimal(10))


async def test_a_filled_order_can_be_neither_modified_nor_cancelled(trader: Trader) -> None:
    filled = await trader.place(trader.order(type="market", quantity="1", limit_price=None))
    assert filled.status_code == 201, filled.text
    order = filled.json()
    assert (order["status"], order["filled_quantity"]) == ("filled", "1")
    for method, body in (("PATCH", {"quantity": "2"}), ("DELETE", None)):
        refused = await trader.client.request(
            method, f"{ORDERS}/{order['id']}", json=body, headers=trader.account.headers
        )
        assert refused.status_code == 409, refused.text
        assert problem_code(refused) == "order_not_changeable"


async def test_an_order_that_filled_meanwhile_is_409_and_reads_filled_at_once(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    """Found by QA: the broker's refusal came back (Kite's as a 422), and the order still
    read ``open`` until the next poll."""
    order = (await trader.place(trader.order())).json()
    assert order["status"] == "open"
    sandboxes.apps["upstox"].exchange.set_price("INFY", Decimal("1399.00"))
    refused = await trader.client.patch(
        f"{ORDERS}/{order['id']}", json={"quantity": "12"}, headers=trader.account.headers
    )
    assert refused.status_code == 409, refused.text
    assert problem_code(refused) == "order_not_open"
    now = (await trader.get(order["id"])).json()
    assert (now["status"], now["filled_quantity"], now["quantity"]) == ("filled", "10", "10")


# -- reading -------------------------------------------------------------------------------------


async def test_another_users_order_is_404_everywhere(
    served: Served, mailbox: ClockedMailbox, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    order = (await trader.place(trader.order())).json()
    other = await connect_for_trading(served, mailbox, "nosy@example.com")
    for method, body in (("GET", None), ("PATCH", {"quantity": "1"}), ("DELETE", None)):
        response = await other.client.request(
            method, f"{ORDERS}/{order['id']}", json=body, headers=other.account.headers
        )
        assert response.status_code == 404, (method, response.text)
        assert problem_code(response) == "order_not_found"
    listed = await other.client.get(ORDERS, headers=other.account.headers)
    assert listed.json() == {"items": [], "next_cursor": None}
    through_theirs = await other.place(trader.order())  # the owner's connection id
    assert through_theirs.status_code == 404
    assert problem_code(through_theirs) == "connection_not_found"
    [sent] = at_the_broker(sandboxes)
    assert sent.status.value.lower() == "open"


async def test_listings_filter_and_page(trader: Trader, mailbox: ClockedMailbox) -> None:
    ids = []
    for number, symbol in enumerate(("INFY", "TCS", "INFY")):
        price = "1400.00" if symbol == "INFY" else "3400.00"
        placed = await trader.place(
            trader.order(symbol=symbol, limit_price=price), key=f"list-{number}"
        )
        assert placed.status_code == 201, placed.text
        ids.append(placed.json()["id"])
        mailbox.clock.advance(seconds=1)
    await trader.client.delete(f"{ORDERS}/{ids[0]}", headers=trader.account.headers)

    async def listed(**query: Any) -> list[str]:
        found: list[str] = []
        cursor = None
        while True:
            params = {**query, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = await trader.client.get(ORDERS, params=params, headers=trader.account.headers)
            assert page.status_code == 200, page.text
            found += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return found

    assert await listed() == ids[::-1]
    assert await listed(symbol="INFY") == [ids[2], ids[0]]
    assert await listed(status=["open"]) == [ids[2], ids[1]]
    assert await listed(status=["cancelled", "filled"]) == [ids[0]]
    assert await listed(connection_id=trader.connection_id, side="buy") == ids[::-1]
    assert await listed(side="sell") == []
    assert await listed(account_id=ACCOUNT) == ids[::-1]
    assert await listed(account_id=ACCOUNT, symbol="TCS") == [ids[1]]
    assert await listed(account_id=f"{ACCOUNT}-OTHER") == []
    assert await listed(account_id="' OR 1=1--") == []
    first = (await trader.get(ids[0])).json()["created_at"]
    last = (await trader.get(ids[2])).json()["created_at"]
    assert await listed(since=first, until=last) == [ids[1], ids[0]]
    for bad in (
        {"status": "done"},
        {"status": "open' OR 1=1--"},
        {"cursor": "garbage"},
        {"since": "yesterday"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-1"},
        {"limit": "1e9"},
        {"side": "both"},
        {"connection_id": "not-a-uuid"},
        {"account_id": ""},
        {"account_id": "A" * 65},
    ):
        refused = await trader.client.get(ORDERS, params=bad, headers=trader.account.headers)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == list(bad), refused.text
    for since, until in ((last, first), (first, first)):  # an empty range is a mistake
        refused = await trader.client.get(
            ORDERS, params={"since": since, "until": until}, headers=trader.account.headers
        )
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["until"]


async def test_the_account_id_of_an_order_comes_from_the_synced_accounts(
    served: Served, trader: Trader
) -> None:
    """The journey a client follows: sync the connection, read its accounts, place the order on
    the one it picks by ``provider_account_id``, then list that account's orders."""
    run = await request_sync(served, trader.account, trader.connection_id)
    assert (await run_sync(served, trader.account, run["id"]))["status"] == "succeeded"
    accounts = await every_item(served.client, trader.account, "/accounts")
    [upstox] = [a for a in accounts if a["connection_id"] == trader.connection_id]
    assert upstox["provider_account_id"] == ACCOUNT
    placed = await trader.place(trader.order(account_id=upstox["provider_account_id"]))
    assert placed.status_code == 201, placed.text
    assert placed.json()["account_id"] == ACCOUNT
    listed = await trader.client.get(
        ORDERS, params={"account_id": ACCOUNT}, headers=trader.account.headers
    )
    assert [o["id"] for o in listed.json()["items"]] == [placed.json()["id"]]


# -- preview -------------------------------------------------------------------------------------


async def test_a_preview_estimates_and_sends_nothing(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    previewed = await trader.client.post(
        f"{ORDERS}/preview", json=trader.order(), headers=trader.account.headers
    )
    assert previewed.status_code == 200, previewed.text
    preview = previewed.json()
    assert preview["valid"] is True
    assert preview["problems"] == []
    assert preview["estimated_cost"] == {"amount": "14000.00", "currency": "INR"}
    assert preview["estimated_charges"]["currency"] == "INR"
    assert Decimal(preview["projected_position"]) == Decimal(30)  # 20 held + 10
    assert preview["projected_cash"]["currency"] == "INR"
    assert at_the_broker(sandboxes) == []

    invalid = await trader.client.post(
        f"{ORDERS}/preview",
        json=trader.order(quantity="0", limit_price="1400.03"),
        headers=trader.account.headers,
    )
    assert invalid.status_code == 200, invalid.text
    assert invalid.json()["valid"] is False
    assert [p["field"] for p in invalid.json()["problems"]] == ["quantity", "limit_price"]


# -- order limits (security.md ORD-3) -------------------------------------------------------------


async def admin_of(served: Served, email: str = "root@example.com") -> Account:
    """An administrator, signed in."""
    async with served.core() as scope:
        create_admin = await scope.get(CreateAdmin)
        await create_admin(email, ADMIN_PASSWORD, SYSTEM)
    return await log_in(served.client, email, ADMIN_PASSWORD)


async def user_id_of(trader: Trader) -> str:
    me = await trader.client.get(f"{API}/auth/me", headers=trader.account.headers)
    return str(me.json()["id"])


async def set_limits(served: Served, admin: Account, user_id: str, **limits: str) -> None:
    response = await served.client.put(
        f"{API}/admin/users/{user_id}/order-limits",
        json={"limits": [{"currency": "INR", **limits}]},
        headers=admin.headers,
    )
    assert response.status_code == 200, response.text


async def test_an_order_above_the_users_limit_is_refused_until_an_admin_raises_it(
    served: Served, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    admin = await admin_of(served)
    user_id = await user_id_of(trader)
    await set_limits(served, admin, user_id, max_order_value="10000")

    refused = await trader.place(trader.order(), key="limited")  # 10 x 1400 = 14,000 INR
    assert refused.status_code == 422, refused.text
    assert problem_code(refused) == "order_limit_exceeded"
    assert refused.json()["order_limit"] == {
        "name": "max_order_value",
        "currency": "INR",
        "limit": "10000",
        "requested": "14000.00",
    }
    assert [e["field"] for e in refused.json()["errors"]] == ["quantity"]
    assert at_the_broker(sandboxes) == []

    await set_limits(served, admin, user_id, max_order_value="20000")
    placed = await trader.place(trader.order(), key="limited")  # the same key goes through
    assert placed.status_code == 201, placed.text
    assert "Idempotent-Replayed" not in placed.headers
    assert len(at_the_broker(sandboxes)) == 1

    grown = await trader.client.patch(
        f"{ORDERS}/{placed.json()['id']}", json={"quantity": "15"}, headers=trader.account.headers
    )  # 15 x 1400 = 21,000 INR
    assert grown.status_code == 422, grown.text
    assert problem_code(grown) == "order_limit_exceeded"
    assert (await trader.get(placed.json()["id"])).json()["quantity"] == "10"


async def test_the_default_daily_limit_counts_the_days_orders(
    served: Served, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    admin = await admin_of(served)
    await set_limits(served, admin, await user_id_of(trader), max_daily_value="30000")
    for key in ("first", "second"):  # 14,000 INR each
        assert (await trader.place(trader.order(), key=key)).status_code == 201
    third = await trader.place(trader.order(), key="third")
    assert third.status_code == 422, third.text
    assert third.json()["order_limit"]["name"] == "max_daily_value"
    assert third.json()["order_limit"]["requested"] == "42000.00"
    preview = await trader.client.post(
        f"{ORDERS}/preview", json=trader.order(), headers=trader.account.headers
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["valid"] is False
    assert [p["field"] for p in preview.json()["problems"]] == ["quantity"]
    assert "max_daily_value" in preview.json()["problems"][0]["message"]
    assert len(at_the_broker(sandboxes)) == 2


async def test_concurrent_placements_cannot_pass_the_daily_limit_together(
    served: Served, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    """A runaway client firing orders in parallel: each placement reads the day's total only
    once the one before it has written its order, so of three 14,000 INR orders under a
    30,000 INR day exactly two go through."""
    admin = await admin_of(served)
    await set_limits(served, admin, await user_id_of(trader), max_daily_value="30000")
    answers = await asyncio.gather(
        *(trader.place(trader.order(), key=f"burst-{n}") for n in range(3))
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 422], [a.text for a in answers]
    [refused] = [a for a in answers if a.status_code == 422]
    assert refused.json()["order_limit"]["requested"] == "42000.00"
    assert len(at_the_broker(sandboxes)) == 2


async def test_a_modification_and_a_placement_at_once_cannot_pass_the_daily_limit_together(
    served: Served, trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    """An order of 14,000 INR grown to 21,000 while another of 14,000 is placed, under a
    30,000 INR day: whichever is checked second sees the first's value (the modification
    holds its room from its check until the broker's answer is saved), so one is refused."""
    admin = await admin_of(served)
    await set_limits(served, admin, await user_id_of(trader), max_daily_value="30000")
    first = await trader.place(trader.order(), key="first")
    assert first.status_code == 201, first.text
    grown, placed = await asyncio.gather(
        trader.client.patch(
            f"{ORDERS}/{first.json()['id']}",
            json={"quantity": "15"},
            headers=trader.account.headers,
        ),
        trader.place(trader.order(), key="second"),
    )
    outcomes = (grown.status_code, placed.status_code)
    assert outcomes in ((200, 422), (422, 201)), (grown.text, placed.text)  # either goes first
    [refused] = [a for a in (grown, placed) if a.status_code == 422]
    assert refused.json()["order_limit"]["requested"] == "35000.00"
    held = sum(o.quantity * 1400 for o in at_the_broker(sandboxes) if o.is_open)
    assert held <= 30_000


async def test_only_admins_set_limits_and_users_read_their_own(
    served: Served, trader: Trader
) -> None:
    user_id = await user_id_of(trader)
    forbidden = await trader.client.put(
        f"{API}/admin/users/{user_id}/order-limits",
        json={"limits": [{"currency": "INR", "max_order_value": "99999999"}]},
        headers=trader.account.headers,
    )
    assert forbidden.status_code == 403, forbidden.text
    assert problem_code(forbidden) == "admin_required"
    read = await trader.client.get(f"{ORDERS}/limits", headers=trader.account.headers)
    assert read.status_code == 200, read.text
    assert read.json()["own"] == []
    defaults = {item["currency"]: item for item in read.json()["effective"]}
    assert defaults["INR"] == {
        "currency": "INR",
        "max_order_value": "1000000",
        "max_order_quantity": "100000",
        "max_daily_value": "5000000",
    }

    admin = await admin_of(served)
    await set_limits(served, admin, user_id, max_order_quantity="50")
    read = await trader.client.get(f"{ORDERS}/limits", headers=trader.account.headers)
    effective = {item["currency"]: item for item in read.json()["effective"]}
    assert effective["INR"]["max_order_quantity"] == "50"
    assert effective["INR"]["max_order_value"] == "1000000"
    assert read.json()["own"] == [
        {
            "currency": "INR",
            "max_order_value": None,
            "max_order_quantity": "50",
            "max_daily_value": None,
        }
    ]
    seen = await served.client.get(
        f"{API}/admin/users/{user_id}/order-limits", headers=admin.headers
    )
    assert seen.json() == read.json()
    twice = await served.client.put(
        f"{API}/admin/users/{user_id}/order-limits",
        json={"limits": [{"currency": "INR"}, {"currency": "INR"}]},
        headers=admin.headers,
    )
    assert twice.status_code == 422, twice.text
    assert [e["field"] for e in twice.json()["errors"]] == ["limits[1].currency"]
    for item in ({"currency": "XXX", "max_order_value": "1"}, {"max_order_value": "1"}):
        refused = await served.client.put(
            f"{API}/admin/users/{user_id}/order-limits",
            json={"limits": [{"currency": "INR"}, item]},
            headers=admin.headers,
        )
        assert refused.status_code == 422, refused.text
        fields = [e["field"] for e in refused.json()["errors"]]
        assert fields == ["limits[1].currency"], refused.text


async def test_a_user_lowers_their_own_limit_but_cannot_raise_it(
    trader: Trader, sandboxes: BrokerSandboxes
) -> None:
    mine = f"{ORDERS}/limits"
    lowered = await trader.client.put(
        mine,
        json={"limits": [{"currency": "INR", "max_order_value": "10000"}]},
        headers=trader.account.headers,
    )
    assert lowered.status_code == 200, lowered.text
    effective = {item["currency"]: item for item in lowered.json()["effective"]}
    assert effective["INR"]["max_order_value"] == "10000"
    assert effective["INR"]["max_daily_value"] == "5000000"  # left out: as it was
    refused = await trader.place(trader.order())  # 14,000 INR
    assert problem_code(refused) == "order_limit_exceeded"

    raised = await trader.client.put(
        mine,
        json={"limits": [{"currency": "INR", "max_order_value": "20000"}]},
        headers=trader.account.headers,
    )
    assert raised.status_code == 403, raised.text
    assert problem_code(raised) == "order_limit_raise_needs_admin"
    assert at_the_broker(sandboxes) == []
