"""The one error hierarchy of dashcore.

Every error a use case can raise derives from :class:`DashcoreError` and carries a stable,
machine-readable ``code``. Entrypoints map each class to one outcome (HTTP status, CLI exit
code) in a single table; nothing outside the core decides what an error *means*.

    DashcoreError
    ├── InvalidInput                 the caller sent something unacceptable (field errors attached)
    │   └── OrderLimitExceeded       an order above one of the user's limits (security.md ORD-3)
    ├── NotFound                     the thing does not exist (or the caller may not know it does)
    ├── Conflict                     the request contradicts current state (duplicates, races)
    ├── AuthenticationFailed         who you are could not be established
    ├── Forbidden                    you are known but not allowed
    ├── RateLimited                  slow down; ``retry_after`` seconds
    ├── ReauthRequired               a provider connection needs the user to log in again
    ├── ProviderUnavailable          a broker cannot be reached or is failing
    ├── OrderStateUnknown            an order was sent but its fate is not yet known
    ├── DependencyUnavailable        our own database, cache or key service is down
    └── IntegrityError               stored data failed an integrity check
        ├── DecryptionFailed         a ciphertext does not open under its context
        └── AuditChainBroken         the audit hash chain does not verify
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dashcore.domain.ratelimit import RatePolicy

__all__ = [
    "AuditChainBroken",
    "AuthenticationFailed",
    "BadRequest",
    "Conflict",
    "DashcoreError",
    "DecryptionFailed",
    "DependencyUnavailable",
    "FieldError",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "NotFound",
    "NotSupported",
    "OrderLimitExceeded",
    "OrderStateUnknown",
    "ProviderUnavailable",
    "RateLimited",
    "ReauthRequired",
    "StepUpRequired",
]


class DashcoreError(Exception):
    """Base of every error the core raises. ``code`` is stable: clients may switch on it."""

    code: str = "dashcore_error"
    default_message: str = "An error occurred."

    def __init__(self, message: str | None = None, *, code: str | None = None) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        super().__init__(self.message)

    def __repr__(self) -> str:
        # No ``code=``: the log redactor takes a ``code=`` pair for an OAuth or one-time code.
        return f"{type(self).__name__}[{self.code}]({self.message!r})"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field; ``field`` is a dotted path (``address.city``)."""

    field: str
    message: str


class InvalidInput(DashcoreError):
    code = "invalid_input"
    default_message = "The request contains invalid data."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        errors: tuple[FieldError, ...] = (),
        field: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        if field is not None:
            errors = (FieldError(field, self.message), *errors)
        self.errors = errors


class OrderLimitExceeded(InvalidInput):
    """An order above one of the caller's order limits (``limit``: ``max_order_value``,
    ``max_order_quantity`` or ``max_daily_value``, in ``currency``); nothing was sent or
    stored. ``requested`` is the order's quantity or value (for the daily limit, the day's
    total with the order), ``None`` when its value cannot be known."""

    code = "order_limit_exceeded"

    def __init__(
        self,
        message: str,
        *,
        limit: str,
        currency: str,
        maximum: Decimal,
        requested: Decimal | None,
        field: str,
    ) -> None:
        super().__init__(message, field=field)
        self.limit = limit
        self.currency = currency
        self.maximum = maximum
        self.requested = requested


class BadRequest(InvalidInput):
    """A request that cannot be used as sent, whatever its fields say: a one-time state that
    is spent, expired or someone else's (HTTP 400 rather than 422)."""

    code = "bad_request"
    default_message = "This request cannot be used."


class NotFound(DashcoreError):
    code = "not_found"
    default_message = "The resource does not exist."


class Conflict(DashcoreError):
    code = "conflict"
    default_message = "The request conflicts with the current state."


class AuthenticationFailed(DashcoreError):
    code = "authentication_failed"
    default_message = "Authentication failed."


class StepUpRequired(AuthenticationFailed):
    """The caller is signed in, but not recently enough (or not with the account's strongest
    factor) for this operation: re-authenticate (``POST /auth/step-up``) and retry.
    ``max_age`` is how old, in seconds, an authentication may be (STEP-1, RFC 9470)."""

    code = "step_up_required"
    default_message = "This needs a recent sign-in: confirm it's you, then try again."

    def __init__(self, message: str | None = None, *, max_age: int) -> None:
        super().__init__(message)
        self.max_age = max_age


class Forbidden(DashcoreError):
    code = "forbidden"
    default_message = "You are not allowed to do this."


class NotSupported(DashcoreError):
    """The provider cannot do what was asked (an operation, order type, product or validity
    outside its capability map); nothing was sent to it."""

    code = "not_supported"
    default_message = "The provider does not support this."


class RateLimited(DashcoreError):
    """Refused by a rate limit; ``policy``, when given, is the one that refused, so that the
    refusal can say which budget ran out (the HTTP ``RateLimit`` fields)."""

    code = "rate_limited"
    default_message = "Too many requests."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int,
        code: str | None = None,
        policy: RatePolicy | None = None,
    ):
        super().__init__(message, code=code)
        self.retry_after = max(0, retry_after)
        self.policy = policy


class ReauthRequired(DashcoreError):
    code = "reauth_required"
    default_message = "The provider connection must be re-authorised."


class ProviderUnavailable(DashcoreError):
    code = "provider_unavailable"
    default_message = "The provider cannot be reached right now."

    def __init__(
        self, message: str | None = None, *, retry_after: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


NOTHING_SENT_CODES: frozenset[str] = frozenset({"provider_unreachable", "provider_circuit_open"})
"""``ProviderUnavailable`` codes that prove a request never reached the provider (no connection
could be opened; an open circuit breaker). Only a write that failed with one of these may be
sent again; any other failure of a write may have reached the provider."""


class OrderStateUnknown(DashcoreError):
    code = "order_state_unknown"
    default_message = "The order was sent but its state is not yet confirmed."


class DependencyUnavailable(DashcoreError):
    """One of our own services (database, cache, key service) is not answering."""

    code = "dependency_unavailable"
    default_message = "A required service is unavailable."

    def __init__(
        self,
        message: str | None = None,
        *,
        dependency: str,
        retry_after: int | None = 5,
        code: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.dependency = dependency
        self.retry_after = retry_after


class IntegrityError(DashcoreError):
    """Stored data failed a check: a fail-closed condition, never a client mistake."""

    code = "integrity_error"
    default_message = "Stored data failed an integrity check."


class DecryptionFailed(IntegrityError):
    code = "decryption_failed"
    default_message = "A sealed secret could not be opened."


class AuditChainBroken(IntegrityError):
    code = "audit_chain_broken"
    default_message = "The audit chain does not verify."

    def __init__(self, message: str | None = None, *, details: Mapping[str, str] | None = None):
        super().__init__(message)
        self.details = dict(details or {})
