"""Placing an order, idempotently and crash-safely (issue #8; security.md ORD-1, ORD-2, c.2).

Rules, in the order they apply:
1. The connection is the caller's (else 404), usable, and allowed to trade (``trade`` scope).
2. A replay is answered first: an ``Idempotency-Key`` already used by this user with the same
   request returns the order it created, as it is now, whatever happened since; with another
   request it is ``InvalidInput`` (422, ``idempotency_key_reused``). An expired key (24 h) is
   free again.
3. The order is checked locally, every problem naming its field (422), before any broker call.
4. An order above one of the user's order limits (:mod:`.order_limits`: value or quantity of
   one order, value placed in the day) is refused (``OrderLimitExceeded``, 422), and nothing is
   stored: the same key goes through once the limit allows it. Then an order worth more than
   the policy's threshold needs a recent step-up (``StepUpRequired``).
5. The key's record, the ``pending_submit`` order (with its deterministic client reference and
   its first send attempt counted) and the audit event are written in **one** unit of work and
   committed: of concurrent duplicates exactly one commits, the others answer as replays.
6. Each attempt to send is counted and committed before it leaves; then the broker is called
   with no transaction open. Its answer decides:
   - accepted: the order takes the broker's id and state;
   - ``OrderStateUnknown`` (timeout, reset, 5xx after sending): ``unknown``, for the reconciler;
     the order is **never** sent again;
   - ``ProviderUnavailable`` with a code of ``NOTHING_SENT_CODES`` (nothing sent: no
     connection, an open circuit): tried again, at most ``max_send_attempts`` in all and never
     after the submit deadline; then ``rejected``. Any other ``ProviderUnavailable`` may have
     reached the broker: ``unknown``, like a timeout;
   - a refusal (``InvalidInput``, ``NotSupported``, ``Conflict``, ``RateLimited``): ``rejected``
     with the broker's reason; ``ReauthRequired`` also marks the connection ``needs_reauth``.
   The order is returned in every case: the caller tells ``unknown`` (202) from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from dashcore.application.order_limits import OrderLimitGate
from dashcore.application.orders import (
    BrokerAccess,
    InstrumentLookup,
    OrderJournal,
    Trader,
    TradingPolicy,
    connection_not_usable,
    failure_of,
    with_fills,
)
from dashcore.application.step_up import StepUpGate
from dashcore.domain.capabilities import CapabilityMap
from dashcore.domain.connections import ConnectionError_, ConnectionStatus, ProviderConnection
from dashcore.domain.errors import (
    NOTHING_SENT_CODES,
    Conflict,
    DashcoreError,
    FieldError,
    Forbidden,
    InvalidInput,
    NotFound,
    NotSupported,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.instruments import Instrument
from dashcore.domain.money import Money
from dashcore.domain.trading import (
    CHARGE_SCHEDULES,
    IdempotencyKey,
    IdempotencyRecord,
    OrderDraft,
    OrderFailure,
    OrderPreview,
    PlacedOrder,
    client_reference_for,
    request_fingerprint,
    validate_order,
)
from dashcore.ports.brokers import BrokerSession
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.providers import ProviderConnectionRepository
from dashcore.ports.trading import IdempotencyRepository, OrderRepository
from dashcore.ports.uow import UnitOfWork

__all__ = [
    "PlaceOrder",
    "Placement",
    "PreviewOrder",
    "connection_refused",
    "ensure_tradable",
    "order_value",
    "require_step_up_for_value",
    "trading_connection",
]

_REFUSALS = (InvalidInput, NotSupported, Conflict, RateLimited, NotFound)
"""Broker answers that prove the order does not exist at the broker."""


async def trading_connection(
    connections: ProviderConnectionRepository, trader: Trader, connection_id: UUID, now: datetime
) -> ProviderConnection:
    """The caller's connection, usable and allowed to trade."""
    connection = await connections.get(connection_id)
    if connection is None or connection.user_id != trader.user_id:
        raise NotFound("No such connection.", code="connection_not_found")
    ensure_tradable(connection, now)
    return connection


