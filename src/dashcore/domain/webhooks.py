"""Inbound broker webhooks: who may be believed, and what a delivery is (issue #8; security.md
WH-1..4, brokers.md 2.8 and 3.8).

Three schemes, chosen by the provider key of the route (``/webhooks/{provider}``):

* **Generic signed events** (any provider key but ``zerodha`` and ``upstox``): the sender signs
  ``<event id>.<timestamp>.<raw body bytes>`` (the Standard Webhooks layout that security.md
  WH-1 names) with HMAC-SHA256 under a shared secret, and sends

  - ``X-Broker-Event-Id``: its id for the event, 1-128 of ``A-Z a-z 0-9 _ - :`` (the dedupe key);
  - ``X-Broker-Timestamp``: when it signed, in whole Unix seconds (digits only);
  - ``X-Broker-Signature-Alg: HMAC-SHA256`` (any other algorithm is refused);
  - ``X-Broker-Signature``: the MAC in lowercase hex; up to eight of them separated by spaces
    while a sender signs with an old and a new secret (one match is enough).

  The timestamp lies in the signed bytes, so it cannot be moved to make an old delivery fresh;
  it must be within ``tolerance`` (300 s by default) of our clock, either way. MACs are
  compared in constant time against every configured secret (the primary, then the additional
  ones kept during a rotation), and the event records *which* secret matched (its label,
  never the secret). The additional secrets expire together at ``additional_until`` (WH-4):
  from then on a delivery signed only with one of them is refused
  (``signature_expired_secret``), while the primary verifies as before. The body is a JSON
  object with ``type`` (the event kind) and optional ``order_id`` and ``account_id`` (the
  broker's). Verification reads the raw bytes only:
  the same JSON with other whitespace, key order or escapes does not verify.
* **Zerodha Kite postbacks** (``zerodha``): the JSON order carries ``checksum`` =
  hex SHA-256 of ``order_id + order_timestamp + api_secret``. It proves the postback comes
  from someone who knows the app's secret, but covers neither the status nor the quantities,
  and has no freshness: the event is an untrusted *hint* (WH-2). Dedupe key:
  ``order_id|order_timestamp|status``.
* **Upstox order updates** (``upstox``): unsigned (Upstox documents no signature), so a hint
  by construction. Dedupe key: ``sha256:<digest of the raw body>``, so that an exact
  redelivery is recognised but nobody can claim a genuine future update's key in advance.

Whatever the scheme, the order must be re-fetched from the broker before anything is believed
about it. Each refusal is a :class:`WebhookRefused` (HTTP 401) whose ``reason`` is kept for the
audit trail but never told to the sender.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from dashcore.domain.connections import parse_provider_key
from dashcore.domain.errors import AuthenticationFailed, BadRequest
from dashcore.domain.json_members import DuplicateMember, unique_members
from dashcore.domain.time import ensure_utc

__all__ = [
    "ALGORITHM_HEADER",
    "DEFAULT_RETENTION",
    "DEFAULT_TOLERANCE",
    "EVENT_ID_HEADER",
    "HMAC_SHA256",
    "KITE_PROVIDER",
    "MIN_SECRET_BYTES",
    "SIGNATURE_HEADER",
    "STORED_BODY_MAX",
    "TIMESTAMP_HEADER",
    "UPSTOX_PROVIDER",
    "Delivery",
    "Verification",
    "VerifiedBy",
    "WebhookEvent",
    "WebhookPolicy",
    "WebhookRefused",
    "WebhookSecrets",
    "authenticates_each_delivery",
    "kite_checksum",
    "payload_digest",
    "sign_event",
]

SIGNATURE_HEADER = "x-broker-signature"
ALGORITHM_HEADER = "x-broker-signature-alg"
TIMESTAMP_HEADER = "x-broker-timestamp"
EVENT_ID_HEADER = "x-broker-event-id"
HMAC_SHA256 = "HMAC-SHA256"
DEFAULT_TOLERANCE = timedelta(seconds=300)
DEFAULT_RETENTION = timedelta(days=7)
"""How long a stored delivery is kept (security.md WH-3: dedupe retention 7 days)."""
MIN_SECRET_BYTES = 32
"""An HMAC key shorter than the hash's output weakens it (security.md WH-1: ≥ 32 bytes)."""
MAX_SIGNATURES = 8
STORED_BODY_MAX = 64 * 1024
"""The most of a raw body kept with its event; the digest always covers all of it."""
KITE_PROVIDER = "zerodha"
UPSTOX_PROVIDER = "upstox"

