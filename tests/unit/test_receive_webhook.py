"""Receiving webhooks (issue #8; security.md WH-1..3 and the fault table c.3) with the memory
inbox: verify, store and audit in one committed unit of work, deduplicate, then pass the order
hint on; refusals are audited; a database that cannot commit acknowledges nothing."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.webhooks import ReceiveWebhook, WebhookReceipt
from dashcore.domain.audit import AuditOutcome, RecordedAuditEvent
from dashcore.domain.context import CallerContext
from dashcore.domain.errors import (
    BadRequest,
    DependencyUnavailable,
    InvalidInput,
    ProviderUnavailable,
)
from dashcore.domain.webhooks import (
    WebhookEvent,
    WebhookPolicy,
    WebhookRefused,
    WebhookSecrets,
    kite_checksum,
    sign_event,
)
from dashcore.ports.webhooks import OrderUpdateHints
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import MemoryAuditLog, MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.webhooks import MemoryWebhookEventRepository

NOW = datetime(2026, 6, 1, 9, 15, 30, tzinfo=UTC)
SECRET = b"s" * 32
ROTATED = b"r" * 48
KITE_SECRET = "kite-api-secret-of-the-app"
CALLER = CallerContext(ip="203.0.113.9", user_agent="broker-relay/1.0", request_id="req-1")
POLICY = WebhookPolicy(
    WebhookSecrets(SECRET, (ROTATED,), NOW + timedelta(hours=24)), kite_api_secret=KITE_SECRET
)
BODY = b'{"type": "order.updated", "order_id": "ORD-1", "account_id": "ACC-9"}'


def signed(
    body: bytes = BODY, *, event_id: str = "evt_1", secret: bytes = SECRET
) -> dict[str, str]:
    stamp = int(NOW.timestamp())
    return {
        "x-broker-event-id": event_id,
        "x-broker-timestamp": str(stamp),
        "x-broker-signature-alg": "HMAC-SHA256",
        "x-broker-signature": sign_event(secret, event_id, stamp, body),
    }


def kite_body(status: str = "COMPLETE") -> bytes:
    order = {"order_id": "220303000308932", "order_timestamp": "2022-03-03 09:24:25"}
    checksum = kite_checksum(order["order_id"], order["order_timestamp"], KITE_SECRET)
    postback = {**order, "status": status, "user_id": "AB1234", "checksum": checksum}
    return json.dumps(postback).encode()


@dataclass
class RecordingHints(OrderUpdateHints):
    """Keeps every hint; fails with ``failure`` when one is set."""

    received: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    failure: Exception | None = None

    async def order_changed(
        self,
        provider: str,
        broker_order_id: str,
        account_id: str | None,
        client_reference: str | None = None,
    ) -> None:
        if self.failure is not None:
            raise self.failure
        self.received.append((provider, broker_order_id, account_id, client_reference))


class DatabaseDown(MemoryUnitOfWork):
    """A unit of work whose commit cannot reach the database."""

    async def commit(self) -> None:
        await self.rollback()
        raise DependencyUnavailable("The database is unavailable.", dependency="database")


class HeldCommit(MemoryUnitOfWork):
    """A unit of work whose first commit waits until ``release`` is set (``reached`` tells
    that it got there), so that another delivery can run meanwhile."""

    def __init__(self, database: MemoryDatabase) -> None:
        super().__init__(database)
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def commit(self) -> None:
        if not self.release.is_set():
            self.reached.set()
            await self.release.wait()
        await super().commit()


@dataclass
class World:
    database: MemoryDatabase = field(default_factory=MemoryDatabase)
    clock: FakeClock = field(default_factory=lambda: FakeClock(NOW))
    ids: SequentialIds = field(default_factory=SequentialIds)
    hints: RecordingHints = field(default_factory=RecordingHints)
    policy: WebhookPolicy = POLICY

    def receiver(self, uow: MemoryUnitOfWork | None = None) -> ReceiveWebhook:
        uow = uow or MemoryUnitOfWork(self.database)
        audit = AuditTrail(MemoryAuditLog(uow), self.clock, self.ids)
        events = MemoryWebhookEventRepository(uow)
        return ReceiveWebhook(self.policy, events, self.hints, audit, uow, self.clock, self.ids)

    async def deliver(self, provider: str, headers: dict[str, str], body: bytes) -> WebhookReceipt:
        return await self.receiver()(provider, headers, body, caller=CALLER)

    def stored(self) -> list[WebhookEvent]:
        return list(self.database.table("webhook_events").values())

    def audited(self, action: str | None = None) -> list[RecordedAuditEvent]:
        records = sorted(self.database.table("audit_events").values(), key=lambda r: r.seq)
        return [r for r in records if action is None or r.event.action == action]


@pytest.fixture
def world() -> World:
    return World()


async def test_a_signed_event_is_stored_audited_and_passed_on(world: World) -> None:
    receipt = await world.deliver("schwab", signed(), BODY)
    assert not receipt.duplicate
    assert receipt.hinted
    assert world.stored() == [receipt.event]
    event = receipt.event
    assert (event.provider, event.event_id, event.kind, event.received_at) == (
        "schwab",
        "evt_1",
        "order.updated",
        NOW,
    )
    assert (str(event.verified_by), event.body) == ("hmac_sha256:primary", BODY)
    assert world.hints.received == [("schwab", "ORD-1", "ACC-9", None)]
    [received] = world.audited()
    assert received.event.action == "webhook_received"
    assert received.event.outcome is AuditOutcome.SUCCESS
    assert received.chain == "webhook:schwab"
    assert received.event.target == f"webhook_event:{event.id}"
    assert (received.event.ip, received.event.request_id) == ("203.0.113.9", "req-1")
    assert received.event.metadata == {
        "provider": "schwab",
        "event_id": "evt_1",
        "kind": "order.updated",
        "verified_by": "hmac_sha256:primary",
        "broker_order_id": "ORD-1",
        "payload_digest": event.payload_digest,
        "body_size": len(BODY),
    }


async def test_the_secret_that_matched_is_recorded(world: World) -> None:
    receipt = await world.deliver("schwab", signed(secret=ROTATED), BODY)
    assert str(receipt.event.verified_by) == "hmac_sha256:additional_1"
    [received] = world.audited("webhook_received")
    assert received.event.metadata["verified_by"] == "hmac_sha256:additional_1"
    assert SECRET.decode() not in repr(received) and ROTATED.decode() not in repr(received)


async def test_a_replay_is_a_duplicate_stored_once_and_not_passed_on_again(world: World) -> None:
    first = await world.deliver("schwab", signed(), BODY)
    world.clock.advance(seconds=30)
    again = await world.deliver("schwab", signed(), BODY)
    assert again.duplicate
    assert not again.hinted
    assert world.stored() == [first.event]
    assert world.hints.received == [("schwab", "ORD-1", "ACC-9", None)]
    assert [r.event.action for r in world.audited()] == ["webhook_received", "webhook_duplicate"]
    duplicate = world.audited("webhook_duplicate")[0].event
    assert duplicate.metadata == {
        "provider": "schwab",
        "event_id": "evt_1",
        "kind": "order.updated",
    }


async def test_the_same_event_id_from_another_provider_is_another_event(world: World) -> None:
    await world.deliver("schwab", signed(), BODY)
    other = await world.deliver("groww", signed(), BODY)
    assert not other.duplicate
    assert len(world.stored()) == 2


async def test_a_refused_delivery_is_audited_and_nothing_is_stored(world: World) -> None:
    with pytest.raises(WebhookRefused) as refused:
        await world.deliver("schwab", signed(secret=b"x" * 32), BODY)
    assert refused.value.reason == "signature_mismatch"
    assert world.stored() == []
    assert world.hints.received == []
    [audited] = world.audited()
    assert audited.chain == "webhook:schwab"
    assert (audited.event.action, audited.event.outcome) == ("webhook_refused", AuditOutcome.DENIED)
    assert audited.event.metadata["reason"] == "signature_mismatch"
    assert audited.event.metadata["body_size"] == len(BODY)


async def test_an_unsigned_generic_event_is_refused(world: World) -> None:
    with pytest.raises(WebhookRefused):
        await world.deliver("schwab", {}, BODY)
    assert [r.event.metadata["reason"] for r in world.audited("webhook_refused")] == [
        "algorithm_missing"
    ]


async def test_an_unreadable_body_is_refused_as_malformed_and_audited(world: World) -> None:
    with pytest.raises(BadRequest):
        await world.deliver("upstox", {}, b"not json")
    [audited] = world.audited()
    assert (audited.event.outcome, audited.event.metadata["reason"]) == (
        AuditOutcome.FAILURE,
        "malformed_webhook",
    )
    assert world.stored() == []


async def test_an_old_delivery_is_refused(world: World) -> None:
    headers = signed()
    world.clock.advance(timedelta(seconds=301))
    with pytest.raises(WebhookRefused) as refused:
        await world.deliver("schwab", headers, BODY)
    assert refused.value.reason == "timestamp_outside_tolerance"


async def test_a_kite_postback_is_a_hint_about_its_order(world: World) -> None:
    receipt = await world.deliver("zerodha", {}, kite_body())
    assert str(receipt.event.verified_by) == "kite_checksum"
    assert world.hints.received == [("zerodha", "220303000308932", "AB1234", None)]
    again = await world.deliver("zerodha", {}, kite_body())
    assert again.duplicate
    update = await world.deliver("zerodha", {}, kite_body("CANCELLED"))
    assert not update.duplicate
    assert len(world.hints.received) == 2


async def test_a_kite_postback_with_an_invalid_checksum_is_refused(world: World) -> None:
    body = kite_body().replace(b"220303000308932", b"220303000308999", 1)
    with pytest.raises(WebhookRefused):
        await world.deliver("zerodha", {}, body)
    assert world.audited("webhook_refused")[0].event.metadata["reason"] == (
        "kite_checksum_mismatch"
    )


async def test_an_upstox_update_is_an_unsigned_hint(world: World) -> None:
    body = b'{"update_type": "order", "order_id": "240601000123456", "status": "complete"}'
    receipt = await world.deliver("upstox", {}, body)
    assert str(receipt.event.verified_by) == "unsigned"
    assert world.hints.received == [("upstox", "240601000123456", None, None)]
    assert (await world.deliver("upstox", {}, body)).duplicate
    assert (await world.deliver("upstox", {}, body + b" ")).duplicate is False


async def test_a_hint_carries_the_client_reference_the_broker_echoes(world: World) -> None:
    """Upstox's ``tag`` is the reference we sent: it finds our order before its broker id is
    stored with it."""
    body = b'{"update_type": "order", "order_id": "240601000123456", "tag": "K3M9Q2ZP7XW1B4C6D8FA"}'
    await world.deliver("upstox", {}, body)
    assert world.hints.received == [("upstox", "240601000123456", None, "K3M9Q2ZP7XW1B4C6D8FA")]


async def test_an_event_about_no_order_is_stored_without_a_hint(world: World) -> None:
    body = b'{"type": "account.linked", "account_id": "ACC-9"}'
    receipt = await world.deliver("schwab", signed(body), body)
    assert not receipt.duplicate
    assert not receipt.hinted
    assert world.hints.received == []


async def test_a_hint_that_cannot_be_passed_on_leaves_the_event_stored(world: World) -> None:
    world.hints.failure = ProviderUnavailable()
    receipt = await world.deliver("schwab", signed(), BODY)
    assert not receipt.hinted
    assert world.stored() == [receipt.event]


async def test_nothing_is_acknowledged_while_the_database_cannot_commit(world: World) -> None:
    with pytest.raises(DependencyUnavailable):
        await world.receiver(DatabaseDown(world.database))("schwab", signed(), BODY)
    assert world.stored() == []
    assert world.audited() == []
    assert world.hints.received == []
    redelivered = await world.deliver("schwab", signed(), BODY)
    assert not redelivered.duplicate
    assert world.hints.received == [("schwab", "ORD-1", "ACC-9", None)]


async def test_two_concurrent_deliveries_of_one_event_store_and_pass_it_on_once(
    world: World,
) -> None:
    """The memory inbox sees the race only at commit: the loser reads as a duplicate."""
    held = HeldCommit(world.database)
    first = asyncio.create_task(world.receiver(held)("schwab", signed(), BODY))
    await held.reached.wait()
    second = await world.deliver("schwab", signed(), BODY)
    held.release.set()
    late = await first
    assert sorted([second.duplicate, late.duplicate]) == [False, True]
    assert len(world.stored()) == 1
    assert len(world.hints.received) == 1
    assert sorted(r.event.action for r in world.audited()) == [
        "webhook_duplicate",
        "webhook_received",
    ]


async def test_an_invalid_provider_key_is_refused_before_anything_is_written(
    world: World,
) -> None:
    with pytest.raises(InvalidInput, match="provider key"):
        await world.deliver("Not A Key", signed(), BODY)
    assert world.audited() == []
