"""Outgoing mail: the message, its life in the outbox, and the retry policy.

Mail is never sent from a request. A use case writes an :class:`OutboxEntry` in the same
transaction as the change that caused it (security.md ENUM-1, NOTIF-1); a dispatcher sends it
later. An entry moves ``pending → sent``, or ``pending → failed`` (retried at
``next_attempt_at``) ``→ … → sent``, or ``→ dead`` when the mail service rejects the message for
good or the retries run out, or ``→ expired`` when the link or code it carries has stopped
working before it could be delivered (``MailMessage.expires_at``): a dead link sent late only
misleads. ``sent``, ``dead`` and ``expired`` are final.

The body holds secrets (verification and reset links, login codes), so the outbox keeps it only
sealed by the vault under :meth:`OutboxEntry.context`, and forgets it once the entry is final.
Addresses and subjects never contain CR or LF: they become mail headers, and a line break there
would let a caller add headers of its own (``Bcc:``, security.md b.3).
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from dashcore.domain.email import Email
from dashcore.domain.errors import Conflict, DashcoreError, InvalidInput
from dashcore.domain.secrets import SecretContext
from dashcore.domain.time import ensure_utc

__all__ = [
    "MAX_ERROR_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "MailBody",
    "MailMessage",
    "MailRejected",
    "OutboxEntry",
    "OutboxStatus",
    "RetryPolicy",
    "system_random",
]

MAX_SUBJECT_LENGTH = 200
MAX_ERROR_LENGTH = 500
_TEMPLATE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

system_random: Callable[[], float] = secrets.SystemRandom().random
"""The default jitter source: uniform in [0, 1) from the operating system's CSPRNG."""


class MailRejected(DashcoreError):
    """The mail service refused this message for good (unknown mailbox, rejected content).

    Retrying cannot help, so the outbox marks the entry dead. A service that is merely down or
    busy raises ``DependencyUnavailable(dependency="mail")`` instead.
    """

    code = "mail_rejected"
    default_message = "The mail service rejected the message."


class OutboxStatus(StrEnum):
    PENDING = "pending"
    FAILED = "failed"
    SENT = "sent"
    DEAD = "dead"
    EXPIRED = "expired"

    @property
    def is_final(self) -> bool:
        return self in (OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.EXPIRED)


def _refuse_line_breaks(value: str, field_name: str) -> None:
    if _LINE_BREAKS.search(value):
        raise InvalidInput(
            "Line breaks are not allowed here.", code="mail_header_injection", field=field_name
        )


def _check_recipient(to: str) -> None:
    _refuse_line_breaks(to, "to")
    try:
        Email.given(to)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="invalid_recipient", field="to") from exc


def _check_subject(subject: str) -> None:
    _refuse_line_breaks(subject, "subject")
    if _CONTROL.search(subject):
        raise InvalidInput("The subject contains a control character.", field="subject")
    if not subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise InvalidInput(
            f"The subject must be 1 to {MAX_SUBJECT_LENGTH} characters.", field="subject"
        )


def _check_template(template: str) -> None:
    if not _TEMPLATE_NAME.fullmatch(template):
        raise InvalidInput("A template name is lower-case snake_case.", field="template")


def _check_expiry(expires_at: datetime | None, created_at: datetime) -> datetime | None:
    """``expires_at`` in UTC, later than ``created_at``: a secret already dead when the mail is
    written is not worth queuing."""
    if expires_at is None:
        return None
    expires_at = ensure_utc(expires_at, field="expires_at")
    if expires_at <= created_at:
        raise InvalidInput("A mail must expire after it is created.", field="expires_at")
    return expires_at


