"""Placing and tracking orders: our own record of each order (issue #8; security.md ORD-1..3).

A :class:`PlacedOrder` is written ``pending_submit`` *before* anything is sent to the broker,
with a deterministic client reference derived from its id, so that an order whose answer was
lost can be found again at the broker instead of being sent twice. Its status follows the
normalized lifecycle of :mod:`dashcore.domain.orders`; every change goes through a method that
checks :func:`~dashcore.domain.orders.can_transition` and raises ``Conflict``
(``invalid_order_transition``) for a move the lifecycle forbids.

**Monotonic updates.** Broker reports (a poll, a webhook, a reconciliation) arrive late and out
of order. :meth:`PlacedOrder.observed` applies a report only when it is newer than what is
stored, by this rule:

1. when the report carries the broker's own update time and the order holds one too, the later
   broker time wins (an earlier one is stale and ignored);
2. otherwise the lifecycle rank decides (:data:`LIFECYCLE_RANK`): a report whose status ranks
   below the stored one is stale and ignored (``filled`` then ``open``: ``filled`` stays); an
   equal rank applies only when it does not lower the filled quantity;
3. while a cancel is in flight (``cancel_requested``) a report of ``submitted`` or ``open`` is
   the state before the cancel reached the broker and is ignored; fills, the final states and a
   refused cancel (:meth:`PlacedOrder.cancel_refused`) move it on. That lasts
   :data:`CANCEL_CONFIRMATION_WINDOW` from the request: a broker that still reports the order
   live after it has not taken the cancel (it never reached the broker — the broker could not
   be read first, the request was lost — or the broker dropped it), so the report applies and
   the order is live again, as the broker says; nothing is sent again, and the person may
   cancel again;
4. the filled quantity never decreases, and fills are merged by the broker's trade id;
5. the order's terms (quantity, type, prices) follow the broker's when they differ: a change
   made at the broker, or a modification whose answer was lost. Only a report asked for after
   the order was last saved is followed so (``asked_at_version``, the order's version when it
   was asked for, is still the order's): one asked before a modification was saved may show
   the terms from before it. A final report's terms are followed whatever the version: no
   modification can come after them (a broker refuses to change a final order), and a final
   order is not asked about again. Terms the order cannot take (off its tick or lots,
   a price its type does not have) are a broker bug and are left as they are.

A report the rule accepts but the lifecycle forbids (``open`` with a newer broker time after
``filled``) is a broker bug: ``Conflict``, surfaced, never followed.

**Idempotency** (ORD-1). ``POST /orders`` carries an ``Idempotency-Key``: 1 to 255 visible ASCII
characters, stored only as the SHA-256 of the user id and the key (:class:`IdempotencyKey`),
with the fingerprint of the request (:func:`request_fingerprint`) and the order it created, for
24 hours (:class:`IdempotencyRecord`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from dashcore.domain.capabilities import CapabilityMap
from dashcore.domain.errors import Conflict, FieldError, InvalidInput
from dashcore.domain.instruments import Instrument, InstrumentKey, is_positive_decimal
from dashcore.domain.money import ARITHMETIC, Money, input_decimal
from dashcore.domain.orders import (
    Fill,
    Order,
    OrderChange,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    Product,
    Validity,
    can_transition,
)
from dashcore.domain.time import ensure_utc

__all__ = [
    "CANCEL_CONFIRMATION_WINDOW",
    "CHARGE_SCHEDULES",
    "CLIENT_REFERENCE_LENGTH",
    "IDEMPOTENCY_TTL",
    "LIFECYCLE_RANK",
    "ChargeSchedule",
    "IdempotencyKey",
    "IdempotencyRecord",
    "OrderCursor",
    "OrderDraft",
    "OrderFailure",
    "OrderFilters",
    "OrderPreview",
    "PlacedOrder",
    "client_reference_for",
    "request_fingerprint",
    "validate_order",
]

IDEMPOTENCY_TTL = timedelta(hours=24)
"""How long an idempotency key is remembered (ORD-1: retention 24 h)."""

CLIENT_REFERENCE_LENGTH = 20
"""Kite's ``tag`` and Groww's ``order_reference_id`` take at most 20 alphanumerics (Groww at
least 8); Upstox's ``tag`` takes as many. One length serves all of them."""

_BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U

