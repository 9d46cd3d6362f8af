"""The broker contract: what every broker adapter must do for the rest of dashcore to work.

An adapter author subclasses :class:`BrokerContract` in a test module and supplies three
fixtures; every test of the contract then runs against the adapter::

    class TestAcmeBroker(BrokerContract):
        @pytest.fixture
        def gateway(self) -> BrokerGateway: ...            # the adapter under test
        @pytest.fixture
        async def credentials(self, ...) -> ProviderCredentials: ...   # a working login
        @pytest.fixture
        def control(self, ...) -> SandboxControl: ...      # the sandbox's remote control

The contract checks behaviour, not shape: complete and repeatable pagination, exact Decimal
money and UTC times in everything returned, a total and truthful status mapping, only the
lifecycle moves :func:`~dashcore.domain.orders.can_transition` allows (a hypothesis state
machine over place / modify / cancel / price moves), dead credentials surfacing as
``ReauthRequired`` everywhere, declared capabilities that work and undeclared ones refused with
``NotSupported`` before the broker is contacted, and orders found again by their client
reference, also after the answer to a placement was lost. Each failure says what is wrong.

Every session is opened the way sync opens it, ``gateway.session(credentials,
recorder=...)``: an adapter whose ``session`` does not take the ``recorder`` keyword fails
every test at once, instead of every sync in production.

Tests are ``async`` (pytest-asyncio; the class is marked ``asyncio``). Class attributes tune the
cost: ``listing_size`` items are seeded per listing (more than the adapter's page size), the
lifecycle runs ``lifecycle_examples`` runs of up to ``lifecycle_steps`` steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import pytest

from dashcore.domain.capabilities import ClientReference, Operation
from dashcore.domain.connections import ProviderCredentials
from dashcore.domain.errors import NotSupported, OrderStateUnknown, ReauthRequired
from dashcore.domain.money import Money
from dashcore.domain.orders import (
    Order,
    OrderRequest,
    OrderStatus,
    OrderType,
    Product,
    Validity,
)
from dashcore.domain.portfolio import Account, Balance, Page
from dashcore.ports.brokers import BrokerGateway, BrokerSession, PayloadRecorder
from dashcore.testing.control import SandboxControl
from dashcore.testing.desk import Desk
from dashcore.testing.inspection import inexact_values, read_listing
from dashcore.testing.lifecycle import OrderWatch, status_problems
from dashcore.testing.stateful import run_lifecycle

__all__ = ["BrokerContract", "RecordedPayloads"]

_ACCEPTED_ON_PLACE = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN})
_AFTER_CANCEL = frozenset({OrderStatus.CANCEL_REQUESTED, OrderStatus.CANCELLED})
# Operations tried in this order, so that the order they act on is cancelled last.
_OPERATION_ORDER = (
    Operation.ACCOUNTS,
    Operation.BALANCES,
    Operation.HOLDINGS,
    Operation.POSITIONS,
    Operation.TRANSACTIONS,
    Operation.QUOTES,
    Operation.PLACE_ORDER,
    Operation.GET_ORDER,
    Operation.LIST_ORDERS,
    Operation.FILLS,
    Operation.FIND_BY_CLIENT_REFERENCE,
    Operation.MODIFY_ORDER,
    Operation.CANCEL_ORDER,
)


@dataclass(frozen=True, slots=True)
class _Listing:
    """One cursor-paged listing: how to read a page, tell items apart, and seed more."""

    name: str
    operation: Operation
    read: Callable[[BrokerSession, str, str | None], Awaitable[Page[Any]]]
    key: Callable[[Any], Hashable]
    seed: Callable[[SandboxControl, int], Awaitable[None]]

    async def all(self, desk: Desk) -> list[Any]:
        session, account = desk.session, desk.account_id
        return await read_listing(
            lambda cursor: self.read(session, account, cursor), self.key, self.name
        )


_LISTINGS = (
    _Listing(
        "holdings",
        Operation.HOLDINGS,
        lambda session, account, cursor: session.accounts.holdings(account, cursor=cursor),
        lambda holding: str(holding.instrument.key),
        lambda control, count: control.seed_holdings(count),
    ),
    _Listing(
        "positions",
        Operation.POSITIONS,
        lambda session, account, cursor: session.accounts.positions(account, cursor=cursor),
        lambda position: (str(position.instrument.key), position.product),
        lambda control, count: control.seed_positions(count),
    ),
    _Listing(
        "transactions",
        Operation.TRANSACTIONS,
        lambda session, account, cursor: session.accounts.transactions(account, cursor=cursor),
        lambda transaction: transaction.provider_transaction_id,
        lambda control, count: control.seed_transactions(count),
    ),
    _Listing(
        "orders",
        Operation.LIST_ORDERS,
        lambda session, account, cursor: session.orders.list(account, cursor=cursor),
        lambda order: order.provider_order_id,
        lambda control, count: control.seed_orders(count),
    ),
)
_ORDERS = _LISTINGS[3]
_PAGED = frozenset(listing.operation for listing in _LISTINGS)


def _same_order(order: Order, request: OrderRequest, client_reference: ClientReference) -> bool:
    """Whether ``order`` is the one ``request`` created, as far as the provider can tell."""
    if client_reference is ClientReference.ECHOED:
        return order.client_reference == request.client_reference
    return (
        order.instrument.key == request.instrument.key
        and order.side is request.side
        and order.type is request.type
        and order.quantity == request.quantity
        and order.limit_price == request.limit_price
        and order.stop_price == request.stop_price
    )


class RecordedPayloads(PayloadRecorder):
    """The contract's :class:`PayloadRecorder`: keeps what the session hands it."""

    def __init__(self) -> None:
        self.records: list[tuple[object, object]] = []

    def record(self, kind: str, body: bytes) -> None:
        self.records.append((kind, body))