@dataclass(frozen=True, slots=True)
class MailBody:
    """The secret part of a message: plain text, and HTML when there is an HTML version."""

    text: str = field(repr=False)
    html: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise InvalidInput("A message needs a text body.", field="text")

    def encode(self) -> bytes:
        """The bytes the vault seals (JSON, UTF-8)."""
        return json.dumps({"html": self.html, "text": self.text}, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> MailBody:
        """The body back from :meth:`encode`; anything else is ``InvalidInput``."""
        try:
            parsed = json.loads(data)
            text, html = parsed["text"], parsed["html"]
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput("The stored mail body is malformed.", field="body") from exc
        if not isinstance(text, str) or not (html is None or isinstance(html, str)):
            raise InvalidInput("The stored mail body is malformed.", field="body")
        return cls(text, html)


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message to one recipient, as handed to a ``Mailer``.

    ``to`` must be the address stored for the account, never one typed into a form
    (security.md REG-2). ``template`` names the kind of message (``password_reset``) for
    counting and auditing; ``created_at`` becomes the ``Date`` header. ``expires_at`` is the
    instant the link or code in the body stops working: from then on the message is never
    sent. A message without a secret (a security notification) has none: it is worth
    delivering however late.
    """

    to: str
    subject: str
    body: MailBody = field(repr=False)
    template: str
    created_at: datetime
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_recipient(self.to)
        _check_subject(self.subject)
        _check_template(self.template)
        created_at = ensure_utc(self.created_at, field="created_at")
        object.__setattr__(self, "created_at", created_at)
        object.__setattr__(self, "expires_at", _check_expiry(self.expires_at, created_at))

    @property
    def text(self) -> str:
        return self.body.text

    @property
    def html(self) -> str | None:
        return self.body.html


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to try a failed delivery again: exponential backoff with jitter, capped.

    After the n-th failed attempt the ceiling is ``min(cap, base * 2**(n-1))`` and the wait is
    drawn uniformly from the upper half of it, ``[ceiling/2, ceiling)``: retries from many
    messages spread out, yet never come back sooner than half the ceiling. After
    ``max_attempts`` attempts the entry is dead. Defaults: 30 s doubling to 1 h, 12 attempts
    (about seven hours of trying).
    """

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 12

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("retry policy needs 0 < base <= cap")
        if self.max_attempts < 1:
            raise ValueError("retry policy needs at least one attempt")

    def ceiling(self, attempts: int) -> timedelta:
        """The longest wait after ``attempts`` failed attempts (``attempts >= 1``)."""
        if attempts < 1:
            raise ValueError("attempts counts from 1")
        ceiling = self.base
        for _ in range(attempts - 1):
            if ceiling >= self.cap:
                break
            ceiling *= 2
        return min(self.cap, ceiling)

    def delay(self, attempts: int, random: Callable[[], float] = system_random) -> timedelta:
        """The wait after ``attempts`` failed attempts; ``random()`` is uniform in [0, 1)."""
        ceiling = self.ceiling(attempts)
        fraction = min(max(random(), 0.0), 1.0)
        return ceiling / 2 + (ceiling / 2) * fraction

    def next_attempt(
        self, attempts: int, now: datetime, random: Callable[[], float] = system_random
    ) -> datetime | None:
        """When to try again after ``attempts`` failures, or ``None``: give up, it is dead."""
        if attempts >= self.max_attempts:
            return None
        return ensure_utc(now) + self.delay(attempts, random)


def _clean_error(error: str) -> str:
    """An error text safe to store and show: one line, no control characters, bounded."""
    flat = " ".join(_CONTROL.sub(" ", _LINE_BREAKS.sub(" ", error)).split())
    return flat[:MAX_ERROR_LENGTH] or "unknown error"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A message waiting in the outbox, with its sealed body and delivery state.

    ``attempts`` counts delivery attempts made. ``locked_until`` is the lease of the dispatcher
    that claimed the entry: until then no other dispatcher takes it; after it, the entry is due
    again, so a dispatcher that dies mid-batch loses nothing. ``expires_at`` is the message's
    (see :class:`MailMessage`). A final entry has no body.
    """

    id: UUID
    recipient: str
    subject: str
    template: str
    body: bytes | None = field(repr=False)
    created_at: datetime
    next_attempt_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    locked_until: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        _check_recipient(self.recipient)
        _check_subject(self.subject)
        _check_template(self.template)
        if self.attempts < 0:
            raise InvalidInput("attempts cannot be negative.", field="attempts")
        if self.status.is_final and self.body is not None:
            raise InvalidInput("A final entry keeps no body.", field="body")
        if not self.status.is_final and self.body is None:
            raise InvalidInput("An entry still to be sent needs its body.", field="body")
        for name in ("created_at", "next_attempt_at", "locked_until", "sent_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, ensure_utc(value, field=name))
        object.__setattr__(self, "expires_at", _check_expiry(self.expires_at, self.created_at))

    @staticmethod
    def context_for(entry_id: UUID) -> SecretContext:
        """Where the sealed body of entry ``entry_id`` lives: it opens in no other row."""
        return SecretContext("mail_outbox", str(entry_id), "body")

    @property
    def context(self) -> SecretContext:
        return self.context_for(self.id)

    @classmethod
    def new(cls, entry_id: UUID, message: MailMessage, sealed_body: bytes) -> OutboxEntry:
        """A pending entry for ``message``, due at once; ``sealed_body`` is sealed under
        ``context_for(entry_id)``."""
        return cls(
            id=entry_id,
            recipient=message.to,
            subject=message.subject,
            template=message.template,
            body=sealed_body,
            created_at=message.created_at,
            next_attempt_at=message.created_at,
            expires_at=message.expires_at,
        )

    def message(self, body: MailBody) -> MailMessage:
        """The message to send, with the body opened from :attr:`body`."""
        return MailMessage(
            self.recipient, self.subject, body, self.template, self.created_at, self.expires_at
        )

    def is_expired(self, at: datetime) -> bool:
        """The link or code inside no longer works at ``at``: the entry must not be sent then."""
        return self.expires_at is not None and ensure_utc(at) >= self.expires_at

    def is_due(self, now: datetime) -> bool:
        """Waiting to be sent, its time has come, and no dispatcher holds a live lease."""
        return (
            not self.status.is_final
            and self.next_attempt_at <= now
            and (self.locked_until is None or self.locked_until <= now)
        )

    def claimed(self, now: datetime, lease: timedelta) -> OutboxEntry:
        """Leased to one dispatcher until ``now + lease``."""
        if not self.is_due(now):
            raise Conflict("The outbox entry is not due.", code="outbox_entry_not_due")
        if lease <= timedelta(0):
            raise ValueError("a lease must be positive")
        return replace(self, locked_until=now + lease)

    def sent(self, at: datetime) -> OutboxEntry:
        """Delivered: final; the body is dropped."""
        self._check_open()
        return replace(
            self,
            status=OutboxStatus.SENT,
            attempts=self.attempts + 1,
            body=None,
            locked_until=None,
            sent_at=ensure_utc(at, field="sent_at"),
        )

    def failed(self, next_attempt_at: datetime, error: str) -> OutboxEntry:
        """This attempt failed; try again at ``next_attempt_at``."""
        self._check_open()
        return replace(
            self,
            status=OutboxStatus.FAILED,
            attempts=self.attempts + 1,
            locked_until=None,
            next_attempt_at=ensure_utc(next_attempt_at, field="next_attempt_at"),
            last_error=_clean_error(error),
        )

    def dead(self, error: str) -> OutboxEntry:
        """Given up (rejected for good, or out of attempts): final; the body is dropped."""
        self._check_open()
        return replace(
            self,
            status=OutboxStatus.DEAD,
            attempts=self.attempts + 1,
            body=None,
            locked_until=None,
            last_error=_clean_error(error),
        )

    def expired(self, error: str | None = None) -> OutboxEntry:
        """Given up because its secret runs out before it can be delivered: final; the body is
        dropped. ``error`` is the failure of an attempt just made, whose retry would come too
        late: that attempt is counted and its error kept. Without it the entry was not tried,
        and no attempt is counted."""
        self._check_open()
        return replace(
            self,
            status=OutboxStatus.EXPIRED,
            attempts=self.attempts if error is None else self.attempts + 1,
            body=None,
            locked_until=None,
            last_error=self.last_error if error is None else _clean_error(error),
        )

    def _check_open(self) -> None:
        if self.status.is_final:
            raise Conflict(f"The outbox entry is already {self.status}.", code="outbox_entry_final")