LIFECYCLE_RANK: Mapping[OrderStatus, int] = {
    OrderStatus.PENDING_SUBMIT: 0,
    OrderStatus.UNKNOWN: 0,
    OrderStatus.SUBMITTED: 1,
    OrderStatus.OPEN: 2,
    OrderStatus.PARTIALLY_FILLED: 3,
    OrderStatus.CANCEL_REQUESTED: 3,
    OrderStatus.FILLED: 4,
    OrderStatus.CANCELLED: 4,
    OrderStatus.REJECTED: 4,
    OrderStatus.EXPIRED: 4,
}
"""How far along the lifecycle a status is: a report ranked below the stored status is older
(when no broker time says otherwise)."""

_BEFORE_CANCEL = frozenset({OrderStatus.SUBMITTED, OrderStatus.OPEN})
CANCEL_CONFIRMATION_WINDOW = timedelta(minutes=2)
"""How long after a cancel was asked a report of the order still live is taken for one from
before the cancel reached the broker (rule 3 of the module): brokers confirm a cancel within
seconds, and the status poll reads live orders every 30 seconds."""
_ERROR_CODE_MAX = 64
_ERROR_MESSAGE_MAX = 500


def client_reference_for(order_id: UUID, length: int = CLIENT_REFERENCE_LENGTH) -> str:
    """The broker-side client reference of our order ``order_id``: deterministic, upper-case
    alphanumeric (Crockford base32 of the SHA-256 of the id), ``length`` characters (8 to 20).

    The same order always gets the same reference, so a lost answer is reconciled by looking the
    reference up; 20 characters carry 100 bits, so two orders never share one in practice."""
    if not 8 <= length <= CLIENT_REFERENCE_LENGTH:
        raise ValueError("a client reference is 8 to 20 characters")
    number = int.from_bytes(hashlib.sha256(order_id.bytes).digest(), "big")
    return "".join(_BASE32[(number >> (251 - 5 * i)) & 31] for i in range(length))


@dataclass(frozen=True, slots=True)
class OrderFailure:
    """Why an order did not go through (or is not yet settled): a stable ``code`` and words for
    people. Never a secret and never a broker payload."""

    code: str
    message: str

    def __post_init__(self) -> None:
        if not self.code or len(self.code) > _ERROR_CODE_MAX:
            raise ValueError("an order failure code is 1-64 characters")
        object.__setattr__(self, "message", self.message[:_ERROR_MESSAGE_MAX])


# ------------------------------------------------------------------------------ the draft


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """An order as a user asks for it, before it is checked: the instrument only by its key,
    and nothing the server decides (ids, reference, status: ORD-3 mass assignment)."""

    account_id: str
    instrument: InstrumentKey
    side: OrderSide
    type: OrderType
    quantity: Decimal
    product: Product = Product.DELIVERY
    validity: Validity = Validity.DAY
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None

    def __post_init__(self) -> None:
        """Quantities and prices are ``Decimal`` (an ``int`` becomes one); anything else, a
        ``float`` above all, is ``InvalidInput`` naming the field. Found by QA: a float
        quantity from an embedding service failed with an ``AttributeError``."""
        for name in ("quantity", "limit_price", "stop_price"):
            value = getattr(self, name)
            if (value is None and name != "quantity") or isinstance(value, Decimal):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(
                    "Quantities and prices are Decimal values (a float is inexact).", field=name
                )
            object.__setattr__(self, name, Decimal(value))

    def canonical(self) -> dict[str, str | None]:
        """The draft as canonical JSON values: numbers normalized (``10`` and ``10.00`` are the
        same order), absent prices as ``None``. A number out of the input range
        (:func:`~dashcore.domain.money.input_decimal`) is ``InvalidInput`` naming its field."""
        return {
            "account_id": self.account_id,
            "symbol": self.instrument.symbol,
            "exchange": self.instrument.exchange,
            "side": str(self.side),
            "type": str(self.type),
            "quantity": _canonical_number(self.quantity, "quantity"),
            "product": str(self.product),
            "validity": str(self.validity),
            "limit_price": _canonical_number(self.limit_price, "limit_price"),
            "stop_price": _canonical_number(self.stop_price, "stop_price"),
        }

    def to_request(self, instrument: Instrument, client_reference: str) -> OrderRequest:
        """The request for the broker; call :func:`validate_order` first (this raises at the
        first problem)."""
        return OrderRequest(
            provider_account_id=self.account_id,
            instrument=instrument,
            side=self.side,
            type=self.type,
            quantity=self.quantity,
            client_reference=client_reference,
            product=self.product,
            validity=self.validity,
            limit_price=self.limit_price,
            stop_price=self.stop_price,
        )


