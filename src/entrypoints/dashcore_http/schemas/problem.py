"""The RFC 9457 problem document every error response carries."""

from __future__ import annotations

import msgspec

__all__ = ["FieldProblem", "OrderLimitProblem", "Problem"]


class FieldProblem(msgspec.Struct, frozen=True):
    """One invalid input field; ``field`` is a dotted path (``address.city``)."""

    field: str
    message: str


class OrderLimitProblem(msgspec.Struct, frozen=True):
    """The order limit an order breaks (``order_limit_exceeded``): which one (``name``:
    ``max_order_value``, ``max_order_quantity`` or ``max_daily_value``), in which ``currency``,
    the ``limit``, and what the order asked (``requested``: its quantity or value, or for the
    daily limit the day's total with it; ``null`` when its value cannot be known)."""

    name: str
    currency: str
    limit: str
    requested: str | None


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    """``application/problem+json``.

    ``type`` is ``/problems/<code>``: a stable relative URI per kind of problem; ``code`` is the
    same identifier on its own, the value clients switch on. ``instance`` is the request path,
    ``request_id`` the id echoed in ``X-Request-ID`` (quote it when reporting a problem).
    """

    type: str
    title: str
    status: int
    detail: str
    code: str
    instance: str
    request_id: str
    errors: tuple[FieldProblem, ...] = ()
    dependency: str | None = None
    checks: dict[str, str] | None = None
    max_age: int | None = None
    """Step-up problems: how old, in seconds, a sign-in may be for the operation."""
    order_limit: OrderLimitProblem | None = None
    """``order_limit_exceeded``: the limit the order breaks."""
