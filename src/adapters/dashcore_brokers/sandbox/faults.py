"""Programmable faults: what a broker does to a client on a bad day.

A :class:`FaultRule` matches requests by path (a shell-style pattern over the path below the
sandbox's mount point, e.g. ``/v2/user/*``) and optionally by method, and fires ``times`` times
(``None``: always). The first active matching rule, in the order added, decides:

- ``LATENCY``: wait ``seconds``, then serve the request normally;
- ``STATUS``: answer ``status`` (429, 500, 502, 503, …) with the broker's own error body, and a
  ``Retry-After`` header when ``retry_after`` is set;
- ``TIMEOUT``: hang for ``seconds`` (longer than a client waits), then answer 504;
- ``TIMEOUT_AFTER_ACCEPT``: serve the request in full (an order is placed, a cancel takes
  effect), withhold the answer, hang for ``seconds``, then answer 504. The client times out not
  knowing that the broker acted: the case an order gateway must reconcile (find the order by its
  client reference) rather than retry.

Control routes (``/__sandbox__/…``) are never subject to faults.
"""

from __future__ import annotations

import fnmatch
import itertools
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["FaultKind", "FaultPlan", "FaultRule"]

_DEFAULT_HANG_SECONDS = 30.0


class FaultKind(StrEnum):
    """How a fault disturbs a matching request."""

    LATENCY = "latency"
    STATUS = "status"
    TIMEOUT = "timeout"
    TIMEOUT_AFTER_ACCEPT = "timeout_after_accept"


@dataclass(slots=True)
class FaultRule:
    """One injected fault; ``remaining`` counts down the firings left (``None``: unlimited)."""

    path: str
    kind: FaultKind
    method: str | None = None
    status: int = 503
    seconds: float = _DEFAULT_HANG_SECONDS
    retry_after: int | None = None
    times: int | None = 1
    id: str = ""
    remaining: int | None = field(init=False)

    def __post_init__(self) -> None:
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or None for always")
        if self.seconds < 0:
            raise ValueError("seconds must not be negative")
        if not 400 <= self.status <= 599:
            raise ValueError("a fault status must be an HTTP error status (4xx or 5xx)")
        if self.method is not None:
            self.method = self.method.upper()
        self.remaining = self.times

    def matches(self, method: str, path: str) -> bool:
        """True when this rule still fires and covers ``method`` and ``path``."""
        if self.remaining == 0:
            return False
        if self.method is not None and self.method != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


class FaultPlan:
    """The ordered fault rules of one sandbox."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> FaultRule:
        """Arm ``rule`` after the existing ones; it receives an id if it has none."""
        if not rule.id:
            rule.id = f"fault-{next(self._ids)}"
        self._rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> bool:
        """Disarm one rule; False when no rule has that id."""
        before = len(self._rules)
        self._rules = [rule for rule in self._rules if rule.id != rule_id]
        return len(self._rules) < before

    def clear(self) -> None:
        """Disarm every rule."""
        self._rules.clear()

    @property
    def rules(self) -> tuple[FaultRule, ...]:
        """The armed rules, including spent ones (``remaining == 0``)."""
        return tuple(self._rules)

    def take(self, method: str, path: str) -> FaultRule | None:
        """The rule that fires for this request, counting the firing; ``None`` when none does."""
        for rule in self._rules:
            if rule.matches(method, path):
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
        return None
