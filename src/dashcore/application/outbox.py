"""The mail outbox: enqueue in the caller's transaction, deliver in the background.

Delivery is at least once. A batch is claimed and the claim committed first, so the entries
are leased to this dispatcher; each outcome is committed as soon as it is known. If the process
dies mid-batch, the unrecorded entries become due again when their lease runs out: a message
may then be sent twice, never lost. Choose the lease longer than a batch can take to send
(``batch_size`` × the mailer's timeout).

Once the mail service proves unavailable, the batch stops: its untried entries are released,
due again at once and no attempt counted against them. A mail service that hangs therefore
costs one timeout per batch, not one per entry, and a batch never outlives its lease because
of it (which would let another dispatcher claim its entries too and send them twice).

A mail whose link or code has stopped working (``expires_at``) is never sent: an entry whose
turn in the batch comes at or after that instant is marked ``expired`` untried, and a failed
one whose retry would come at or after it is marked ``expired`` at once instead of being
scheduled. Each is reported (id and template only, never the address or the body) so the
entrypoint can log ``mail_expired``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from dashcore.domain.errors import DecryptionFailed, DependencyUnavailable, InvalidInput
from dashcore.domain.mail import (
    MailBody,
    MailMessage,
    MailRejected,
    OutboxEntry,
    RetryPolicy,
    system_random,
)
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.mail import Mailer, Outbox
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.vault import Vault

__all__ = ["DeliverOutbox", "DeliveryReport", "ExpiredMail", "MailQueue", "OutboxDispatcher"]


class MailQueue:
    """Puts messages in the outbox, body sealed, within the caller's unit of work (it never
    commits: the mail leaves only if the change that caused it is committed)."""

    def __init__(self, outbox: Outbox, vault: Vault, ids: IdGenerator) -> None:
        self._outbox = outbox
        self._vault = vault
        self._ids = ids

    async def add(self, message: MailMessage) -> OutboxEntry:
        entry_id = self._ids.new_id()
        sealed = self._vault.seal(message.body.encode(), OutboxEntry.context_for(entry_id))
        entry = OutboxEntry.new(entry_id, message, sealed)
        await self._outbox.add(entry)
        return entry


@dataclass(frozen=True, slots=True)
class ExpiredMail:
    """An entry given up because its link or code ran out: what may be logged of it."""

    entry_id: UUID
    template: str


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What one delivery run did. ``released`` counts entries given back untried because the
    mail service was unavailable; ``lost`` counts outcomes not recorded because the lease had
    run out and another dispatcher owns the entry now; ``expired_mail`` lists the entries
    recorded ``expired``."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    released: int = 0
    lost: int = 0
    expired_mail: tuple[ExpiredMail, ...] = ()

    @property
    def expired(self) -> int:
        return len(self.expired_mail)


@dataclass(frozen=True, slots=True)
class _Attempt:
    outcome: str
    recorded: bool
    mail_unavailable: bool = False


class DeliverOutbox:
    """Sends one batch of due outbox entries through the mailer.

    - accepted by the mail service → ``sent``, body dropped;
    - ``MailRejected`` (refused for good) or a body that no longer opens → ``dead``;
    - any other failure (``DependencyUnavailable``, an unexpected error in the mailer) →
      ``failed``, retried after the policy's backoff, ``dead`` once attempts run out;
    - after a ``DependencyUnavailable`` (the mail service is unavailable) the rest of the batch
      is not tried: it is released, due again at once, without an attempt counted;
    - reached at or after its ``expires_at`` → ``expired``, not tried, no attempt counted; a
      failure whose retry would fall at or after ``expires_at`` → ``expired`` at once.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        outbox: Outbox,
        mailer: Mailer,
        vault: Vault,
        clock: Clock,
        *,
        policy: RetryPolicy | None = None,
        batch_size: int = 50,
        lease: timedelta = timedelta(minutes=5),
        random: Callable[[], float] = system_random,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._uow = uow
        self._outbox = outbox
        self._mailer = mailer
        self._vault = vault
        self._clock = clock
        self._policy = policy or RetryPolicy()
        self._batch_size = batch_size
        self._lease = lease
        self._random = random

    @property
    def batch_size(self) -> int:
        return self._batch_size

    async def __call__(self) -> DeliveryReport:
        claimed = await self._outbox.claim_due(
            self._clock.now(), limit=self._batch_size, lease=self._lease
        )
        await self._uow.commit()
        counts = dict.fromkeys(("sent", "retrying", "dead", "released", "lost"), 0)
        expired: list[ExpiredMail] = []
        for tried, entry in enumerate(claimed, start=1):
            attempt = await self._deliver(entry)
            await self._uow.commit()
            if not attempt.recorded:
                counts["lost"] += 1
            elif attempt.outcome == "expired":
                expired.append(ExpiredMail(entry.id, entry.template))
            else:
                counts[attempt.outcome] += 1
            if attempt.mail_unavailable:
                for untried in claimed[tried:]:
                    counts["released" if await self._outbox.release(untried) else "lost"] += 1
                await self._uow.commit()
                break
        return DeliveryReport(claimed=len(claimed), expired_mail=tuple(expired), **counts)

    async def _deliver(self, entry: OutboxEntry) -> _Attempt:
        if entry.is_expired(self._clock.now()):
            return _Attempt("expired", await self._outbox.mark_expired(entry))
        try:
            message = entry.message(self._open(entry))
        except (DecryptionFailed, InvalidInput) as exc:
            return _Attempt(
                "dead", await self._outbox.mark_dead(entry, error=f"unreadable: {exc.code}")
            )
        try:
            await self._mailer.send(message)
        except MailRejected as exc:
            return _Attempt(
                "dead", await self._outbox.mark_dead(entry, error=f"rejected: {exc.message}")
            )
        except DependencyUnavailable as exc:
            return await self._retry(entry, f"unavailable: {exc.message}", mail_unavailable=True)
        except Exception as exc:  # a defect in one adapter must not stall the whole outbox
            return await self._retry(entry, f"unexpected: {type(exc).__name__}")
        return _Attempt("sent", await self._outbox.mark_sent(entry, at=self._clock.now()))

    def _open(self, entry: OutboxEntry) -> MailBody:
        if entry.body is None:
            raise InvalidInput("The entry has no body.", field="body")
        return MailBody.decode(self._vault.open(entry.body, entry.context))

    async def _retry(
        self, entry: OutboxEntry, error: str, *, mail_unavailable: bool = False
    ) -> _Attempt:
        now = self._clock.now()
        next_attempt_at = self._policy.next_attempt(entry.attempts + 1, now, self._random)
        if next_attempt_at is None:
            recorded = await self._outbox.mark_dead(entry, error=error)
            return _Attempt("dead", recorded, mail_unavailable)
        if entry.is_expired(next_attempt_at):
            recorded = await self._outbox.mark_expired(entry, error=error)
            return _Attempt("expired", recorded, mail_unavailable)
        recorded = await self._outbox.mark_failed(
            entry, next_attempt_at=next_attempt_at, error=error
        )
        return _Attempt("retrying", recorded, mail_unavailable)


class OutboxDispatcher:
    """Runs delivery in a loop until ``stop`` is set: an entrypoint starts it in the background.

    ``deliver`` runs one batch in a fresh unit of work (the entrypoint opens a DI scope per
    call). A full batch is followed at once by the next; otherwise (and after a batch cut short
    because the mail service is unavailable) the loop waits ``poll_interval`` seconds or until
    stopped. A failing run (database down) is handed to ``on_error`` and retried after
    ``poll_interval``; the loop never dies of it.
    """

    def __init__(
        self,
        deliver: Callable[[], Awaitable[DeliveryReport]],
        *,
        batch_size: int,
        on_error: Callable[[Exception], None],
        poll_interval: float = 5.0,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        self._deliver = deliver
        self._batch_size = batch_size
        self._on_error = on_error
        self._poll_interval = poll_interval

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                report = await self._deliver()
            except Exception as exc:  # reported, then retried after a pause
                self._on_error(exc)
                report = DeliveryReport()
            if report.claimed >= self._batch_size and not report.released:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._poll_interval)