class BrokerContract:
    """Subclass and supply the ``gateway``, ``credentials`` and ``control`` fixtures."""

    pytestmark: ClassVar[Any] = pytest.mark.asyncio

    listing_size: ClassVar[int] = 60
    lifecycle_examples: ClassVar[int] = 8
    lifecycle_steps: ClassVar[int] = 10

    @pytest.fixture
    def contract_payloads(self) -> RecordedPayloads:
        return RecordedPayloads()

    @pytest.fixture
    def contract_desk(
        self,
        gateway: BrokerGateway,
        credentials: ProviderCredentials,
        control: SandboxControl,
        contract_payloads: RecordedPayloads,
    ) -> Desk:
        """The adapter's session on the working credentials, with the sandbox's control."""
        session = gateway.session(credentials, recorder=contract_payloads)
        return Desk(session, gateway.capabilities, control)

    # ------------------------------------------------------------------- listings

    async def test_listings_are_complete_across_pages(self, contract_desk: Desk) -> None:
        desk = contract_desk
        for listing in self._declared_listings(desk):
            before = await listing.all(desk)
            await listing.seed(desk.control, self.listing_size)
            after = await listing.all(desk)
            lost = {listing.key(item) for item in before} - {listing.key(item) for item in after}
            assert not lost, f"{listing.name}: {sorted(map(str, lost))[:5]} vanished after seeding"
            assert len(after) - len(before) == self.listing_size, (
                f"{listing.name}: {self.listing_size} were added at the broker, but following "
                f"next_cursor to None gave {len(after) - len(before)} more ({len(before)} before, "
                f"{len(after)} after); pages are missing or next_cursor ends the listing early"
            )

    async def test_rereading_a_page_gives_the_same_items(self, contract_desk: Desk) -> None:
        desk = contract_desk
        for listing in self._declared_listings(desk):
            await listing.seed(desk.control, self.listing_size)
            cursor: str | None = None
            page_number = 1
            while True:
                first = await listing.read(desk.session, desk.account_id, cursor)
                again = await listing.read(desk.session, desk.account_id, cursor)
                assert first == again, (
                    f"{listing.name}: reading page {page_number} (cursor {cursor!r}) twice gave "
                    "different pages; the same cursor must give the same items"
                )
                if first.next_cursor is None:
                    break
                cursor, page_number = first.next_cursor, page_number + 1

    # -------------------------------------------------------------- exact values

    async def test_money_quantities_and_times_are_exact(self, contract_desk: Desk) -> None:
        desk = contract_desk
        account = desk.account_id
        returned: list[tuple[str, object]] = []
        if desk.declares(Operation.ACCOUNTS):
            returned.append(("accounts", await desk.session.accounts.accounts()))
        if desk.declares(Operation.BALANCES):
            returned.append(("balance", await desk.session.accounts.balance(account)))
        if desk.declares(Operation.QUOTES):
            quotes = await desk.session.quotes.last_prices([desk.control.instrument])
            returned.append(("last_prices", quotes))
        if desk.trades:
            filled = await desk.session.orders.place(await desk.marketable())
            returned.append(("place", filled))
            if desk.declares(Operation.FILLS):
                fills = await desk.session.orders.fills(account, filled.provider_order_id)
                returned.append(("fills", fills))
        for listing in self._declared_listings(desk):
            await listing.seed(desk.control, 3)
            returned.append((listing.name, await listing.all(desk)))
        problems = [problem for name, value in returned for problem in inexact_values(value, name)]
        assert not problems, "inexact values:\n" + "\n".join(problems)

    async def test_recorded_payloads_are_raw_bodies_named_by_path(
        self, contract_desk: Desk, contract_payloads: RecordedPayloads
    ) -> None:
        """An adapter that reads over HTTP hands each successful read's raw body to the
        session's recorder (``dashcore_brokers.http.record``), named by the request path
        without its query; sync keeps them so that normalized data can be derived again after
        a mapper fix. An adapter with no wire format records nothing."""
        desk = contract_desk
        if desk.declares(Operation.ACCOUNTS):
            await desk.session.accounts.accounts()
        for listing in self._declared_listings(desk):
            await listing.all(desk)
        malformed = [
            (kind, type(body).__name__)
            for kind, body in contract_payloads.records
            if not (isinstance(kind, str) and kind.startswith("/") and "?" not in kind)
            or not isinstance(body, bytes)
        ]
        assert not malformed, (
            f"the recorder takes (path without query, raw body bytes); got {malformed[:3]}"
        )

    # ------------------------------------------------------------------- statuses

    async def test_every_order_has_a_normalized_status(self, contract_desk: Desk) -> None:
        desk = contract_desk
        orders = desk.session.orders
        if desk.trades:
            await orders.place(await desk.marketable())
            resting = await orders.place(await desk.resting())
            if desk.declares(Operation.CANCEL_ORDER):
                await orders.cancel(desk.account_id, resting.provider_order_id)
        if not desk.declares(Operation.LIST_ORDERS):
            return
        await desk.control.seed_orders(self.listing_size)
        listed = await _ORDERS.all(desk)
        problems = [p for order in listed for p in status_problems(order, "listed")]
        if desk.declares(Operation.GET_ORDER):
            for order in listed:
                read = await orders.get(desk.account_id, order.provider_order_id)
                problems.extend(status_problems(read, "read by id"))
        assert not problems, "\n".join(problems)

    async def test_statuses_follow_what_happened(self, contract_desk: Desk) -> None:
        desk = contract_desk
        if not desk.trades:
            return
        orders, account, watch = desk.session.orders, desk.account_id, OrderWatch()
        resting = await orders.place(await desk.resting())
        watch.observe(resting, "answer to placing a resting limit buy")
        assert resting.status in _ACCEPTED_ON_PLACE and resting.filled_quantity == 0, (
            f"a limit buy far below the price reads {resting.status} (provider status "
            f"{resting.provider_status!r}) with {resting.filled_quantity} filled; it must read "
            "submitted or open with nothing filled"
        )
        placed = await orders.place(await desk.marketable())
        watch.observe(placed, "answer to placing a marketable buy")
        filled = await self._read(desk, placed, watch, "a marketable buy, read back")
        assert filled.status is OrderStatus.FILLED, (
            f"a marketable buy reads {filled.status} (provider status "
            f"{filled.provider_status!r}) once executed; it must read filled"
        )
        if desk.declares(Operation.FILLS):
            fills = await orders.fills(account, filled.provider_order_id)
            total = sum((fill.quantity for fill in fills), Decimal(0))
            assert total == filled.filled_quantity, (
                f"the fills of order {filled.provider_order_id} add up to {total}, but the "
                f"order says {filled.filled_quantity} filled"
            )
        if desk.declares(Operation.CANCEL_ORDER):
            answer = await orders.cancel(account, resting.provider_order_id)
            watch.observe(answer, "answer to a cancel")
            assert answer.status in _AFTER_CANCEL, (
                f"the answer to cancelling order {resting.provider_order_id} reads "
                f"{answer.status} (provider status {answer.provider_status!r}); it must read "
                "cancel_requested or cancelled"
            )
            cancelled = await self._read(desk, answer, watch, "a cancelled order, read back")
            assert cancelled.status is OrderStatus.CANCELLED, (
                f"a cancelled order reads {cancelled.status} (provider status "
                f"{cancelled.provider_status!r}); it must read cancelled"
            )

    async def test_order_lifecycle_only_takes_legal_transitions(self, contract_desk: Desk) -> None:
        if contract_desk.trades:
            await run_lifecycle(
                contract_desk, examples=self.lifecycle_examples, steps=self.lifecycle_steps
            )

    # --------------------------------------------------------------- capabilities

    async def test_declared_operations_work(self, contract_desk: Desk) -> None:
        desk = contract_desk
        account, control = desk.account_id, desk.control
        if desk.trades:  # the placement comes first and gives the order the others act on
            request, order_id = await desk.resting(), ""
        else:
            request, order_id = await self._order_to_act_on(desk)
        calls = desk.calls(order_id, request)
        for operation in _OPERATION_ORDER:
            if not desk.declares(operation):
                continue
            result = await calls[operation]()
            if operation in (Operation.PLACE_ORDER, Operation.MODIFY_ORDER):
                assert isinstance(result, Order)
                # A modify may replace the order under a new id (Schwab): act on the new one.
                order_id = result.provider_order_id
                calls = desk.calls(order_id, request)
            self._check_answer(operation, result, account, order_id, desk.modified(request))
        if desk.declares(Operation.QUOTES):
            key = str(control.instrument.key)
            quotes = await desk.session.quotes.last_prices([control.instrument])
            price = await control.price(control.instrument)
            assert key in quotes and quotes[key] == Money(price, control.instrument.currency), (
                f"last_prices gives {quotes.get(key)} for {key}; the broker's price is {price} "
                f"{control.instrument.currency}"
            )

    async def test_undeclared_capabilities_are_refused_before_the_broker(
        self, contract_desk: Desk
    ) -> None:
        desk = contract_desk
        caps = desk.capabilities
        price = desk.on_tick(await desk.control.price(desk.control.instrument) * Decimal("0.8"))
        base_type = OrderType.LIMIT if OrderType.LIMIT in caps.order_types else OrderType.MARKET
        calls = desk.calls("0", desk.priced(base_type, price))
        attempts: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            (str(op), calls[op]) for op in _OPERATION_ORDER if not desk.declares(op)
        ]
        if desk.trades:
            place = desk.session.orders.place
            refused = [
                *(
                    (f"order type {order_type}", desk.priced(order_type, price))
                    for order_type in set(OrderType) - caps.order_types
                ),
                *(
                    (f"product {product}", desk.priced(base_type, price, product=product))
                    for product in set(Product) - caps.products
                ),
                *(
                    (f"validity {validity}", desk.priced(base_type, price, validity=validity))
                    for validity in set(Validity) - caps.validities
                ),
            ]
            if caps.max_client_reference_length < 20:
                long_reference = "r" * (caps.max_client_reference_length + 1)
                refused.append(
                    (
                        "a client reference longer than declared",
                        desk.priced(base_type, price, reference=long_reference),
                    )
                )
            attempts += [(what, partial(place, request)) for what, request in refused]
        problems: list[str] = []
        for what, attempt in attempts:
            seen = desk.control.requests_seen()
            try:
                await attempt()
            except NotSupported:
                after = desk.control.requests_seen()
                if seen != after:
                    problems.append(f"{what} is undeclared; it was refused only after a request")
                continue
            except Exception as exc:
                problems.append(f"{what} is undeclared but raised {type(exc).__name__}: {exc}")
                continue
            problems.append(f"{what} is undeclared but worked; it must raise NotSupported")
        assert not problems, "\n".join(problems)

    # ------------------------------------------------------------- errors, faults

    async def test_expired_credentials_mean_reauth_required(self, contract_desk: Desk) -> None:
        desk = contract_desk
        request, order_id = await self._order_to_act_on(desk)
        if desk.trades:
            request = await desk.resting()
        calls = desk.calls(order_id, request)
        await desk.control.expire_credentials()
        problems: list[str] = []
        for operation in _OPERATION_ORDER:
            if not desk.declares(operation):
                continue
            try:
                await calls[operation]()
            except ReauthRequired:
                continue
            except Exception as exc:
                problems.append(
                    f"{operation} with expired credentials raised {type(exc).__name__}: {exc}"
                )
                continue
            problems.append(f"{operation} with expired credentials succeeded")
        assert not problems, (
            "expired credentials must raise ReauthRequired on every read and trade:\n"
            + "\n".join(problems)
        )

    async def test_a_placed_order_is_found_by_its_client_reference(
        self, contract_desk: Desk
    ) -> None:
        desk = contract_desk
        if not (desk.trades and desk.declares(Operation.FIND_BY_CLIENT_REFERENCE)):
            return
        orders, account = desk.session.orders, desk.account_id
        request = await desk.resting()
        placed = await orders.place(request)
        found = await orders.find_by_client_reference(account, request)
        assert found is not None and found.provider_order_id == placed.provider_order_id, (
            f"order {placed.provider_order_id} placed with client reference "
            f"{request.client_reference!r} is not found by it (found {found})"
        )
        self._check_same_order(desk, found, request)
        never_sent = await desk.resting()
        stranger = await orders.find_by_client_reference(account, never_sent)
        assert stranger is None, (
            f"a request never sent ({never_sent.client_reference!r}) finds order "
            f"{stranger.provider_order_id}; only the order a request created may match it"
        )

    async def test_a_lost_answer_is_order_state_unknown_and_found_again(
        self, contract_desk: Desk
    ) -> None:
        desk = contract_desk
        if not (desk.trades and desk.declares(Operation.FIND_BY_CLIENT_REFERENCE)):
            return
        orders, account = desk.session.orders, desk.account_id
        request = await desk.resting()
        await desk.control.arm_timeout_after_accept()
        try:
            answer = await orders.place(request)
        except OrderStateUnknown:
            pass
        except Exception as exc:
            raise AssertionError(
                f"a placement whose answer was lost raised {type(exc).__name__}: {exc}; it must "
                "raise OrderStateUnknown (the broker may hold the order)"
            ) from exc
        else:
            raise AssertionError(
                f"a placement whose answer was lost returned order {answer.provider_order_id}; "
                "it must raise OrderStateUnknown"
            )
        found = await orders.find_by_client_reference(account, request)
        assert found is not None, (
            f"the order the broker accepted (client reference {request.client_reference!r}) "
            "is not found by find_by_client_reference after the lost answer"
        )
        self._check_same_order(desk, found, request)
        if desk.declares(Operation.LIST_ORDERS):
            listed = await _ORDERS.all(desk)
            matching = desk.capabilities.client_reference
            copies = [o for o in listed if _same_order(o, request, matching)]
            assert len(copies) == 1, (
                f"the broker holds {len(copies)} orders for client reference "
                f"{request.client_reference!r} after one lost answer; the adapter must never "
                "re-send a placement"
            )

    # -------------------------------------------------------------------- helpers

    @staticmethod
    def _declared_listings(desk: Desk) -> list[_Listing]:
        return [listing for listing in _LISTINGS if desk.declares(listing.operation)]

    @staticmethod
    async def _read(desk: Desk, order: Order, watch: OrderWatch, context: str) -> Order:
        """The order read back by id, or from the listing when reading by id is undeclared."""
        if desk.declares(Operation.GET_ORDER):
            read = await desk.session.orders.get(desk.account_id, order.provider_order_id)
        else:
            listed = await _ORDERS.all(desk)
            matches = [o for o in listed if o.provider_order_id == order.provider_order_id]
            assert matches, f"order {order.provider_order_id} is not listed"
            read = matches[0]
        watch.observe(read, context)
        return read

    @staticmethod
    async def _order_to_act_on(desk: Desk) -> tuple[OrderRequest, str]:
        """A resting order's request and id: placed when the provider trades, else one of the
        orders seeded at the broker (placing it again would be refused as undeclared)."""
        if desk.trades:
            request = await desk.resting()
            return request, (await desk.session.orders.place(request)).provider_order_id
        request = (
            desk.request(OrderType.LIMIT, limit_price=desk.tick, reference=desk.reference())
            if OrderType.LIMIT in desk.capabilities.order_types
            else desk.request(OrderType.MARKET)
        )
        if not desk.declares(Operation.LIST_ORDERS):
            return request, "0"
        await desk.control.seed_orders(1)
        listed = await _ORDERS.all(desk)
        assert listed, "orders: one order was seeded at the broker but none is listed"
        return request, listed[-1].provider_order_id

    @staticmethod
    def _check_same_order(desk: Desk, found: Order, request: OrderRequest) -> None:
        assert _same_order(found, request, ClientReference.MATCHED_BY_FIELDS), (
            f"order {found.provider_order_id} found for client reference "
            f"{request.client_reference!r} is a {found.side} {found.type} of {found.quantity} "
            f"{found.instrument.key} at {found.limit_price}; the request was a {request.side} "
            f"{request.type} of {request.quantity} {request.instrument.key} at "
            f"{request.limit_price}"
        )
        if desk.capabilities.client_reference is ClientReference.ECHOED:
            assert found.client_reference == request.client_reference, (
                f"order {found.provider_order_id} echoes client reference "
                f"{found.client_reference!r}, not {request.client_reference!r}"
            )

    @staticmethod
    def _check_answer(
        operation: Operation, result: object, account: str, order_id: str, modified: Decimal
    ) -> None:
        """What a declared operation's answer must say for the harness to call it working."""
        what = f"{operation} answered {result!r}"
        if operation is Operation.ACCOUNTS:
            assert isinstance(result, list | tuple) and all(isinstance(a, Account) for a in result)
            ids = [a.provider_account_id for a in result]
            assert account in ids, f"accounts lists {ids}, not the sandbox's account {account!r}"
        elif operation is Operation.BALANCES:
            assert isinstance(result, Balance) and result.provider_account_id == account, what
        elif operation in _PAGED:
            assert isinstance(result, Page), what
        elif operation is Operation.QUOTES:
            assert isinstance(result, dict), what
        elif operation is Operation.FILLS:
            assert isinstance(result, list | tuple), what
        elif operation is Operation.FIND_BY_CLIENT_REFERENCE:
            assert isinstance(result, Order) and result.provider_order_id == order_id, (
                f"find_by_client_reference answered {result!r}, not order {order_id}"
            )
        elif operation is Operation.MODIFY_ORDER:
            assert isinstance(result, Order) and result.limit_price == modified, (
                f"modifying the limit to {modified} answered {result!r}"
            )
        elif operation is Operation.CANCEL_ORDER:
            assert isinstance(result, Order) and result.status in _AFTER_CANCEL, (
                f"cancel answered {getattr(result, 'status', result)}; it must read "
                "cancel_requested or cancelled"
            )
        else:
            assert isinstance(result, Order) and result.provider_order_id == order_id, what