_EVENT_ID = re.compile(r"[A-Za-z0-9_:-]{1,128}", re.ASCII)
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_HEX_MAC = re.compile(r"[0-9a-f]{64}", re.ASCII)
_KIND = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)
# Kite's checksum hashes order_id + order_timestamp with no separator, so it is only unique
# while each part has its one shape: digits, then Kite's "2022-03-03 09:24:25". Found by QA:
# with any text accepted, a captured checksum also verified "2203030003089" with the
# timestamp "322022-03-03 09:24:25", a new order id and a new dedupe key.
_KITE_ORDER_ID = re.compile(r"[0-9]{1,32}", re.ASCII)
_KITE_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}", re.ASCII)
_FIELD_MAX = 128
MAX_EVENT_ID = 3 * _FIELD_MAX + 2
"""The longest dedupe key: three Kite fields and their separators."""


class WebhookRefused(AuthenticationFailed):
    """A delivery that does not prove where it comes from. The sender sees one answer for
    every cause (HTTP 401, ``invalid_webhook``); ``reason`` says which check failed, for the
    audit trail."""

    code = "invalid_webhook"
    default_message = "The webhook could not be verified."

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


def _malformed(detail: str) -> BadRequest:
    return BadRequest(detail, code="malformed_webhook", field="body")


class Verification(StrEnum):
    HMAC_SHA256 = "hmac_sha256"
    KITE_CHECKSUM = "kite_checksum"
    UNSIGNED = "unsigned"


@dataclass(frozen=True, slots=True)
class VerifiedBy:
    """How a delivery was verified and, for HMAC, the label of the secret that matched
    (``primary``, ``additional_1``, …). Spelled ``hmac_sha256:primary``, ``kite_checksum``,
    ``unsigned``."""

    method: Verification
    secret_label: str | None = None

    def __post_init__(self) -> None:
        if (self.method is Verification.HMAC_SHA256) != (self.secret_label is not None):
            raise ValueError("exactly the HMAC verifications name the secret that matched")

    def __str__(self) -> str:
        if self.secret_label is None:
            return self.method.value
        return f"{self.method.value}:{self.secret_label}"

    @classmethod
    def parse(cls, text: str) -> VerifiedBy:
        method, _, label = text.partition(":")
        return cls(Verification(method), label or None)