def ensure_tradable(connection: ProviderConnection, now: datetime) -> None:
    """The rule for every order a connection sends (placing, changing, cancelling): allowed to
    trade (``Forbidden`` ``connection_cannot_trade``) and usable now (``ReauthRequired``
    ``connection_not_usable``)."""
    if not connection.can_trade:
        raise Forbidden(
            "This connection may only read: connect it again with trading allowed.",
            code="connection_cannot_trade",
        )
    if not connection.is_usable(now):
        raise connection_not_usable()


async def connection_refused(
    connections: ProviderConnectionRepository,
    uow: UnitOfWork,
    now: datetime,
    connection_id: UUID,
    error: DashcoreError,
) -> None:
    """The broker refused the connection's session (``error``, a ``ReauthRequired``) while an
    order was sent: a connected (or refreshing) connection moves to ``needs_reauth``, and
    that is committed, so the person is asked to log in again."""
    connection = await connections.lock(connection_id)
    if connection is not None and connection.status in (
        ConnectionStatus.CONNECTED,
        ConnectionStatus.REFRESHING,
    ):
        await connections.save(
            connection.needs_reauth(now, ConnectionError_(error.code, error.message[:500]))
        )
    await uow.commit()


async def order_value(
    uow: UnitOfWork,
    quantity_and_price: tuple[Decimal, Decimal | None],
    instrument: Instrument,
    session: BrokerSession,
) -> Decimal | None:
    """What an order is worth in its currency, as the step-up rule and the order limits see
    it: the quantity times the limit or stop price, else times the broker's last price;
    ``None`` when it cannot be known (no quote)."""
    quantity, price = quantity_and_price
    if price is None:
        await uow.rollback()  # no transaction open while the broker answers
        try:
            quote = (await session.quotes.last_prices([instrument])).get(str(instrument.key))
        except (ProviderUnavailable, RateLimited):
            quote = None
        price = None if quote is None else quote.amount
    return None if price is None else quantity * price


async def require_step_up_for_value(
    gate: StepUpGate,
    policy: TradingPolicy,
    trader: Trader,
    value: Decimal | None,
    instrument: Instrument,
) -> None:
    """Rule 4, for placing and for changing an order: an order worth more than the policy's
    threshold in its currency needs a recent step-up (``StepUpRequired``); so does one whose
    value (:func:`order_value`) cannot be known."""
    if policy.needs_step_up(value, instrument.currency):
        await gate.require(trader.user_id, trader.auth_time, trader.amr)


@dataclass(frozen=True, slots=True)
class Placement:
    """The order a placement is about, and whether the call was a replay of an earlier one (a
    replayed order still ``pending_submit`` is in flight: ORD-1 answers 409)."""

    order: PlacedOrder
    replayed: bool = False


