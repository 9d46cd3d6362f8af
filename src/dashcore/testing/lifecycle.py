"""The order lifecycle as the harness observes it through an adapter.

:class:`OrderWatch` remembers the last state seen of every order and checks each new sighting:

- the status is a normalized :class:`OrderStatus` and the provider's own spelling is kept;
- the move from the last sighting is one :func:`can_transition` allows (a provider reading
  "open" after "filled", or an adapter mapping a spelling to the wrong status, shows here);
- quantities agree with the status: ``filled`` means all of it, ``partially_filled`` means
  some but not all, and the filled quantity never shrinks nor exceeds the order's quantity.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dashcore.domain.orders import Order, OrderStatus, can_transition

__all__ = ["OrderWatch", "status_problems"]


def status_problems(order: Order, context: str) -> list[str]:
    """What is wrong with one order's status on its own (no history needed)."""
    name = f"order {order.provider_order_id} ({context})"
    status: object = order.status
    if not isinstance(status, OrderStatus):
        return [f"{name} has status {status!r}, which is not an OrderStatus"]
    problems: list[str] = []
    if not isinstance(order.provider_status, str) or not order.provider_status:
        problems.append(f"{name} does not keep the provider's status spelling")
    if not 0 <= order.filled_quantity <= order.quantity:
        problems.append(
            f"{name} has filled {order.filled_quantity} of {order.quantity}, out of range"
        )
    if order.status is OrderStatus.FILLED and order.filled_quantity != order.quantity:
        problems.append(
            f"{name} reads filled (provider status {order.provider_status!r}) with only "
            f"{order.filled_quantity} of {order.quantity} filled"
        )
    if order.status is OrderStatus.PARTIALLY_FILLED and not (
        0 < order.filled_quantity < order.quantity
    ):
        problems.append(
            f"{name} reads partially_filled (provider status {order.provider_status!r}) with "
            f"{order.filled_quantity} of {order.quantity} filled"
        )
    return problems


@dataclass(slots=True)
class _Seen:
    status: OrderStatus
    provider_status: str
    filled_quantity: Decimal
    context: str


class OrderWatch:
    """The last sighting of every order, checked against each new one."""

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}

    def last_status(self, order_id: str) -> OrderStatus | None:
        seen = self._seen.get(order_id)
        return None if seen is None else seen.status

    @property
    def order_ids(self) -> list[str]:
        return list(self._seen)

    def observe(self, order: Order, context: str) -> None:
        """Record a sighting; ``AssertionError`` naming the order and both sightings when the
        status or quantities break the lifecycle."""
        problems = status_problems(order, context)
        assert not problems, "; ".join(problems)
        before = self._seen.get(order.provider_order_id)
        if before is not None:
            assert can_transition(before.status, order.status), (
                f"order {order.provider_order_id} went from {before.status} (provider status "
                f"{before.provider_status!r}, {before.context}) to {order.status} (provider "
                f"status {order.provider_status!r}, {context}); the order lifecycle forbids it: "
                "check the adapter's status table"
            )
            assert order.filled_quantity >= before.filled_quantity, (
                f"order {order.provider_order_id}'s filled quantity went down from "
                f"{before.filled_quantity} ({before.context}) to {order.filled_quantity} "
                f"({context})"
            )
        self._seen[order.provider_order_id] = _Seen(
            order.status, order.provider_status, order.filled_quantity, context
        )