def _canonical_number(value: Decimal | None, field: str) -> str | None:
    if value is None:
        return None
    if not value.is_finite():
        return str(value)
    return format(input_decimal(value, field=field).normalize(), "f")


def request_fingerprint(connection_id: UUID, draft: OrderDraft) -> str:
    """SHA-256 (hex) of the canonical JSON of a placement: the connection and the draft, keys
    sorted, no whitespace. Two requests with the same fingerprint ask for the same order."""
    document = {"connection_id": str(connection_id), **draft.canonical()}
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def validate_order(
    draft: OrderDraft, instrument: Instrument | None, capabilities: CapabilityMap
) -> list[FieldError]:
    """Every problem with ``draft``, each naming its field, before any broker call: the
    instrument is known, the quantity a positive whole number of lots, prices on the tick and
    present exactly when the order type needs them, and the type, product and validity among
    what the provider takes. An empty list means the order may be sent."""
    problems: list[FieldError] = []
    if not draft.account_id:
        problems.append(FieldError("account_id", "An order needs the provider's account id."))
    if instrument is None:
        problems.append(
            FieldError("instrument", f"{draft.instrument} is not an instrument this provider has.")
        )
    if not is_positive_decimal(draft.quantity):
        problems.append(FieldError("quantity", "The quantity must be a positive number."))
    elif instrument is not None and not instrument.is_whole_lots(draft.quantity):
        problems.append(
            FieldError(
                "quantity", f"The quantity must be a whole number of lots of {instrument.lot_size}."
            )
        )
    for name, needed in (
        ("limit_price", draft.type.needs_limit_price),
        ("stop_price", draft.type.needs_stop_price),
    ):
        price: Decimal | None = getattr(draft, name)
        if price is None:
            if needed:
                problems.append(FieldError(name, f"A {draft.type} order needs a {name}."))
        elif not needed:
            problems.append(FieldError(name, f"A {draft.type} order takes no {name}."))
        elif not is_positive_decimal(price):
            problems.append(FieldError(name, f"The {name} must be a positive number."))
        elif instrument is not None and not instrument.is_on_tick(price):
            problems.append(
                FieldError(name, f"The {name} must be a multiple of {instrument.tick_size}.")
            )
    for name, value, supported in (
        ("type", draft.type, capabilities.order_types),
        ("product", draft.product, capabilities.products),
        ("validity", draft.validity, capabilities.validities),
    ):
        if value not in supported:
            takes = ", ".join(sorted(str(s) for s in supported))
            problems.append(
                FieldError(name, f"The provider does not take {value}; it takes {takes}.")
            )
    return problems