class PlaceOrder:
    def __init__(
        self,
        orders: OrderRepository,
        keys: IdempotencyRepository,
        connections: ProviderConnectionRepository,
        brokers: BrokerAccess,
        instruments: InstrumentLookup,
        gate: StepUpGate,
        limits: OrderLimitGate,
        journal: OrderJournal,
        uow: UnitOfWork,
        clock: Clock,
        ids: IdGenerator,
        policy: TradingPolicy,
    ) -> None:
        self._orders = orders
        self._keys = keys
        self._connections = connections
        self._brokers = brokers
        self._instruments = instruments
        self._gate = gate
        self._limits = limits
        self._journal = journal
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._policy = policy

    async def __call__(
        self,
        trader: Trader,
        connection_id: UUID,
        idempotency_key: IdempotencyKey,
        draft: OrderDraft,
    ) -> Placement:
        key_hash = idempotency_key.hash_for(trader.user_id)
        fingerprint = request_fingerprint(connection_id, draft)
        replay = await self._replay(trader.user_id, key_hash, fingerprint)
        if replay is not None:
            return Placement(replay, replayed=True)
        connection = await trading_connection(
            self._connections, trader, connection_id, self._clock.now()
        )
        gateway = self._brokers.gateway(connection.provider)
        session = await self._brokers.session_on(connection)
        instrument = await self._instrument(connection.provider, draft, session)
        problems = validate_order(draft, instrument, gateway.capabilities)
        if problems:
            raise InvalidInput(
                "The order cannot be placed as it is.",
                code="invalid_order",
                errors=tuple(problems),
            )
        assert instrument is not None  # validate_order names an unknown instrument
        value = await order_value(
            self._uow, (draft.quantity, draft.limit_price or draft.stop_price), instrument, session
        )
        await self._limits.check(trader.user_id, instrument.currency, draft.quantity, value)
        await require_step_up_for_value(self._gate, self._policy, trader, value, instrument)
        reference_length = gateway.capabilities.max_client_reference_length
        created = await self._create(
            trader, connection, key_hash, fingerprint, draft, (instrument, value), reference_length
        )
        if created.replayed:
            return created
        return Placement(await self._send(created.order, session, trader))

    async def _instrument(
        self, provider: str, draft: OrderDraft, session: BrokerSession
    ) -> Instrument | None:
        """The draft's instrument from the catalog, else from the broker. The checks so far
        and the order's creation share one transaction unless the broker must be asked: no
        transaction is open while it answers."""
        known = await self._instruments.find(provider, draft.instrument, None)
        if known is not None:
            return known
        await self._uow.rollback()
        return await self._instruments.find(provider, draft.instrument, session)

    async def _replay(self, user_id: UUID, key_hash: str, fingerprint: str) -> PlacedOrder | None:
        record = await self._keys.get(user_id, key_hash)
        if record is None or record.is_expired(self._clock.now()):
            return None
        record.check_same_request(fingerprint)
        order = await self._orders.get(record.order_id)
        if order is None:  # the record and its order commit together
            raise Conflict("The order of this key is not there.", code="idempotency_order_missing")
        return order

    async def _create(
        self,
        trader: Trader,
        connection: ProviderConnection,
        key_hash: str,
        fingerprint: str,
        draft: OrderDraft,
        priced: tuple[Instrument, Decimal | None],
        reference_length: int,
    ) -> Placement:
        """Write the key, the ``pending_submit`` order (with its instrument and value, as
        checked) with its first send attempt counted and its audit event together; a
        concurrent duplicate that committed first is answered as a replay."""
        instrument, value = priced
        now = self._clock.now()
        order_id = self._ids.new_id()
        order = PlacedOrder.create(
            order_id,
            trader.user_id,
            connection.id,
            connection.provider,
            draft.to_request(instrument, client_reference_for(order_id, reference_length)),
            key_hash,
            now,
            now + self._policy.submit_deadline,
            estimated_value=value,
        ).send_attempted(now)
        record = IdempotencyRecord.create(trader.user_id, key_hash, fingerprint, order_id, now)
        holder = await self._keys.claim(record)
        if holder is None:
            await self._orders.add(order)
            await self._journal.record(
                "order_created",
                order,
                trader.context,
                {"client_reference": order.client_reference, "side": str(draft.side)},
            )
            try:
                await self._uow.commit()
                return Placement(order)
            except Conflict:  # a duplicate committed the key first
                await self._uow.rollback()
        replay = await self._replay(trader.user_id, key_hash, fingerprint)
        if replay is None:
            raise Conflict("The order is being placed; try again.", code="order_in_flight")
        return Placement(replay, replayed=True)

    async def _send(
        self, order: PlacedOrder, session: BrokerSession, trader: Trader
    ) -> PlacedOrder:
        """Send ``order`` (committed with this attempt counted) until the broker answers, or
        nothing can be sent any more; each further attempt is counted and committed first."""
        while True:
            settled = await self._attempt(order, session, trader)
            if settled is not None:
                return settled
            if not order.can_send(self._clock.now()):
                return await self._reject(
                    order,
                    trader,
                    OrderFailure("submit_deadline_passed", "The order was not sent in time."),
                )
            order = await self._journal.advance(
                order, trader.context, lambda o, now: o.send_attempted(now)
            )

    async def _attempt(
        self, order: PlacedOrder, session: BrokerSession, trader: Trader
    ) -> PlacedOrder | None:
        """One send; ``None`` when it provably did not reach the broker and may be retried."""
        try:
            report = await session.orders.place(order.request)
        except OrderStateUnknown as error:
            failure = failure_of(error)
            return await self._journal.advance(
                order, trader.context, lambda o, now: o.state_unknown(now, failure)
            )
        except ProviderUnavailable as error:
            if error.code not in NOTHING_SENT_CODES:
                # An answer the adapter did not classify (a 5xx envelope, say) may come after
                # the broker took the order: reconciled, never sent again.
                failure = failure_of(error)
                return await self._journal.advance(
                    order, trader.context, lambda o, now: o.state_unknown(now, failure)
                )
            if order.submit_attempts < self._policy.max_send_attempts:
                return None
            return await self._reject(order, trader, failure_of(error))
        except ReauthRequired as error:
            await connection_refused(
                self._connections, self._uow, self._clock.now(), order.connection_id, error
            )
            return await self._reject(order, trader, OrderFailure("broker_auth", error.message))
        except _REFUSALS as error:
            return await self._reject(order, trader, failure_of(error))
        report = await with_fills(
            session, self._brokers.gateway(order.provider).capabilities, report
        )
        return await self._journal.advance(
            order, trader.context, lambda o, now: o.accepted(report, now)
        )

    async def _reject(
        self, order: PlacedOrder, trader: Trader, failure: OrderFailure
    ) -> PlacedOrder:
        return await self._journal.advance(
            order, trader.context, lambda o, now: o.rejected(now, failure)
        )


