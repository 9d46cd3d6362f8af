"""The RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-10) of rate decisions:
written by the rate-limit middleware for the edge's policies and by the problem responses of
a use case's own refusal (the per-account login limit), so that a 429 always names the budget
that ran out."""

from __future__ import annotations

from collections.abc import Iterable

from dashcore.domain.ratelimit import RateDecision

__all__ = ["rate_limit_field", "rate_limit_policy_field"]


def rate_limit_policy_field(decisions: Iterable[RateDecision]) -> str:
    """``RateLimit-Policy``: ``"name";q=<limit>;w=<window>`` per policy, comma-separated."""
    return ", ".join(f'"{d.policy.name}";q={d.policy.limit};w={d.policy.window}' for d in decisions)


def rate_limit_field(decisions: Iterable[RateDecision]) -> str:
    """``RateLimit``: ``"name";r=<remaining>;t=<reset_after>`` per policy, comma-separated."""
    return ", ".join(f'"{d.policy.name}";r={d.remaining};t={d.reset_after}' for d in decisions)
