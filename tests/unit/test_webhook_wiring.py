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

import pytest
from structlog.testing import capture_logs

from dashcore.application.orders_reconcile import RefreshOrderStatus
from dashcore.application.webhooks import ReceiveWebhook
from dashcore.domain.errors import ProviderUnavailable, ReauthRequired
from dashcore.domain.orders import OrderStatus, OrderType
from dashcore.domain.trading import PlacedOrder
from dashcore.domain.webhooks import (
    Verification,
    VerifiedBy,
    WebhookPolicy,
    kite_checksum,
    sign_event,
)
from dashcore_app.settings import Settings, SettingsError
from dashcore_app.webhooks import RefreshOrderOnHint, webhook_policy
from dashcore_brokers.sandbox.credentials import KITE_API_SECRET
from dashcore_memory import MemoryUnitOfWork
from dashcore_memory.webhooks import MemoryWebhookEventRepository
from tests.unit.orders_world import OrdersWorld, open_orders_world

PRIMARY = "primary-webhook-secret-0123456789abcdef"
OLDER = "older-webhook-secret-0123456789abcdefgh"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_webhooks_are_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.broker_webhook_secret is None
    assert settings.broker_webhook_additional_secrets == ()
    assert settings.webhook_tolerance_seconds == 300
    assert webhook_policy(settings).secrets.labelled() == ()


def test_secrets_and_tolerance_are_read() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": f" {OLDER} , ",
            "DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "60",
            "DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET": "kite-secret",
        }
    )
    assert (settings.broker_webhook_secret, settings.broker_webhook_additional_secrets) == (
        PRIMARY,
        (OLDER,),
    )
    policy = webhook_policy(settings)
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
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "0"}, "DASHCORE_WEBHOOK_TOLERANCE_SECONDS='0'"),
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "3601"}, "between 1 and 3600"),
    ],
)
def test_a_bad_webhook_variable_is_named_and_a_secret_never_echoed(
    variables: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(variables)
    message = str(refused.value)
    assert problem in message
    for value in variables.values():
        if "secret" in value or value == "short":
            assert value not in message


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER,
        }
    )
    assert PRIMARY not in repr(settings)
    assert OLDER not in repr(settings)


# -- order hints -------------------------------------------------------------------------------


@pytest.fixture
async def world() -> AsyncIterator[OrdersWorld]:
    async with open_orders_world() as opened:
        yield opened


def receiver(world: OrdersWorld, uow: MemoryUnitOfWork) -> ReceiveWebhook:
    """The webhook use case as one request builds it: the hints re-read orders in the same
    unit of work."""
    base = world.world.base
    return ReceiveWebhook(
        WebhookPolicy(kite_api_secret=KITE_API_SECRET),
        MemoryWebhookEventRepository(uow),
        RefreshOrderOnHint(world.refresher(uow)),
        base.audit(uow),
        uow,
        base.clock,
        base.ids,
    )


def postback(order_id: str, status: str, filled: int) -> bytes:
    """A Kite postback with a valid checksum; ``status`` and ``filled`` are what it claims."""
    stamp = "2026-01-01 14:30:00"
    return json.dumps(
        {
            "order_id": order_id,
            "order_timestamp": stamp,
            "status": status,
            "filled_quantity": filled,
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


class _FailingRefresh(RefreshOrderStatus):
    """A refresh whose broker fails with ``error``, or never answers when it is ``None``."""

    def __init__(self, error: Exception | None) -> None:
        self._error = error

    async def by_broker_id(self, provider: str, broker_order_id: str) -> PlacedOrder | None:
        if self._error is not None:
            raise self._error
        await asyncio.Event().wait()
        return None


@pytest.mark.parametrize(
    ("error", "reason"),
    [(ReauthRequired(), "reauth_required"), (None, "timeout")],
    ids=["broker-refused", "broker-silent"],
)
async def test_a_hint_the_broker_cannot_answer_is_logged_and_raised_as_unavailable(
    error: Exception | None, reason: str
) -> None:
    hints = RefreshOrderOnHint(_FailingRefresh(error), timeout=0.01)
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
