"""Webhooks as the composition root wires them: the ``DASHCORE_*`` variables of the secrets and
the tolerance, the policy built from them (Kite's secret from the Zerodha provider's), and order
hints that re-read the order at the broker (security.md WH-2) through ``RefreshOrderStatus``,
against the Kite sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from structlog.testing import capture_logs

from dashcore.application.orders import Trader
from dashcore.application.webhooks import ReceiveWebhook, WebhookReceipt
from dashcore.application.webhooks_hints import (
    SETTLE_HINTED_ORDER_TASK,
    FollowOrderHint,
    HintOutcome,
    HintResult,
    SettleHintedOrder,
)
from dashcore.domain.connections import ProviderConnection
from dashcore.domain.errors import ProviderUnavailable, ReauthRequired
from dashcore.domain.jobs import JobArgument, JobId, JobState
from dashcore.domain.orders import OrderStatus, OrderType
from dashcore.domain.ratelimit import RateDecision, RatePolicy
from dashcore.domain.trading import PlacedOrder, client_reference_for
from dashcore.domain.webhooks import (
    Verification,
    VerifiedBy,
    WebhookPolicy,
    kite_checksum,
    sign_event,
)
from dashcore.ports.jobs import JobQueue
from dashcore.ports.ratelimit import RateLimiter
from dashcore.testing import FakeClock
from dashcore_app.brokers import check_provider_settings
from dashcore_app.settings import Settings, SettingsError, StartupError
from dashcore_app.webhooks import RefreshOrderOnHint, webhook_policy
from dashcore_brokers.sandbox.credentials import KITE_API_SECRET
from dashcore_brokers.sandbox.faults import FaultKind
from dashcore_brokers.sandbox.zerodha.records import kite_order_id
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.trading import MemoryOrderRepository
from dashcore_memory.webhooks import MemoryWebhookEventRepository
from dashcore_ratelimit.limiter import NoRateLimits
from tests.unit.orders_world import BOOKS, OrdersWorld, open_orders_world
from tests.unit.watched_uow import WatchedUnitOfWork

PRIMARY = "primary-webhook-secret-0123456789abcdef"
OLDER = "older-webhook-secret-0123456789abcdefgh"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
UNTIL = "2026-06-02T09:00:00Z"
"""A day after NOW: the end of the rotation window the tests configure."""
ROTATING = {
    "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
    "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER,
    "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": UNTIL,
}


def test_webhooks_are_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.broker_webhook_secret is None
    assert settings.broker_webhook_additional_secrets == ()
    assert settings.broker_webhook_additional_secrets_until is None
    assert settings.webhook_tolerance_seconds == 300
    assert webhook_policy(settings).secrets.labelled() == ()


def test_kite_postbacks_verify_with_the_secret_the_kite_gateway_uses() -> None:
    """Found by QA: with Kite sandboxed and no secret set, the gateway used the sandbox's own
    pair, the webhook policy no secret at all, so the sandbox's postbacks never verified."""
    sandboxed = webhook_policy(Settings.from_env({}, now=NOW))
    assert sandboxed.kite_api_secret == KITE_API_SECRET
    real = Settings.from_env(
        {
            "DASHCORE_BROKER_SANDBOXES": "false",
            "DASHCORE_PROVIDER_ZERODHA_CLIENT_ID": "kite-key",
            "DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET": "kite-secret",
        },
        now=NOW,
    )
    assert webhook_policy(real).kite_api_secret == "kite-secret"
    unconfigured = Settings.from_env({"DASHCORE_BROKER_SANDBOXES": "false"}, now=NOW)
    assert webhook_policy(unconfigured).kite_api_secret is None


def test_half_of_a_sandboxed_provider_s_client_pair_is_refused_at_start() -> None:
    """Found by QA: the missing half fell back to the sandbox's own, a pair Kite's sandbox
    refused at the first login (422), with nothing said at start-up."""
    half = Settings.from_env({"DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET": "mine"}, now=NOW)
    with pytest.raises(StartupError, match="DASHCORE_PROVIDER_ZERODHA_CLIENT_ID and"):
        check_provider_settings(half)