@dataclass(frozen=True, slots=True)
class WebhookSecrets:
    """The shared secrets of generic signed events: the primary, then the additional ones
    accepted while senders move to a new secret (WH-4). Each is at least 32 bytes. No secret
    at all is allowed: then no generic event verifies.

    Additional secrets are a rotation's overlap, never a second permanent key: they come with
    ``additional_until``, the instant from which none of them verifies any more (and an
    expiry without additional secrets means nothing, so it is refused too)."""

    primary: bytes | None = field(default=None, repr=False)
    additional: tuple[bytes, ...] = field(default=(), repr=False)
    additional_until: datetime | None = None

    def __post_init__(self) -> None:
        if self.additional and self.primary is None:
            raise ValueError("additional webhook secrets need a primary one")
        if bool(self.additional) != (self.additional_until is not None):
            raise ValueError("additional webhook secrets, and only they, need an expiry")
        if self.additional_until is not None:
            until = ensure_utc(self.additional_until, field="additional_until")
            object.__setattr__(self, "additional_until", until)
        for secret in (self.primary, *self.additional):
            if secret is not None and len(secret) < MIN_SECRET_BYTES:
                raise ValueError(f"a webhook secret is at least {MIN_SECRET_BYTES} bytes")

    @classmethod
    def from_text(
        cls,
        primary: str | None,
        additional: str | None = None,
        additional_until: datetime | None = None,
    ) -> WebhookSecrets:
        """``primary`` and a comma-separated ``additional`` list, as configured, with the
        instant the additional ones expire."""
        extra = tuple(
            item.strip().encode("utf-8") for item in (additional or "").split(",") if item.strip()
        )
        return cls(None if not primary else primary.encode("utf-8"), extra, additional_until)

    def labelled(self) -> tuple[tuple[str, bytes], ...]:
        """Every configured secret by label, expired or not (every one is always tried)."""
        if self.primary is None:
            return ()
        rest = tuple((f"additional_{n}", s) for n, s in enumerate(self.additional, start=1))
        return (("primary", self.primary), *rest)

    def additional_expired(self, now: datetime) -> bool:
        """Whether there are additional secrets and their window is over at ``now``."""
        return self.additional_until is not None and ensure_utc(now) >= self.additional_until

    def accepts(self, label: str, now: datetime) -> bool:
        """Whether the secret labelled ``label`` still verifies at ``now``: the primary always,
        an additional one only while ``now < additional_until``."""
        return label == "primary" or not self.additional_expired(now)


def authenticates_each_delivery(provider: str) -> bool:
    """Whether a delivery to ``/webhooks/<provider>`` proves who sent it *and* that it is new:
    a generic HMAC-signed event does (its signature covers its id, timestamp and body, within
    the tolerance, and the id is deduplicated). A Kite postback does not: its checksum covers
    neither the status nor a time, so one captured postback can be replayed for ever with any
    status, each a new event; an Upstox update is not signed at all."""
    return provider not in (KITE_PROVIDER, UPSTOX_PROVIDER)


def payload_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sign_event(secret: bytes, event_id: str, timestamp: int, body: bytes) -> str:
    """The lowercase hex HMAC-SHA256 of a generic event (what a sender puts in
    ``X-Broker-Signature``)."""
    signed = f"{event_id}.{timestamp}.".encode("ascii") + body
    return hmac.new(secret, signed, hashlib.sha256).hexdigest()


