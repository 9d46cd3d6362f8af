"""dashcore: the pure core of a financial-data aggregation and brokerage trading platform.

The names exported here are the stable public API of the core; adapters and entrypoints live in
their own ``dashcore_*`` packages. ``tests/unit/test_public_api.py`` pins this list.
"""

from importlib.metadata import PackageNotFoundError, version

from dashcore.domain.audit import AuditEvent, AuditOutcome
from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore.domain.errors import (
    AuditChainBroken,
    AuthenticationFailed,
    BadRequest,
    Conflict,
    DashcoreError,
    DecryptionFailed,
    DependencyUnavailable,
    FieldError,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    NotSupported,
    OrderLimitExceeded,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
    StepUpRequired,
)
from dashcore.domain.money import Currency, Money

try:
    __version__ = version("dashcore")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "AuditChainBroken",
    "AuditEvent",
    "AuditOutcome",
    "AuthenticationFailed",
    "BadRequest",
    "CallerContext",
    "Conflict",
    "Currency",
    "DashcoreError",
    "DecryptionFailed",
    "DependencyUnavailable",
    "Email",
    "FieldError",
    "Forbidden",
    "IntegrityError",
    "InvalidInput",
    "Money",
    "NotFound",
    "NotSupported",
    "OrderLimitExceeded",
    "OrderStateUnknown",
    "ProviderUnavailable",
    "RateLimited",
    "ReauthRequired",
    "StepUpRequired",
    "__version__",
]
