"""Audit events and their hash chains.

Every security-relevant action appends one :class:`AuditEvent` through the ``AuditLog`` port, in
the same unit of work as the change it records (nothing is changed unaudited).

Chain granularity: **one chain per actor** (``user:<id>``, or ``system`` for events without a
human actor). Each recorded event stores its chain, its position ``seq`` (1, 2, 3, … without gaps)
and the SHA-256 of its predecessor in that chain; its own hash covers every field plus that link.
Appends for different actors never contend; appends for one actor serialize on that chain's head
row, which is the order they happened in anyway. A per-chain head (last seq + hash) is kept next to
the events, so deleting the newest events of a chain is detected as well as editing any of them.
Whole-chain deletion (events and head together) needs shipping to write-once storage to detect;
the chain makes every other tampering visible to ``dashcore audit verify``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from dashcore.domain.secrecy import is_secret_name
from dashcore.domain.time import ensure_utc

__all__ = [
    "GENESIS_HASH",
    "SYSTEM_CHAIN",
    "AuditEvent",
    "AuditOutcome",
    "ChainBreak",
    "ChainHead",
    "ChainVerifier",
    "MetadataValue",
    "RecordedAuditEvent",
    "canonical_json",
    "chain_for_actor",
    "compute_event_hash",
]

GENESIS_HASH = "0" * 64
SYSTEM_CHAIN = "system"

MetadataValue = str | int | bool | None


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    DENIED = "denied"
    ERROR = "error"


def chain_for_actor(actor: str | None) -> str:
    return actor if actor else SYSTEM_CHAIN


def _clean_text(value: str) -> str:
    """Neutralise log injection: CR, LF and other control characters are escaped."""
    if value.isprintable():  # nearly always: one scan in C instead of a Python step a character
        return value
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in value
    )


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, by whom, to what, with which outcome — never a secret value.

    ``action`` follows the OWASP logging vocabulary (``authn_login_fail``, ``key_rotated``).
    ``metadata`` holds scalar facts; a key that names a secret (``password``, ``token``…) is
    refused so that a careless call cannot write one into the permanent record.
    """

    id: UUID
    occurred_at: datetime
    action: str
    outcome: AuditOutcome
    actor: str | None = None
    target: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None
    metadata: Mapping[str, MetadataValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", ensure_utc(self.occurred_at, field="occurred_at"))
        if not self.action or not self.action.replace("_", "").replace(".", "").isalnum():
            raise ValueError(f"audit action must be a snake_case event name, got {self.action!r}")
        for key, value in self.metadata.items():
            if is_secret_name(key):
                raise ValueError(f"audit metadata key {key!r} names a secret")
            if not isinstance(value, str | int | bool | type(None)):
                raise ValueError(f"audit metadata {key!r} must be a scalar")
        for name in ("actor", "target", "user_agent"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _clean_text(value))
        object.__setattr__(
            self,
            "metadata",
            {
                key: _clean_text(value) if isinstance(value, str) else value
                for key, value in self.metadata.items()
            },
        )

    @property
    def chain(self) -> str:
        return chain_for_actor(self.actor)


@dataclass(frozen=True, slots=True)
class RecordedAuditEvent:
    """An event as stored: its place in its chain and the hashes that link it."""

    event: AuditEvent
    chain: str
    seq: int
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainHead:
    chain: str
    seq: int
    hash: str


def canonical_json(document: Mapping[str, object]) -> str:
    """The one JSON spelling that hashes are computed over: sorted keys, no spaces, ASCII."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def compute_event_hash(event: AuditEvent, *, chain: str, seq: int, prev_hash: str) -> str:
    """SHA-256 over a canonical JSON encoding of every field and the link to the predecessor."""
    document = {
        "id": str(event.id),
        "occurred_at": event.occurred_at.isoformat(),
        "action": event.action,
        "outcome": str(event.outcome),
        "actor": event.actor,
        "target": event.target,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "metadata": dict(event.metadata),
        "chain": chain,
        "seq": seq,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place where a chain stops verifying, and why."""

    chain: str
    seq: int
    event_id: UUID | None
    reason: str


class ChainVerifier:
    """Checks records fed in (chain, seq) order, one at a time, in constant memory.

    Per chain: seq starts at 1 without gaps; each ``prev_hash`` equals the predecessor's hash;
    each stored hash equals the recomputed one; the chain ends where its head says it does.

    The log keeps growing while it is verified. ``heads`` is read *before* the records, so a
    record beyond its chain's head was appended after that snapshot: it is skipped (the next run
    checks it). A chain without a head in the snapshot is checked against ``late_heads`` given to
    :meth:`finish`, read after the records.
    """

    def __init__(self, heads: Mapping[str, ChainHead]) -> None:
        self._heads = heads
        self._chain: str | None = None
        self._next_seq = 1
        self._previous = GENESIS_HASH
        self._seen: set[str] = set()
        self._unanchored: dict[str, ChainHead] = {}
        self.events_checked = 0

    def _close_chain(self) -> ChainBreak | None:
        if self._chain is None:
            return None
        tail = ChainHead(self._chain, self._next_seq - 1, self._previous)
        head = self._heads.get(self._chain)
        if head is None:
            self._unanchored[self._chain] = tail
            return None
        if head.seq != tail.seq or head.hash != tail.hash:
            return ChainBreak(
                tail.chain, tail.seq + 1, None, f"events after seq {tail.seq} are missing"
            )
        return None

    def feed(self, record: RecordedAuditEvent) -> ChainBreak | None:
        if record.chain != self._chain:
            broken = self._close_chain()
            if broken:
                return broken
            self._chain, self._next_seq, self._previous = record.chain, 1, GENESIS_HASH
            self._seen.add(record.chain)
        head = self._heads.get(record.chain)
        if head is not None and record.seq > head.seq:
            return None  # appended after the snapshot of heads
        self.events_checked += 1
        event_id = record.event.id
        if record.seq != self._next_seq:
            return ChainBreak(record.chain, self._next_seq, event_id, "sequence gap")
        if record.prev_hash != self._previous:
            return ChainBreak(record.chain, record.seq, event_id, "link to predecessor broken")
        recomputed = compute_event_hash(
            record.event, chain=record.chain, seq=record.seq, prev_hash=record.prev_hash
        )
        if recomputed != record.hash:
            return ChainBreak(record.chain, record.seq, event_id, "event content altered")
        self._previous, self._next_seq = record.hash, self._next_seq + 1
        return None

    def finish(self, late_heads: Mapping[str, ChainHead]) -> ChainBreak | None:
        broken = self._close_chain()
        if broken:
            return broken
        for chain in sorted(set(self._heads) - self._seen):
            return ChainBreak(chain, 1, None, "every event of the chain is missing")
        for chain, tail in sorted(self._unanchored.items()):
            head = late_heads.get(chain)
            if head is None:
                return ChainBreak(chain, tail.seq, None, "chain has no head record")
            if head.seq < tail.seq or (head.seq == tail.seq and head.hash != tail.hash):
                return ChainBreak(chain, tail.seq, None, "head record does not match the chain")
        return None