class PreviewOrder:
    """What an order would do, sent nowhere: its problems, estimated cost and charges, and the
    position and cash after it. Broker reads that fail leave their figures out (``None``). An
    order otherwise valid that breaks one of the user's order limits has that breach among its
    problems (on ``quantity``), as placing it would refuse it."""

    def __init__(
        self,
        connections: ProviderConnectionRepository,
        brokers: BrokerAccess,
        instruments: InstrumentLookup,
        limits: OrderLimitGate,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self._connections = connections
        self._brokers = brokers
        self._instruments = instruments
        self._limits = limits
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, trader: Trader, connection_id: UUID, draft: OrderDraft
    ) -> OrderPreview:
        connection = await trading_connection(
            self._connections, trader, connection_id, self._clock.now()
        )
        gateway = self._brokers.gateway(connection.provider)
        session = await self._brokers.session_on(connection)
        await self._uow.rollback()
        instrument = await self._instruments.find(connection.provider, draft.instrument, session)
        problems = validate_order(draft, instrument, gateway.capabilities)
        if instrument is None:
            return OrderPreview.of(
                draft,
                problems,
                instrument=None,
                last_price=None,
                charges=None,
                position=None,
                cash=None,
            )
        try:
            last = (await session.quotes.last_prices([instrument])).get(str(instrument.key))
            position = await _position(session, gateway.capabilities, draft.account_id, instrument)
            cash: Money | None = (await session.accounts.balance(draft.account_id)).cash
        except NotFound as missing:
            last, position, cash = None, None, None
            if missing.code == "account_not_found":  # placed, the order would be rejected
                problems.append(FieldError("account_id", missing.message))
        except (ProviderUnavailable, RateLimited, NotSupported):
            last, position, cash = None, None, None
        if not problems:  # the limits, read last: no transaction open while the broker answers
            quoted = None if last is None else last.amount  # read above: not asked again
            price = draft.limit_price or draft.stop_price or quoted
            value = await order_value(self._uow, (draft.quantity, price), instrument, session)
            breach = await self._limits.breach(
                trader.user_id, instrument.currency, draft.quantity, value
            )
            if breach is not None:
                problems.append(breach.field_error)
        return OrderPreview.of(
            draft,
            problems,
            instrument=instrument,
            last_price=last,
            charges=CHARGE_SCHEDULES.get(connection.provider),
            position=position,
            cash=cash,
        )


async def _position(
    session: BrokerSession, capabilities: CapabilityMap, account_id: str, instrument: Instrument
) -> Decimal:
    """What the account holds of ``instrument``: settled holdings plus open positions, or the
    positions alone where they list the holdings too (each share counted once)."""
    readers = session.accounts
    listings = (
        (readers.positions,)
        if capabilities.positions_include_holdings
        else (readers.holdings, readers.positions)
    )
    total = Decimal(0)
    for listing in listings:
        cursor: str | None = None
        while True:
            page = await listing(account_id, cursor=cursor)
            total += sum(
                (item.quantity for item in page.items if item.instrument.key == instrument.key),
                Decimal(0),
            )
            cursor = page.next_cursor
            if cursor is None:
                break
    return total
