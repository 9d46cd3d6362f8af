"""What an access token says about its bearer (security.md JWT-2).

An access token is a short-lived statement: *this user (``subject``), in this session
(``session_id``), authenticated at ``auth_time`` by these methods (``amr``), acts with this
``role`` until ``expires_at``*. Each token has its own id (``token_id``, the JWT ``jti``).
Revocation is keyed by ``session_id`` / ``token_id``, never by the token's bytes (JWT-3).

Instants are UTC and carried at whole-second precision (JWT NumericDate): a claim set built
with microseconds comes back from a token with them truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from dashcore.domain.errors import InvalidInput
from dashcore.domain.time import ensure_utc

__all__ = ["ACCESS_ROLES", "MAX_IDENTIFIER_LENGTH", "AccessClaims"]

ACCESS_ROLES = frozenset({"user", "admin"})
MAX_IDENTIFIER_LENGTH = 128
_MAX_METHODS = 8


def _refuse(message: str, field: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_access_claims", field=field)


def _check_identifier(value: object, field: str) -> None:
    if not isinstance(value, str) or not value or len(value) > MAX_IDENTIFIER_LENGTH:
        raise _refuse(f"must be 1 to {MAX_IDENTIFIER_LENGTH} characters", field)
    if not value.isascii() or not value.isprintable():
        raise _refuse("must be printable ASCII", field)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The claims of one access token.

    Rules: ``subject`` is a user id; ``session_id`` and ``token_id`` are 1-128 printable ASCII
    characters; ``role`` is ``user`` or ``admin``; ``amr`` names at least one authentication
    method (RFC 8176 values such as ``pwd``, ``otp``); the user authenticated no later than the
    token was issued, and the token expires strictly after it was issued.
    """

    subject: UUID
    session_id: str
    token_id: str
    issued_at: datetime
    expires_at: datetime
    auth_time: datetime
    role: str
    amr: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.subject, UUID):
            raise _refuse("must be a user id", "subject")
        _check_identifier(self.session_id, "session_id")
        _check_identifier(self.token_id, "token_id")
        for name in ("issued_at", "expires_at", "auth_time"):
            object.__setattr__(self, name, ensure_utc(getattr(self, name), field=name))
        if self.expires_at <= self.issued_at:
            raise _refuse("must be after issued_at", "expires_at")
        if self.auth_time > self.issued_at:
            raise _refuse("cannot be after issued_at", "auth_time")
        if not isinstance(self.role, str) or self.role not in ACCESS_ROLES:
            raise _refuse("must be one of " + ", ".join(sorted(ACCESS_ROLES)), "role")
        if not isinstance(self.amr, tuple) or not 0 < len(self.amr) <= _MAX_METHODS:
            raise _refuse(f"must name 1 to {_MAX_METHODS} methods", "amr")
        for method in self.amr:
            _check_identifier(method, "amr")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