def kite_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum: hex SHA-256 of the three strings concatenated."""
    return hashlib.sha256((order_id + order_timestamp + api_secret).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a verified delivery says: its dedupe key, its kind, how it was verified, and the
    broker order (and broker account) it is about, if any. ``client_reference`` is the
    reference we sent with the order (Kite and Upstox ``tag``; ``client_reference`` of a
    generic event, e.g. a relay's Groww ``order_reference_id``): what still finds our order
    while the broker's order id is not stored with it yet."""

    event_id: str
    kind: str
    verified_by: VerifiedBy
    broker_order_id: str | None = None
    account_id: str | None = None
    client_reference: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    """The secrets and clock tolerance deliveries are verified with, and how long stored
    deliveries are kept. ``kite_api_secret`` is the Zerodha app's API secret (``None``: Kite
    postbacks cannot be verified, so refused).

    ``retention`` must exceed ``tolerance``: a signed delivery is refused as stale only after
    the tolerance, so until then its stored row is what refuses a replay; a row purged any
    sooner would let the same delivery in a second time. Kite and Upstox deliveries carry no
    timestamp at all: a replay older than the retention is stored again, as a new hint, and
    harms nothing because a hint is only ever a reason to re-read the order at the broker."""

    secrets: WebhookSecrets = WebhookSecrets()
    tolerance: timedelta = DEFAULT_TOLERANCE
    kite_api_secret: str | None = field(default=None, repr=False)
    retention: timedelta = DEFAULT_RETENTION

    def __post_init__(self) -> None:
        if self.tolerance <= timedelta(0):
            raise ValueError("the webhook tolerance is a positive duration")
        if self.retention <= self.tolerance:
            raise ValueError("stored webhooks are kept longer than the signature tolerance")

    def purge_before(self, now: datetime) -> datetime:
        """Deliveries received before this instant may be forgotten."""
        return ensure_utc(now) - self.retention

    def verify(
        self, provider: str, headers: Mapping[str, str], body: bytes, now: datetime
    ) -> Delivery:
        """Verify one delivery to ``/webhooks/<provider>``. ``headers`` are keyed by lowercase
        name. Raises :class:`WebhookRefused` (unverifiable) or ``BadRequest``
        (``malformed_webhook``: verified, or unsigned, but not a body we can read)."""
        parse_provider_key(provider)
        if provider == KITE_PROVIDER:
            return self._kite(body)
        if provider == UPSTOX_PROVIDER:
            return _upstox(body)
        return self._signed(headers, body, ensure_utc(now))

    def _signed(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Delivery:
        algorithm = headers.get(ALGORITHM_HEADER)
        if algorithm is None:
            raise WebhookRefused("algorithm_missing")
        if algorithm != HMAC_SHA256:
            raise WebhookRefused("algorithm_unsupported")
        event_id = headers.get(EVENT_ID_HEADER, "")
        if not _EVENT_ID.fullmatch(event_id):
            raise WebhookRefused("event_id_invalid")
        stamp = headers.get(TIMESTAMP_HEADER, "")
        if not _TIMESTAMP.fullmatch(stamp):
            raise WebhookRefused("timestamp_invalid")
        timestamp = int(stamp)
        if abs(now.timestamp() - timestamp) > self.tolerance.total_seconds():
            raise WebhookRefused("timestamp_outside_tolerance")
        offered = headers.get(SIGNATURE_HEADER, "").split()
        if not offered or len(offered) > MAX_SIGNATURES:
            raise WebhookRefused("signature_missing")
        label = self._matching_secret(offered, event_id, timestamp, body, now)
        document = _json_object(body)
        kind = document.get("type")
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise _malformed("A signed event names its kind in `type`.")
        return Delivery(
            event_id=event_id,
            kind=kind,
            verified_by=VerifiedBy(Verification.HMAC_SHA256, label),
            broker_order_id=_optional_text(document, "order_id"),
            account_id=_optional_text(document, "account_id"),
            client_reference=_optional_text(document, "client_reference"),
        )

    def _matching_secret(
        self, offered: list[str], event_id: str, timestamp: int, body: bytes, now: datetime
    ) -> str:
        """The label of the first secret still accepted at ``now`` whose MAC is among
        ``offered``. Every comparison is constant-time and every secret is tried, expired ones
        too, so timing tells nothing. Refused as ``signature_expired_secret`` when only an
        expired secret matches (a sender still on the old secret after the rotation window),
        else as ``signature_mismatch``."""
        candidates = [mac for mac in offered if _HEX_MAC.fullmatch(mac)]
        matched = None
        expired = False
        for label, secret in self.secrets.labelled():
            expected = sign_event(secret, event_id, timestamp, body)
            accepted = self.secrets.accepts(label, now)
            for mac in candidates:
                if hmac.compare_digest(expected, mac):
                    if accepted and matched is None:
                        matched = label
                    expired = expired or not accepted
        if matched is None:
            raise WebhookRefused("signature_expired_secret" if expired else "signature_mismatch")
        return matched

    def _kite(self, body: bytes) -> Delivery:
        if self.kite_api_secret is None:
            raise WebhookRefused("kite_not_configured")
        try:
            document = _json_object(body)
        except BadRequest as error:
            raise WebhookRefused("kite_body_unreadable") from error
        order_id = document.get("order_id")
        order_timestamp = document.get("order_timestamp")
        checksum = document.get("checksum")
        if not (
            isinstance(order_id, str)
            and isinstance(order_timestamp, str)
            and _KITE_ORDER_ID.fullmatch(order_id)
            and _KITE_TIMESTAMP.fullmatch(order_timestamp)
            and isinstance(checksum, str)
            and _HEX_MAC.fullmatch(checksum)
        ):
            raise WebhookRefused("kite_checksum_missing")
        expected = kite_checksum(order_id, order_timestamp, self.kite_api_secret)
        if not hmac.compare_digest(expected, checksum):
            raise WebhookRefused("kite_checksum_mismatch")
        status = document.get("status")
        if not _text(status):
            raise _malformed("A Kite postback carries its order's status.")
        return Delivery(
            event_id=f"{order_id}|{order_timestamp}|{status}",
            kind="order_update",
            verified_by=VerifiedBy(Verification.KITE_CHECKSUM),
            broker_order_id=order_id,
            account_id=_optional_text(document, "user_id"),
            client_reference=_foreign_reference(document),
        )


def _upstox(body: bytes) -> Delivery:
    document = _json_object(body)
    update_type = document.get("update_type", "order")
    if not isinstance(update_type, str) or not _KIND.fullmatch(update_type):
        raise _malformed("An Upstox update names its kind in `update_type`.")
    is_order = update_type == "order"
    return Delivery(
        event_id=f"sha256:{payload_digest(body)}",
        kind=f"{update_type}_update",
        verified_by=VerifiedBy(Verification.UNSIGNED),
        broker_order_id=_optional_text(document, "order_id") if is_order else None,
        account_id=_optional_text(document, "user_id"),
        client_reference=_foreign_reference(document) if is_order else None,
    )


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body, object_pairs_hook=unique_members)
    except DuplicateMember as error:
        raise _malformed(str(error)) from error
    except (ValueError, RecursionError) as error:
        raise _malformed("The body is not JSON.") from error
    if not isinstance(document, dict):
        raise _malformed("The body is not a JSON object.")
    return document


