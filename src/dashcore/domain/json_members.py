"""JSON objects that name a member once (security reference b.8: duplicate keys are a 400).

A JSON object may legally repeat a name, and parsers disagree on which value wins: Python's
and msgspec's keep the last, others the first. A proxy, a web application firewall or a
signer that reads ``{"password": "x", "password": "y"}`` differently from us would check one
value while we act on the other, so an object that repeats a name is refused outright. Use
:func:`unique_members` as ``json.loads``'s ``object_pairs_hook``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DuplicateMember", "unique_members"]


class DuplicateMember(ValueError):
    """A JSON object named ``name`` more than once."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The JSON names the member {name!r} more than once in one object.")
        self.name = name


def unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of ``pairs``; :class:`DuplicateMember` when a name comes twice."""
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateMember(name)
            seen.add(name)
    return members
