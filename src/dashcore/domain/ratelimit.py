"""Rate-limit policies and decisions (security.md RL-1, LOCK-2).

A :class:`RatePolicy` allows ``limit`` units of cost per rolling ``window`` of seconds for one
key (an IP bucket, a user, an account+IP pair). Its ``name`` is what clients see in the
``RateLimit-Policy`` and ``RateLimit`` fields, so it is a short lowercase token.

A :class:`RateDecision` is the answer to one request against one policy:

- ``remaining`` is what is left of the quota *after* this request, ``0 <= remaining <= limit``
  (a refused request consumes nothing; it is refused when its cost exceeds what remains);
- ``reset_after`` is the whole number of seconds until quota is restored, ``0 < t <= window``,
  rounded *up*: a client that waits ``reset_after`` seconds is never refused for that policy
  because it came back early. With a full quota the answer is the whole window.

When several policies apply to one request, it is refused if any refuses, and the client may
retry once every refusing policy has reset: :func:`retry_after` is the largest ``reset_after``
among the refusals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dashcore.domain.errors import InvalidInput

__all__ = ["RateDecision", "RatePolicy", "retry_after"]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """``limit`` units per ``window`` seconds; ``name`` is a token: ``[a-z][a-z0-9_]{0,63}``."""

    name: str
    limit: int
    window: int
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidInput(
                "A rate policy name is a lowercase token.", code="invalid_rate_policy", field="name"
            )
        if not _positive_int(self.limit):
            raise InvalidInput(
                "A rate policy limit is a positive integer.",
                code="invalid_rate_policy",
                field="limit",
            )
        if not _positive_int(self.window):
            raise InvalidInput(
                "A rate policy window is a positive number of seconds.",
                code="invalid_rate_policy",
                field="window",
            )

    def scaled_down(self, divisor: int) -> RatePolicy:
        """The same policy with ``limit // divisor`` (at least 1): one process's share."""
        if not _positive_int(divisor):
            raise InvalidInput("The divisor is a positive integer.", code="invalid_rate_policy")
        limit = max(1, self.limit // divisor)
        return RatePolicy(self.name, limit, self.window, self.description)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one request against one policy (see the module docstring)."""

    policy: RatePolicy
    allowed: bool
    remaining: int
    reset_after: int

    def __post_init__(self) -> None:
        if not 0 <= self.remaining <= self.policy.limit:
            raise InvalidInput("remaining is outside [0, limit].", code="invalid_rate_decision")
        if not 0 < self.reset_after <= self.policy.window:
            raise InvalidInput("reset_after is outside (0, window].", code="invalid_rate_decision")

    @property
    def limit(self) -> int:
        return self.policy.limit

    @classmethod
    def from_window(
        cls, policy: RatePolicy, *, allowed: bool, remaining: int, seconds_to_reset: float
    ) -> RateDecision:
        """A decision from a counter's raw view, clamped into the invariants.

        ``seconds_to_reset`` may be fractional, zero or negative (clock skew between
        processes, an entry expiring as it is read): it is rounded up and kept within
        ``(0, window]``; a quota that is full resets a whole window from now.
        """
        left = min(max(remaining, 0), policy.limit)
        if left >= policy.limit or not math.isfinite(seconds_to_reset):
            wait = policy.window
        else:
            wait = min(max(math.ceil(seconds_to_reset), 1), policy.window)
        return cls(policy, allowed, left, wait)


def retry_after(decisions: Iterable[RateDecision]) -> int | None:
    """Seconds until every refusing policy has reset; ``None`` when nothing was refused."""
    waits = [decision.reset_after for decision in decisions if not decision.allowed]
    return max(waits) if waits else None