def _text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _FIELD_MAX and value.isprintable()


def _foreign_reference(document: Mapping[str, Any]) -> str | None:
    """A broker's ``tag``, when it is one we could have sent: the broker's own format (often
    null or empty), so anything else is not read rather than refused."""
    tag = document.get("tag")
    return tag if isinstance(tag, str) and _text(tag) else None


def _optional_text(document: Mapping[str, Any], name: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if not _text(value):
        raise _malformed(f"`{name}` is 1 to {_FIELD_MAX} printable characters.")
    return str(value)


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One delivery as stored: received at ``received_at``, deduplicated by
    ``(provider, event_id)``. ``body`` holds at most :data:`STORED_BODY_MAX` bytes of the raw
    body (``body_size`` is the whole size; ``payload_digest`` covers every byte). Headers,
    signatures and secrets are never kept."""

    id: UUID
    provider: str
    event_id: str
    received_at: datetime
    verified_by: VerifiedBy
    kind: str
    payload_digest: str
    body: bytes = field(repr=False)
    body_size: int
    broker_order_id: str | None = None
    account_id: str | None = None

    def __post_init__(self) -> None:
        parse_provider_key(self.provider)
        object.__setattr__(self, "received_at", ensure_utc(self.received_at, field="received_at"))
        if not 0 < len(self.event_id) <= MAX_EVENT_ID:
            raise ValueError(f"an event id is 1 to {MAX_EVENT_ID} characters")
        if len(self.body) > STORED_BODY_MAX or self.body_size < len(self.body):
            raise ValueError("a stored body is a prefix of at most STORED_BODY_MAX bytes")

    @classmethod
    def received(
        cls, event_id: UUID, provider: str, delivery: Delivery, body: bytes, at: datetime
    ) -> WebhookEvent:
        return cls(
            id=event_id,
            provider=provider,
            event_id=delivery.event_id,
            received_at=at,
            verified_by=delivery.verified_by,
            kind=delivery.kind,
            payload_digest=payload_digest(body),
            body=body[:STORED_BODY_MAX],
            body_size=len(body),
            broker_order_id=delivery.broker_order_id,
            account_id=delivery.account_id,
        )

    @property
    def body_truncated(self) -> bool:
        return self.body_size > len(self.body)