# ------------------------------------------------------------------------------ idempotency


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    """A client's ``Idempotency-Key``: 1 to 255 visible ASCII characters (``!`` to ``~``).
    Never stored as given: :meth:`hash_for` scopes it to the user and hashes it."""

    value: str = field(repr=False)

    def __post_init__(self) -> None:
        value = self.value
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= 255
            or any(not "!" <= char <= "~" for char in value)
        ):
            raise InvalidInput(
                "An Idempotency-Key is 1 to 255 visible ASCII characters.",
                code="invalid_idempotency_key",
                field="Idempotency-Key",
            )

    def hash_for(self, user_id: UUID) -> str:
        """SHA-256 (hex) of the user id and the key: one user's key never meets another's."""
        return hashlib.sha256(f"{user_id}:{self.value}".encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A claimed idempotency key: which request (fingerprint) created which order, until
    ``expires_at``. A key reused with another fingerprint is refused
    (``idempotency_key_reused``); after expiry the key may be claimed afresh."""

    user_id: UUID
    key_hash: str
    fingerprint: str
    order_id: UUID
    created_at: datetime
    expires_at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="created_at"))
        object.__setattr__(self, "expires_at", ensure_utc(self.expires_at, field="expires_at"))

    @classmethod
    def create(
        cls,
        user_id: UUID,
        key_hash: str,
        fingerprint: str,
        order_id: UUID,
        now: datetime,
        ttl: timedelta = IDEMPOTENCY_TTL,
    ) -> IdempotencyRecord:
        return cls(user_id, key_hash, fingerprint, order_id, now, now + ttl)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def check_same_request(self, fingerprint: str) -> None:
        """Raise ``InvalidInput`` (422, ``idempotency_key_reused``) unless ``fingerprint`` is
        the one this key was first used with."""
        if fingerprint != self.fingerprint:
            raise InvalidInput(
                "This Idempotency-Key was used for a different order.",
                code="idempotency_key_reused",
                field="Idempotency-Key",
            )


# ------------------------------------------------------------------------------ the record


@dataclass(frozen=True, slots=True)
class PlacedOrder:
    """Our record of one order: who placed it through which connection, what was asked
    (``request``, with its client reference), and what the broker last told us.

    Immutable: each change returns the next state (``updated_at`` set; ``status_changed_at``
    when the status moved). ``version`` is the optimistic-lock counter the repository checks
    and bumps on save. ``submit_deadline`` bounds the safe retries of a submission that
    provably did not reach the broker; nothing is sent after it.
    """

    id: UUID
    user_id: UUID
    connection_id: UUID
    provider: str
    request: OrderRequest
    idempotency_key_hash: str
    status: OrderStatus
    created_at: datetime
    updated_at: datetime
    status_changed_at: datetime
    submit_deadline: datetime
    version: int = 0
    broker_order_id: str | None = None
    broker_status: str | None = None
    broker_updated_at: datetime | None = None
    filled_quantity: Decimal = Decimal(0)
    average_price: Money | None = None
    fills: tuple[Fill, ...] = ()
    status_message: str | None = None
    last_error: OrderFailure | None = None
    submit_attempts: int = 0
    carried_quantity: Decimal = Decimal(0)
    """What broker orders this one replaced had filled (a modify that replaces the order at the
    broker, as Schwab's does, starts the new broker order's count at zero)."""
    reconcile_attempts: int = 0
    """How many times reconciliation looked for the order and could not settle it."""
    reconcile_after: datetime | None = None
    """Reconciliation looks for the order again no earlier than this (its backoff)."""
    estimated_value: Decimal | None = None
    """What the order was worth, in its currency, when it was placed or last modified through
    dashcore, as the order limits saw it: quantity times limit (else stop) price, else times
    the broker's last price then; ``None`` when it could not be priced (security.md ORD-3)."""

    def __post_init__(self) -> None:
        for name in (
            "created_at",
            "updated_at",
            "status_changed_at",
            "submit_deadline",
            "broker_updated_at",
            "reconcile_after",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        if self.filled_quantity < 0 or self.filled_quantity > self.request.quantity:
            raise InvalidInput(
                "The filled quantity is between zero and the order quantity.",
                field="filled_quantity",
            )

    @classmethod
    def create(
        cls,
        order_id: UUID,
        user_id: UUID,
        connection_id: UUID,
        provider: str,
        request: OrderRequest,
        idempotency_key_hash: str,
        now: datetime,
        submit_deadline: datetime,
        *,
        estimated_value: Decimal | None = None,
    ) -> PlacedOrder:
        """A new order, ``pending_submit``: written (and committed) before it is sent."""
        return cls(
            id=order_id,
            user_id=user_id,
            connection_id=connection_id,
            provider=provider,
            request=request,
            idempotency_key_hash=idempotency_key_hash,
            status=OrderStatus.PENDING_SUBMIT,
            created_at=now,
            updated_at=now,
            status_changed_at=now,
            submit_deadline=submit_deadline,
            estimated_value=estimated_value,
        )

    # -- facts ---------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        """The provider's account id the order trades in."""
        return self.request.provider_account_id

    @property
    def client_reference(self) -> str:
        return self.request.client_reference

    @property
    def instrument(self) -> Instrument:
        return self.request.instrument

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def needs_reconciliation(self) -> bool:
        """Sent or maybe sent, with no broker answer we could keep."""
        return self.status in (OrderStatus.UNKNOWN, OrderStatus.PENDING_SUBMIT)

    @property
    def order_value(self) -> Decimal | None:
        """Quantity × limit (else stop) price; ``None`` for a market order (priced by a quote)."""
        return self.request.priced_value

    def can_send(self, now: datetime) -> bool:
        """Still ``pending_submit`` and before the submit deadline."""
        return self.status is OrderStatus.PENDING_SUBMIT and now < self.submit_deadline

    # -- transitions ---------------------------------------------------------------------

    def _moved(self, status: OrderStatus, now: datetime, **changes: object) -> PlacedOrder:
        if not can_transition(self.status, status):
            raise Conflict(
                f"An order cannot go from {self.status} to {status}.",
                code="invalid_order_transition",
            )
        if status is not self.status:
            changes["status_changed_at"] = now
        return replace(self, status=status, updated_at=now, **changes)  # type: ignore[arg-type]

    def send_attempted(self, now: datetime) -> PlacedOrder:
        """One more submission attempt is about to leave (counted, the status unchanged)."""
        if not self.can_send(now):
            raise Conflict("This order can no longer be sent.", code="order_not_sendable")
        return replace(self, submit_attempts=self.submit_attempts + 1, updated_at=now)

    def state_unknown(self, now: datetime, failure: OrderFailure) -> PlacedOrder:
        """Sent, but the answer was lost (timeout, reset, 5xx): only reconciliation settles it.
        An order that reconciliation (or a webhook) settled meanwhile stays as it is."""
        if self.status is not OrderStatus.PENDING_SUBMIT:
            return self
        return self._moved(OrderStatus.UNKNOWN, now, last_error=failure)

    def reconcile_deferred(self, now: datetime, until: datetime) -> PlacedOrder:
        """Reconciliation looked and could not settle the order (the broker could not be asked,
        or does not show it yet): one more attempt counted, the next one not before ``until``.
        An order settled meanwhile stays as it is."""
        if not self.needs_reconciliation:
            return self
        return replace(
            self,
            reconcile_attempts=self.reconcile_attempts + 1,
            reconcile_after=until,
            updated_at=now,
        )

    def flagged(self, now: datetime, failure: OrderFailure) -> PlacedOrder:
        """Record why the order cannot be settled automatically (its status unchanged): e.g.
        reconciliation found a broker order that another of our orders already holds. An
        order settled meanwhile (or already flagged so) stays as it is."""
        if not self.needs_reconciliation or self.last_error == failure:
            return self
        return replace(self, last_error=failure, updated_at=now)

    def rejected(self, now: datetime, failure: OrderFailure) -> PlacedOrder:
        """The broker refused the order, or it provably never reached the broker."""
        return self._moved(
            OrderStatus.REJECTED, now, last_error=failure, status_message=failure.message
        )

    def accepted(self, report: Order, now: datetime) -> PlacedOrder:
        """The broker's answer to our placement (or the order reconciliation found): its id is
        bound to this order, then the report is applied."""
        if self.broker_order_id is not None:
            if self.broker_order_id != report.provider_order_id:
                raise Conflict(
                    "This order is already bound to another broker order.",
                    code="broker_order_mismatch",
                )
            return self.observed(report, now)
        bound = replace(self, broker_order_id=report.provider_order_id, last_error=None)
        return bound._applied(report, now, None)

    def observed(
        self,
        report: Order,
        now: datetime,
        broker_time: datetime | None = None,
        *,
        asked_at_version: int | None = None,
    ) -> PlacedOrder:
        """Apply a later report of the bound broker order (poll, webhook re-fetch), following
        the monotonic rule of the module docstring; a stale report returns ``self``. Its terms
        are followed (rule 5) only when ``asked_at_version``, the order's version when the
        report was asked for, is given and still the order's (nothing saved it since), or the
        report is final."""
        if report.provider_order_id != self.broker_order_id:
            raise Conflict(
                "The report is about another broker order.", code="broker_order_mismatch"
            )
        if broker_time is not None:
            broker_time = ensure_utc(broker_time, field="broker_time")
        if self._is_stale(report, now, broker_time):
            return self
        order = self
        if asked_at_version is not None and (
            asked_at_version == self.version or report.status.is_final
        ):
            order = self._on_terms_of(report)
        return order._applied(report, now, broker_time)

    def _runs_other_terms(self, report: Order) -> bool:
        """Whether the bound broker order, as ``report`` shows it, runs other terms than the
        order's: another quantity (plus what replaced broker orders filled), type or price."""
        request = self.request
        return (
            self.carried_quantity + report.quantity,
            report.type,
            report.limit_price,
            report.stop_price,
        ) != (request.quantity, request.type, request.limit_price, request.stop_price)

    def _on_terms_of(self, report: Order) -> PlacedOrder:
        """The order on the terms the broker runs (rule 5), counted towards its day at its new
        value where it has one (a market order keeps the value it was checked at)."""
        if not self._runs_other_terms(report):
            return self
        try:
            request = replace(
                self.request,
                quantity=self.carried_quantity + report.quantity,
                type=report.type,
                limit_price=report.limit_price,
                stop_price=report.stop_price,
            )
        except InvalidInput:
            return self
        return replace(self, request=request, estimated_value=_value_after_change(self, request))

    def _is_stale(self, report: Order, now: datetime, broker_time: datetime | None) -> bool:
        timed = False
        if broker_time is not None and self.broker_updated_at is not None:
            if broker_time < self.broker_updated_at:
                return True
            timed = True
        if self.status is OrderStatus.CANCEL_REQUESTED and report.status in _BEFORE_CANCEL:
            return now < self.status_changed_at + CANCEL_CONFIRMATION_WINDOW
        if timed:
            return False
        status = self._as_whole(report).status
        rank, stored = LIFECYCLE_RANK[status], LIFECYCLE_RANK[self.status]
        return rank < stored or (rank == stored and self._filled(report) < self.filled_quantity)

    def _applied(self, report: Order, now: datetime, broker_time: datetime | None) -> PlacedOrder:
        """The order after ``report``; ``self`` when the report tells nothing new (a repeated
        poll saves nothing)."""
        report = self._as_whole(report)
        changes: dict[str, object] = {
            "broker_status": report.provider_status,
            "broker_updated_at": broker_time or self.broker_updated_at,
            "filled_quantity": min(
                max(self.filled_quantity, self._filled(report)), self.request.quantity
            ),
            "average_price": report.average_price or self.average_price,
            "fills": _merged(self.fills, report.fills),
            "status_message": report.status_message,
        }
        if report.status is self.status and all(
            getattr(self, name) == value for name, value in changes.items()
        ):
            return self
        return self._moved(report.status, now, **changes)

    def _as_whole(self, report: Order) -> Order:
        """``report`` about the whole order: the live replacement of a partly filled broker
        order is partly filled as a whole."""
        if self.carried_quantity and report.status in _BEFORE_CANCEL:
            return replace(report, status=OrderStatus.PARTIALLY_FILLED)
        return report

    def _filled(self, report: Order) -> Decimal:
        """The order's filled quantity according to ``report`` (plus what replaced broker
        orders filled before a modification)."""
        return self.carried_quantity + report.filled_quantity

    def cancel_requested(self, now: datetime) -> PlacedOrder:
        """The user asked to cancel; ``cancelled`` only once the broker confirms."""
        if self.broker_order_id is None:
            raise Conflict(
                "This order has not reached the broker yet; it cannot be cancelled now.",
                code="order_not_cancellable",
            )
        return self._moved(OrderStatus.CANCEL_REQUESTED, now)

    def cancel_refused(self, report: Order, now: datetime) -> PlacedOrder:
        """The broker refused the cancel: the order is what the broker says it is."""
        return self._applied(report, now, None)

    def cancel_not_taken(self, before: OrderStatus, now: datetime) -> PlacedOrder:
        """The broker turned the cancel request away unread (the session was refused, the
        account may not trade): the order is live as it was ``before`` the request. An order
        that a report moved on meanwhile stays as it is."""
        if self.status is not OrderStatus.CANCEL_REQUESTED:
            return self
        return self._moved(before, now)

    def changed_request(self, change: OrderChange) -> OrderRequest:
        """The request as ``change`` makes it, checked as a new request is (whole lots, on the
        tick: ``InvalidInput`` naming the field); the quantity never below what has filled."""
        if change.quantity is not None and change.quantity < self.filled_quantity:
            raise InvalidInput(
                "The quantity cannot go below what has already filled.", field="quantity"
            )
        current = self.request
        return replace(
            current,
            quantity=current.quantity if change.quantity is None else change.quantity,
            limit_price=current.limit_price if change.limit_price is None else change.limit_price,
            stop_price=current.stop_price if change.stop_price is None else change.stop_price,
        )

    def replaced(self, old: Order, new: Order, now: datetime) -> PlacedOrder:
        """The bound broker order ``old`` was replaced by ``new`` without our binding it (a
        modification whose answer was lost, or a change made at the broker): the order lives on
        as ``new``. What ``old`` filled is carried, and the request becomes what the broker
        runs: the carried quantity plus ``new``'s, at ``new``'s prices (and the order counts
        towards its day at that value, as for any change made at the broker)."""
        if (
            old.provider_order_id != self.broker_order_id
            or old.replaced_by != new.provider_order_id
        ):
            raise Conflict(
                "The report is about another broker order.", code="broker_order_mismatch"
            )
        carried = self.carried_quantity + old.filled_quantity
        request = replace(
            self.request,
            quantity=carried + new.quantity,
            limit_price=new.limit_price,
            stop_price=new.stop_price,
        )
        moved = replace(
            self,
            request=request,
            broker_order_id=new.provider_order_id,
            carried_quantity=carried,
            filled_quantity=max(self.filled_quantity, carried),
            fills=_merged(self.fills, old.fills),
            estimated_value=_value_after_change(self, request),
            updated_at=now,
        )
        return moved._applied(new, now, None)

    def broker_change(self, change: OrderChange) -> OrderChange:
        """``change`` as the bound broker order takes it. A new quantity is the whole order's;
        where broker orders this one replaced (Schwab's modify) filled ``carried_quantity``
        already, the broker order is asked for the rest, so nothing is bought twice."""
        if change.quantity is None or not self.carried_quantity:
            return change
        if change.quantity <= self.carried_quantity:
            raise InvalidInput(
                "The new quantity must exceed what has already filled.", field="quantity"
            )
        return replace(change, quantity=change.quantity - self.carried_quantity)

    def modified(
        self,
        change: OrderChange,
        report: Order,
        now: datetime,
        *,
        estimated_value: Decimal | None = None,
    ) -> PlacedOrder:
        """The broker took a modification. ``report`` is the order it now runs: for a broker that
        replaces the order on modify (Schwab), a new broker id takes over from the old. The
        modification is a change of the order at ``now`` even when the broker's report
        otherwise tells nothing new. ``estimated_value`` is the changed order's value, as the
        order limits checked it."""
        carried = self.carried_quantity
        if report.provider_order_id != self.broker_order_id:
            carried = self.filled_quantity
        moved = replace(
            self,
            request=self.changed_request(change),
            broker_order_id=report.provider_order_id,
            carried_quantity=carried,
            estimated_value=estimated_value,
            updated_at=now,
        )
        return moved._applied(report, now, None)


def _value_after_change(order: PlacedOrder, request: OrderRequest) -> Decimal | None:
    """What ``order`` counts towards its day once the broker runs it as ``request``: its
    quantity times its limit (else stop) price; a market order keeps the value it was checked
    at."""
    value = request.priced_value
    return order.estimated_value if value is None else value


def _merged(known: tuple[Fill, ...], reported: Iterable[Fill]) -> tuple[Fill, ...]:
    seen = {fill.trade_id for fill in known}
    return known + tuple(fill for fill in reported if fill.trade_id not in seen)


# ------------------------------------------------------------------------------ listing


@dataclass(frozen=True, slots=True)
class OrderFilters:
    """What a listing of a user's orders may be narrowed to (``None``: any)."""

    statuses: frozenset[OrderStatus] | None = None
    connection_id: UUID | None = None
    account_id: str | None = None
    """The provider's account id, as orders are placed on it (exact match)."""
    symbol: str | None = None
    side: OrderSide | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None

    def __post_init__(self) -> None:
        """An empty range is a mistake, refused as the transactions' listing refuses it."""
        if (
            self.created_from is not None
            and self.created_before is not None
            and self.created_from >= self.created_before
        ):
            raise InvalidInput("The range ends before it starts.", field="until")

    def matches(self, order: PlacedOrder) -> bool:
        return (
            (self.statuses is None or order.status in self.statuses)
            and (self.connection_id is None or order.connection_id == self.connection_id)
            and (self.account_id is None or order.account_id == self.account_id)
            and (self.symbol is None or order.instrument.symbol == self.symbol)
            and (self.side is None or order.request.side is self.side)
            and (self.created_from is None or order.created_at >= self.created_from)
            and (self.created_before is None or order.created_at < self.created_before)
        )


@dataclass(frozen=True, slots=True)
class OrderCursor:
    """A keyset position in a listing ordered by ``(created_at, id)``: the last order seen.
    Its text form is opaque to clients (base64url); a malformed one is ``InvalidInput``."""

    created_at: datetime
    order_id: UUID

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", ensure_utc(self.created_at, field="cursor"))

    @classmethod
    def after(cls, order: PlacedOrder) -> OrderCursor:
        return cls(order.created_at, order.id)

    def encode(self) -> str:
        text = f"{self.created_at.isoformat()}|{self.order_id}"
        return base64.urlsafe_b64encode(text.encode("ascii")).decode("ascii").rstrip("=")

    @classmethod
    def decode(cls, text: str) -> OrderCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
            stamp, order_id = raw.split("|")
            return cls(datetime.fromisoformat(stamp), UUID(order_id))
        except (ValueError, binascii.Error, UnicodeDecodeError, InvalidInput) as exc:
            raise InvalidInput("Not a cursor of this listing.", field="cursor") from exc

    def key(self) -> tuple[datetime, UUID]:
        return (self.created_at, self.order_id)


# ------------------------------------------------------------------------------ preview


@dataclass(frozen=True, slots=True)
class ChargeSchedule:
    """A simple estimate of what a broker charges on an equity order, as fractions of its value:
    brokerage (capped per order) and transaction tax (``delivery_tax_rate`` on delivery and
    margin trades, both sides; ``intraday_sell_tax_rate`` on intraday sells). An estimate for
    a preview, never what is booked: the broker's contract note decides."""

    brokerage_rate: Decimal = Decimal(0)
    brokerage_cap: Decimal | None = None
    delivery_tax_rate: Decimal = Decimal(0)
    intraday_sell_tax_rate: Decimal = Decimal(0)

    def estimate(self, value: Decimal, side: OrderSide, product: Product) -> Decimal:
        brokerage = value * self.brokerage_rate
        if self.brokerage_cap is not None:
            brokerage = min(brokerage, self.brokerage_cap)
        if product is Product.INTRADAY:
            tax = value * self.intraday_sell_tax_rate if side is OrderSide.SELL else Decimal(0)
        else:
            tax = value * self.delivery_tax_rate
        return (brokerage + tax).quantize(Decimal("0.01"), ROUND_HALF_UP)


_INDIA_DISCOUNT_BROKER = ChargeSchedule(
    brokerage_rate=Decimal("0.0003"),
    brokerage_cap=Decimal(20),
    delivery_tax_rate=Decimal("0.001"),
    intraday_sell_tax_rate=Decimal("0.00025"),
)

CHARGE_SCHEDULES: Mapping[str, ChargeSchedule] = {
    "zerodha": _INDIA_DISCOUNT_BROKER,
    "upstox": _INDIA_DISCOUNT_BROKER,
    "groww": _INDIA_DISCOUNT_BROKER,
    "schwab": ChargeSchedule(),
}
"""Estimated charges per provider: the Indian discount brokers 0.03 % brokerage capped at 20 per
order plus securities transaction tax (0.1 % delivery, 0.025 % intraday sell side); Schwab no
commission on online equity trades. A provider not listed has no estimate."""


@dataclass(frozen=True, slots=True)
class OrderPreview:
    """What an order would do, without sending it: its problems (each naming a field), its
    estimated cost (quantity × limit price, else × last price), estimated charges (an estimate
    from :data:`CHARGE_SCHEDULES`, ``None`` where unknown), and the position quantity and cash
    after it (``None`` where the broker could not say)."""

    problems: tuple[FieldError, ...]
    estimated_cost: Money | None = None
    estimated_charges: Money | None = None
    projected_position: Decimal | None = None
    projected_cash: Money | None = None

    @property
    def is_valid(self) -> bool:
        return not self.problems

    @classmethod
    def of(
        cls,
        draft: OrderDraft,
        problems: Iterable[FieldError],
        *,
        instrument: Instrument | None,
        last_price: Money | None,
        charges: ChargeSchedule | None,
        position: Decimal | None,
        cash: Money | None,
    ) -> OrderPreview:
        """Work out the preview; amounts need the instrument and a price (the order's limit
        price, else the last price)."""
        problems = tuple(problems)
        if instrument is None:
            return cls(problems)
        price = draft.limit_price if is_positive_decimal(draft.limit_price) else None
        unit = (
            Money(price, instrument.currency)
            if price is not None
            else last_price
            if last_price is not None and last_price.currency == instrument.currency
            else None
        )
        quantity = draft.quantity if is_positive_decimal(draft.quantity) else None
        if unit is None or quantity is None:
            return cls(problems)
        cost = unit * quantity
        fee = (
            None
            if charges is None
            else Money(charges.estimate(cost.amount, draft.side, draft.product), cost.currency)
        )
        sign = 1 if draft.side is OrderSide.BUY else -1
        projected_position = (
            None
            if position is None
            else ARITHMETIC.add(position, ARITHMETIC.multiply(sign, quantity))
        )
        projected_cash = None
        if cash is not None and cash.currency == cost.currency:
            projected_cash = cash - sign * cost - (fee or Money.zero(cost.currency))
        return cls(problems, cost, fee, projected_position, projected_cash)
