"""The RFC 9457 problem document every error response carries."""

from __future__ import annotations

import msgspec

__all__ = ["FieldProblem", "Problem"]


class FieldProblem(msgspec.Struct, frozen=True):
    """One invalid input field; ``field`` is a dotted path (``address.city``)."""

    field: str
    message: str


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