def test_secrets_and_tolerance_are_read() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": f" {OLDER} , ",
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": "2026-06-02T14:30:00+05:30",
            "DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "60",
            "DASHCORE_BROKER_SANDBOXES": "false",
            "DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET": "kite-secret",
        },
        now=NOW,
    )
    assert (settings.broker_webhook_secret, settings.broker_webhook_additional_secrets) == (
        PRIMARY,
        (OLDER,),
    )
    expiry = datetime(2026, 6, 2, 9, 0, tzinfo=UTC)
    assert settings.broker_webhook_additional_secrets_until == expiry
    policy = webhook_policy(settings)
    assert policy.secrets.additional_until == expiry
    assert policy.tolerance == timedelta(seconds=60)
    assert [label for label, _ in policy.secrets.labelled()] == ["primary", "additional_1"]
    stamp = int(NOW.timestamp())
    body = b'{"type": "ping"}'
    headers = {
        "x-broker-event-id": "e1",
        "x-broker-timestamp": str(stamp),
        "x-broker-signature-alg": "HMAC-SHA256",
        "x-broker-signature": sign_event(OLDER.encode(), "e1", stamp, body),
    }
    signed = policy.verify("schwab", headers, body, NOW)
    assert signed.verified_by == VerifiedBy(Verification.HMAC_SHA256, "additional_1")
    checksum = kite_checksum("1", "2022-03-03 09:24:25", "kite-secret")
    postback = (
        b'{"order_id": "1", "order_timestamp": "2022-03-03 09:24:25", "status": "OPEN", '
        b'"checksum": "' + checksum.encode() + b'"}'
    )
    kite = policy.verify("zerodha", {}, postback, NOW)
    assert kite.verified_by == VerifiedBy(Verification.KITE_CHECKSUM)


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"DASHCORE_BROKER_WEBHOOK_SECRET": "short"}, "DASHCORE_BROKER_WEBHOOK_SECRET=(hidden)"),
        (
            {"DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY + "," + OLDER},
            "DASHCORE_BROKER_WEBHOOK_SECRET=(hidden): a webhook secret has no comma",
        ),
        (
            {
                "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
                "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": "x",
            },
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS=(hidden): a webhook secret is at least 32",
        ),
        (
            {"DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER},
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS: set DASHCORE_BROKER_WEBHOOK_SECRET",
        ),
        (
            {
                "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
                "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER,
            },
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL: say until when the additional "
            "(old) secrets are accepted, e.g. 24 h after the rotation",
        ),
        (
            {**ROTATING, "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": "2026-06-02T09:00:00"},
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL='2026-06-02T09:00:00': give the UTC "
            "offset",
        ),
        (
            {**ROTATING, "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": "tomorrow"},
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL='tomorrow': expected an ISO 8601 "
            "instant",
        ),
        (
            {
                **ROTATING,
                "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": "2026-06-08T09:00:01Z",
            },
            "at most 7 days after start-up: additional secrets are a rotation window",
        ),
        (
            {"DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": UNTIL},
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL: set only with "
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS",
        ),
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "0"}, "DASHCORE_WEBHOOK_TOLERANCE_SECONDS='0'"),
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "3601"}, "between 1 and 3600"),
    ],
)
def test_a_bad_webhook_variable_is_named_and_a_secret_never_echoed(
    variables: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(variables, now=NOW)
    message = str(refused.value)
    assert problem in message
    for value in variables.values():
        if "secret" in value or value == "short":
            assert value not in message


def test_a_rotation_window_of_exactly_seven_days_or_already_over_starts() -> None:
    """Seven days from start-up is the longest window; one already over is no settings error
    (a restart after the rotation must work): the server warns at start instead, and the old
    secret verifies nothing."""
    week = Settings.from_env(
        {**ROTATING, "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS_UNTIL": "2026-06-08T09:00:00Z"},
        now=NOW,
    )
    assert week.broker_webhook_additional_secrets_until == NOW + timedelta(days=7)
    over = Settings.from_env(ROTATING, now=NOW + timedelta(days=2))
    assert webhook_policy(over).secrets.additional_expired(NOW + timedelta(days=2))


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = Settings.from_env(ROTATING, now=NOW)
    assert PRIMARY not in repr(settings)
    assert OLDER not in repr(settings)


# -- order hints -------------------------------------------------------------------------------


@pytest.fixture
async def world() -> AsyncIterator[OrdersWorld]:
    async with open_orders_world() as opened:
        yield opened


class _QueuedJobs(JobQueue):
    """Records what is enqueued; runs nothing."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, dict[str, JobArgument]]] = []

    async def enqueue(self, task: str, **arguments: JobArgument) -> JobId:
        self.queued.append((task, arguments))
        return JobId(UUID(int=len(self.queued)))

    async def status(self, job_id: JobId) -> JobState:
        raise AssertionError("not used")


class ClockedRateLimiter(RateLimiter):
    """A moving-window limiter on the test's fake clock, so that a test can step past a window
    (``LimitsRateLimiter`` reads the wall clock). Admits ``limit`` hits in any ``window``."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._hits: dict[tuple[str, str], list[datetime]] = {}

    def _live(self, policy: RatePolicy, key: str) -> list[datetime]:
        cut = self._clock.now() - timedelta(seconds=policy.window)
        hits = [at for at in self._hits.get((policy.name, key), []) if at > cut]
        self._hits[(policy.name, key)] = hits
        return hits

    def _decision(self, policy: RatePolicy, hits: list[datetime], allowed: bool) -> RateDecision:
        reset = (hits[0] - self._clock.now()).total_seconds() + policy.window if hits else 0
        return RateDecision.from_window(
            policy, allowed=allowed, remaining=policy.limit - len(hits), seconds_to_reset=reset
        )

    async def hit(self, policy: RatePolicy, key: str, cost: int = 1) -> RateDecision:
        hits = self._live(policy, key)
        allowed = len(hits) + cost <= policy.limit
        if allowed:
            hits.extend([self._clock.now()] * cost)
        return self._decision(policy, hits, allowed)

    async def peek(self, policy: RatePolicy, key: str) -> RateDecision:
        hits = self._live(policy, key)
        return self._decision(policy, hits, len(hits) < policy.limit)

    async def reset(self, policy: RatePolicy, key: str) -> None:
        self._hits.pop((policy.name, key), None)


def follower(
    world: OrdersWorld,
    uow: MemoryUnitOfWork,
    jobs: JobQueue,
    limiter: RateLimiter | None = None,
) -> FollowOrderHint:
    """Hints followed without a re-read limit unless the test gives a limiter."""
    return FollowOrderHint(
        MemoryOrderRepository(uow), world.refresher(uow), jobs, uow, limiter or NoRateLimits()
    )


def receiver(
    world: OrdersWorld,
    uow: MemoryUnitOfWork,
    jobs: JobQueue | None = None,
    limiter: RateLimiter | None = None,
) -> ReceiveWebhook:
    """The webhook use case as one request builds it: the hints re-read orders in the same
    unit of work."""
    base = world.world.base
    return ReceiveWebhook(
        WebhookPolicy(kite_api_secret=KITE_API_SECRET),
        MemoryWebhookEventRepository(uow),
        RefreshOrderOnHint(follower(world, uow, jobs or _QueuedJobs(), limiter)),
        base.audit(uow),
        uow,
        base.clock,
        base.ids,
    )


def settler(world: OrdersWorld, uow: MemoryUnitOfWork) -> SettleHintedOrder:
    return SettleHintedOrder(
        MemoryOrderRepository(uow), world.reconciler(uow), world.refresher(uow), uow
    )


def postback(order_id: str, status: str, filled: int, tag: str | None = None) -> bytes:
    """A Kite postback with a valid checksum; ``status`` and ``filled`` are what it claims,
    ``tag`` the client reference it echoes."""
    stamp = "2026-01-01 14:30:00"
    return json.dumps(
        {
            "order_id": order_id,
            "order_timestamp": stamp,
            "status": status,
            "filled_quantity": filled,
            "tag": tag,
            "checksum": kite_checksum(order_id, stamp, KITE_API_SECRET),
        }
    ).encode()


async def resting_kite_order(world: OrdersWorld) -> PlacedOrder:
    trader, connection = await world.trader("zerodha")
    limit = world.draft("zerodha", type=OrderType.LIMIT, limit_price=Decimal(1400))
    order = (await world.place_order(trader, connection, "rest", limit)).order
    assert order.status is OrderStatus.OPEN and order.broker_order_id is not None
    return order


async def test_a_postback_claiming_a_fill_leaves_the_order_as_the_broker_has_it(
    world: OrdersWorld,
) -> None:
    """WH-2: the checksum does not cover the status; the order follows the broker's answer."""
    order = await resting_kite_order(world)
    assert order.broker_order_id is not None
    forged = postback(order.broker_order_id, "COMPLETE", 99)
    with capture_logs() as logs:
        receipt = await receiver(world, world.uow())("zerodha", {}, forged)
    assert receipt.hinted
    stored = await world.stored(order.id)
    assert (stored.status, stored.filled_quantity) == (OrderStatus.OPEN, Decimal(0))
    assert [line["event"] for line in logs] == ["order_update_hint_applied"]


async def test_a_postback_after_the_fill_brings_the_fill_from_the_broker(
    world: OrdersWorld,
) -> None:
    order = await resting_kite_order(world)
    assert order.broker_order_id is not None
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    receipt = await receiver(world, world.uow())(
        "zerodha", {}, postback(order.broker_order_id, "COMPLETE", 1)
    )
    assert receipt.hinted and not receipt.duplicate
    stored = await world.stored(order.id)
    assert stored.status is OrderStatus.FILLED
    assert stored.filled_quantity == order.request.quantity


async def test_a_postback_about_no_order_of_ours_is_stored_and_dropped(
    world: OrdersWorld,
) -> None:
    with capture_logs() as logs:
        receipt = await receiver(world, world.uow())(
            "zerodha", {}, postback("999999999999999", "COMPLETE", 1)
        )
    assert receipt.hinted and not receipt.duplicate
    assert [line["event"] for line in logs] == ["order_update_hint_unmatched"]


async def test_a_postback_before_the_broker_id_is_stored_queues_the_orders_settling(
    world: OrdersWorld,
) -> None:
    """b.7: the answer to our placement was lost (``unknown``, no broker id); the postback's
    ``tag`` finds the order, whose settling is queued; the job binds the broker's id at once,
    without waiting for the reconciler's grace period, and nothing is sent again."""
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    order = (await world.place_order(trader, connection, "lost", world.draft("zerodha"))).order
    assert (order.status, order.broker_order_id) == (OrderStatus.UNKNOWN, None)
    (at_broker,) = world.broker_orders("zerodha")
    jobs = _QueuedJobs()
    with capture_logs() as logs:
        receipt = await receiver(world, world.uow(), jobs)(
            "zerodha", {}, postback(kite_order_id(at_broker), "COMPLETE", 1, order.client_reference)
        )
    assert receipt.hinted and not receipt.duplicate
    assert jobs.queued == [(SETTLE_HINTED_ORDER_TASK, {"order_id": str(order.id)})]
    assert [(line["event"], line.get("order_id")) for line in logs] == [
        ("order_update_hint_queued", str(order.id))
    ]
    assert (await world.stored(order.id)).status is OrderStatus.UNKNOWN  # the job settles it

    assert await settler(world, world.uow())(order.id) == "settled"
    settled = await world.stored(order.id)
    assert settled.broker_order_id == kite_order_id(at_broker)
    assert settled.status in (OrderStatus.SUBMITTED, OrderStatus.OPEN, OrderStatus.FILLED)
    assert world.place_requests("zerodha") == 1


async def pending_order(
    world: OrdersWorld, trader: Trader, connection: ProviderConnection
) -> PlacedOrder:
    """A Kite order as ``PlaceOrder`` writes it before sending it (``pending_submit``)."""
    instrument = await world.catalog.find("zerodha", BOOKS["zerodha"].instrument)
    assert instrument is not None
    identifier = UUID(int=7)
    request = world.draft("zerodha").to_request(instrument, client_reference_for(identifier))
    now = world.clock.now()
    order = PlacedOrder.create(
        identifier,
        trader.user_id,
        connection.id,
        "zerodha",
        request,
        "ab" * 32,
        now,
        now + world.policy.submit_deadline,
    )
    uow = world.uow()
    await MemoryOrderRepository(uow).add(order)
    await uow.commit()
    return order


async def test_a_postback_for_an_order_still_being_sent_leaves_it_to_its_placer(
    world: OrdersWorld,
) -> None:
    """Our placement is in flight (``pending_submit``, before its deadline): the job does not
    overtake it; the placer, the reconciler or the poll settle it."""
    trader, connection = await world.trader("zerodha")
    pending = await pending_order(world, trader, connection)
    jobs = _QueuedJobs()
    result = await follower(world, world.uow(), jobs)("zerodha", "1", pending.client_reference)
    assert result == HintResult(HintOutcome.QUEUED, pending.id)
    assert await settler(world, world.uow())(pending.id) == "waiting"
    assert (await world.stored(pending.id)).status is OrderStatus.PENDING_SUBMIT
    assert world.place_requests("zerodha") == 0


async def test_a_settling_job_for_an_order_bound_meanwhile_re_reads_it(
    world: OrdersWorld,
) -> None:
    order = await resting_kite_order(world)
    assert await settler(world, world.uow())(order.id) == "refreshed"


async def test_a_settling_job_for_a_final_or_missing_order_does_nothing(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    filled = (await world.place_order(trader, connection, "f", world.draft("zerodha"))).order
    assert filled.is_final
    assert await settler(world, world.uow())(filled.id) is None
    assert await settler(world, world.uow())(UUID(int=404)) is None


@pytest.mark.parametrize("reference", [None, "NOSUCHREFERENCE00000"])
async def test_a_hint_whose_reference_finds_no_waiting_order_is_unmatched(
    world: OrdersWorld, reference: str | None
) -> None:
    order = await resting_kite_order(world)  # bound: not waiting for a broker id
    jobs = _QueuedJobs()
    follow = follower(world, world.uow(), jobs)
    assert await follow("zerodha", "999", reference) == HintResult(HintOutcome.UNMATCHED)
    assert await follow("zerodha", "999", order.client_reference) == HintResult(
        HintOutcome.UNMATCHED
    )
    assert jobs.queued == []


def broker_requests(world: OrdersWorld, provider: str) -> int:
    return len(world.world.recorders[provider].requests)


async def test_a_second_postback_within_five_seconds_is_stored_but_not_re_read(
    world: OrdersWorld,
) -> None:
    """WH-2 / DOS: a Kite checksum is replayable with any status, so postbacks about one order
    re-read it at the broker at most once per 5 s; the next one after the window does again."""
    broker_id = (await resting_kite_order(world)).broker_order_id
    assert broker_id is not None
    limiter = ClockedRateLimiter(world.clock)

    async def deliver(status: str) -> WebhookReceipt:
        return await receiver(world, world.uow(), limiter=limiter)(
            "zerodha", {}, postback(broker_id, status, 0)
        )

    before = broker_requests(world, "zerodha")
    with capture_logs() as logs:
        await deliver("OPEN")
        after_first = broker_requests(world, "zerodha")
        world.clock.advance(seconds=4.9)
        throttled = await deliver("COMPLETE")
    assert after_first > before
    assert broker_requests(world, "zerodha") == after_first
    assert throttled.hinted and not throttled.duplicate  # stored and acknowledged all the same
    assert [(line["event"], line["broker_order_id"]) for line in logs] == [
        ("order_update_hint_applied", broker_id),
        ("order_update_hint_throttled", broker_id),
    ]

    world.clock.advance(seconds=0.1)  # 5 s after the first re-read
    with capture_logs() as logs:
        await deliver("CANCELLED")
    assert broker_requests(world, "zerodha") > after_first
    assert [line["event"] for line in logs] == ["order_update_hint_applied"]


@pytest.mark.parametrize("provider", ["zerodha", "upstox"])
async def test_unauthenticated_hints_are_throttled_per_order(
    world: OrdersWorld, provider: str
) -> None:
    follow = follower(world, world.uow(), _QueuedJobs(), ClockedRateLimiter(world.clock))
    assert await follow(provider, "1", None) == HintResult(HintOutcome.UNMATCHED)
    assert await follow(provider, "1", None) == HintResult(HintOutcome.THROTTLED)
    assert await follow(provider, "2", None) == HintResult(HintOutcome.UNMATCHED)
    other = "upstox" if provider == "zerodha" else "zerodha"
    assert await follow(other, "1", None) == HintResult(HintOutcome.UNMATCHED)


async def test_hmac_signed_hints_are_never_throttled(world: OrdersWorld) -> None:
    """Only the holder of the secret can sign one, and each is fresh and deduplicated."""
    follow = follower(world, world.uow(), _QueuedJobs(), ClockedRateLimiter(world.clock))
    results = [await follow("schwab", "1", None) for _ in range(3)]
    assert results == [HintResult(HintOutcome.UNMATCHED)] * 3


class _FailingFollow(FollowOrderHint):
    """Following fails with ``error``, or never finishes when it is ``None``."""

    def __init__(self, error: Exception | None) -> None:
        self._error = error

    async def __call__(
        self, provider: str, broker_order_id: str, client_reference: str | None
    ) -> HintResult:
        if self._error is not None:
            raise self._error
        await asyncio.Event().wait()
        raise AssertionError("never reached")


@pytest.mark.parametrize(
    ("error", "reason"),
    [(ReauthRequired(), "reauth_required"), (None, "timeout")],
    ids=["broker-refused", "broker-silent"],
)
async def test_a_hint_the_broker_cannot_answer_is_logged_and_raised_as_unavailable(
    error: Exception | None, reason: str
) -> None:
    hints = RefreshOrderOnHint(_FailingFollow(error), timeout=0.01)
    with capture_logs() as logs, pytest.raises(ProviderUnavailable):
        await hints.order_changed("zerodha", "220303000308932", "AB1234")
    assert logs == [
        {
            "event": "order_update_hint_failed",
            "log_level": "warning",
            "reason": reason,
            "provider": "zerodha",
            "broker_order_id": "220303000308932",
        }
    ]


async def test_no_transaction_is_open_while_the_broker_answers_a_hint(
    world: OrdersWorld,
) -> None:
    """A slow broker must not hold the database (on SQLite, its single write lock), neither
    behind a postback nor behind the job that settles the order it named."""
    order = await resting_kite_order(world)
    assert order.broker_order_id is not None
    world.world.sandboxes["zerodha"].exchange.set_price("INFY", Decimal(1390))
    uow = WatchedUnitOfWork(world.world.base.database)
    with world.world.requests_watched(uow) as sent:
        receipt = await receiver(world, uow)(
            "zerodha", {}, postback(order.broker_order_id, "COMPLETE", 1)
        )
    assert receipt.hinted
    assert (await world.stored(order.id)).status is OrderStatus.FILLED
    assert sent and [r for r in sent if r.in_transaction] == []


async def test_no_transaction_is_open_while_the_broker_answers_a_hinted_settling(
    world: OrdersWorld,
) -> None:
    trader, connection = await world.trader("zerodha")
    world.arm("zerodha", FaultKind.TIMEOUT_AFTER_ACCEPT)
    order = (await world.place_order(trader, connection, "lost", world.draft("zerodha"))).order
    uow = WatchedUnitOfWork(world.world.base.database)
    with world.world.requests_watched(uow) as sent:
        assert await settler(world, uow)(order.id) == "settled"
    assert (await world.stored(order.id)).status is OrderStatus.FILLED
    assert sent and [r for r in sent if r.in_transaction] == []
