from __future__ import annotations

from typing import Protocol

from dashcore.domain.ratelimit import RateDecision, RatePolicy

__all__ = ["RateLimiter"]


class RateLimiter(Protocol):
    """Counters of cost per ``(policy, key)`` over the policy's rolling window.

    ``key`` is whatever partitions the traffic (an IP bucket, ``user:<id>``, a canonical email
    plus IP); it is opaque to the limiter and never stored in the clear by an adapter that
    leaves the process. Counters are shared by every process that uses the same store.
    """

    async def hit(self, policy: RatePolicy, key: str, cost: int = 1) -> RateDecision:
        """Consume ``cost`` if it fits in what remains; a refused hit consumes nothing."""
        ...

    async def peek(self, policy: RatePolicy, key: str) -> RateDecision:
        """The current state without consuming; ``allowed`` says whether one more unit fits."""
        ...

    async def reset(self, policy: RatePolicy, key: str) -> None:
        """Forget the counter (after a successful login, an administrator's unlock)."""
        ...
