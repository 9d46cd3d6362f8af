"""``POST /api/v1/webhooks/{provider}`` over HTTP on PostgreSQL (issue #8 acceptance; security.md
WH-1..4, fault table c.3): each case answers its status and is audited, replays are
deduplicated, concurrent deliveries store one row, and a database that cannot be reached
answers 503 so that the provider delivers again."""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from dishka import AsyncContainer
from sqlalchemy import func, select

from dashcore.domain.audit import AuditOutcome, RecordedAuditEvent
from dashcore.domain.webhooks import kite_checksum, sign_event
from dashcore.ports.audit import AuditLog
from dashcore_app.settings import Settings
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_sql import create_engine
from dashcore_sql.tables import webhook_events
from tests.conftest import PostgresSchema
from tests.integration.conftest import _Lifespan
from tests.integration.test_http_health import engine_in_schema
from tests.migrated import migrate_database

pytestmark = pytest.mark.postgres

SECRET = "primary-webhook-secret-0123456789abcdef"
ROTATED = "previous-webhook-secret-0123456789abcdef"
KITE_SECRET = "kite-api-secret-of-the-app"
URL = "/api/v1/webhooks"
BODY = b'{"type": "order.updated", "order_id": "ORD-1", "account_id": "ACC-9"}'
UNREACHABLE = "postgresql+asyncpg://dashcore@127.0.0.1:1/test"


def signed(
    body: bytes = BODY,
    *,
    event_id: str = "evt_1",
    secret: str = SECRET,
    timestamp: int | None = None,
) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "x-broker-event-id": event_id,
        "x-broker-timestamp": str(stamp),
        "x-broker-signature-alg": "HMAC-SHA256",
        "x-broker-signature": sign_event(secret.encode(), event_id, stamp, body),
    }


JSON = {"content-type": "application/json"}


def kite_body(**changes: str) -> bytes:
    order = {
        "order_id": "220303000308932",
        "order_timestamp": "2022-03-03 09:24:25",
        "status": "COMPLETE",
        "user_id": "AB1234",
        "filled_quantity": 1,
    }
    order["checksum"] = kite_checksum("220303000308932", "2022-03-03 09:24:25", KITE_SECRET)
    order.update(changes)
    return json.dumps(order).encode()


@dataclass(frozen=True, slots=True)
class Served:
    client: httpx.AsyncClient
    core: AsyncContainer
    postgres: PostgresSchema

    async def audited(self) -> list[RecordedAuditEvent]:
        async with self.core() as scope:
            log = await scope.get(AuditLog)
            return [record async for record in log.records()]

    async def audit(self, action: str) -> list[RecordedAuditEvent]:
        return [r for r in await self.audited() if r.event.action == action]

    async def stored_rows(self) -> int:
        engine = create_engine(self.postgres.url, schema=self.postgres.schema)
        try:
            async with engine.connect() as connection:
                count = await connection.scalar(select(func.count()).select_from(webhook_events))
        finally:
            await engine.dispose()
        return int(count or 0)


@pytest.fixture
def webhook_settings(memory_settings: Settings, postgres_schema: PostgresSchema) -> Settings:
    return replace(
        memory_settings,
        database_url=postgres_schema.url,
        broker_sandboxes=False,
        broker_webhook_secret=SECRET,
        broker_webhook_additional_secrets=(ROTATED,),
        broker_webhook_additional_secrets_until=datetime.now(UTC) + timedelta(hours=24),
        provider_options={"zerodha": {"client_secret": KITE_SECRET}},
    )


@asynccontextmanager
async def serving(
    settings: Settings, schema: str
) -> AsyncIterator[tuple[httpx.AsyncClient, AsyncContainer]]:
    """The app on ``settings``, its engine working in ``schema``; lifespan on."""
    app = create_app(settings, engine_in_schema(schema))
    async with _Lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app.state[CONTAINER_STATE_KEY]


@pytest.fixture
async def served(
    webhook_settings: Settings, postgres_schema: PostgresSchema
) -> AsyncIterator[Served]:
    await migrate_database(postgres_schema.url, postgres_schema.schema)
    async with serving(webhook_settings, postgres_schema.schema) as (client, core):
        yield Served(client, core, postgres_schema)


def assert_refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def test_a_validly_signed_event_is_stored_and_audited(served: Served) -> None:
    response = await served.client.post(f"{URL}/schwab", content=BODY, headers=signed())
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False}
    assert response.headers["ratelimit-policy"] == '"webhooks_ip";q=3000;w=60'
    assert await served.stored_rows() == 1
    [received] = await served.audit("webhook_received")
    assert received.chain == "webhook:schwab"
    assert received.event.metadata["verified_by"] == "hmac_sha256:primary"
    assert received.event.metadata["broker_order_id"] == "ORD-1"


async def test_a_replay_is_answered_as_a_duplicate_and_stored_once(served: Served) -> None:
    headers = signed()
    first = await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    again = await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    assert first.json()["duplicate"] is False
    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert await served.stored_rows() == 1
    actions = [r.event.action for r in await served.audited()]
    assert actions == ["webhook_received", "webhook_duplicate"]


async def test_the_rotated_secret_is_accepted_and_recorded(served: Served) -> None:
    headers = signed(secret=ROTATED)
    response = await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    assert response.status_code == 200, response.text
    [received] = await served.audit("webhook_received")
    assert received.event.metadata["verified_by"] == "hmac_sha256:additional_1"


async def test_the_rotated_secret_is_refused_once_its_window_is_over(
    webhook_settings: Settings,
    postgres_schema: PostgresSchema,
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    """WH-4: a server started after the window warns once, without a secret; a delivery signed
    only with the old secret is then a 401 like any other, audited as an expired secret."""
    await migrate_database(postgres_schema.url, postgres_schema.schema)
    until = datetime.now(UTC) - timedelta(hours=1)
    over = replace(webhook_settings, broker_webhook_additional_secrets_until=until)
    log_lines()
    async with serving(over, postgres_schema.schema) as (client, core):
        served = Served(client, core, postgres_schema)
        old = await client.post(f"{URL}/schwab", content=BODY, headers=signed(secret=ROTATED))
        assert_refused(old, 401, "invalid_webhook")
        [refused] = await served.audit("webhook_refused")
        assert refused.event.outcome is AuditOutcome.DENIED
        assert refused.event.metadata["reason"] == "signature_expired_secret"
        new = await client.post(f"{URL}/schwab", content=BODY, headers=signed(event_id="evt_2"))
        assert new.status_code == 200, new.text
    lines = log_lines()
    warnings = [line for line in lines if line["event"] == "webhook_additional_secrets_expired"]
    assert [(w["level"], w["until"]) for w in warnings] == [("warning", until.isoformat())]
    assert ROTATED not in json.dumps(lines)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("wrong_secret", "signature_mismatch"),
        ("re_serialised", "signature_mismatch"),
        ("old_timestamp", "timestamp_outside_tolerance"),
        ("future_timestamp", "timestamp_outside_tolerance"),
        ("unsigned", "algorithm_missing"),
        ("other_algorithm", "algorithm_unsupported"),
    ],
)
async def test_a_delivery_that_does_not_verify_is_401_and_audited(
    served: Served, case: str, reason: str
) -> None:
    body, headers = BODY, signed()
    if case == "wrong_secret":
        headers = signed(secret="an-attacker-guess-0123456789abcdefgh")
    elif case == "re_serialised":
        body = json.dumps(json.loads(BODY), separators=(",", ":")).encode()
    elif case == "old_timestamp":
        headers = signed(timestamp=int(time.time()) - 3600)
    elif case == "future_timestamp":
        headers = signed(timestamp=int(time.time()) + 3600)
    elif case == "unsigned":
        headers = JSON
    else:
        headers = {**headers, "x-broker-signature-alg": "HMAC-SHA1"}
    response = await served.client.post(f"{URL}/schwab", content=body, headers=headers)
    assert_refused(response, 401, "invalid_webhook")
    assert reason not in response.text  # one answer for every cause
    assert await served.stored_rows() == 0
    [refused] = await served.audit("webhook_refused")
    assert refused.event.outcome is AuditOutcome.DENIED
    assert refused.event.metadata["reason"] == reason
    assert refused.event.ip is not None


async def test_kite_postbacks_are_checked_by_their_checksum(served: Served) -> None:
    valid = await served.client.post(f"{URL}/zerodha", content=kite_body(), headers=JSON)
    assert valid.status_code == 200, valid.text
    forged = kite_body(order_id="220303000308999")
    invalid = await served.client.post(f"{URL}/zerodha", content=forged, headers=JSON)
    assert_refused(invalid, 401, "invalid_webhook")
    again = await served.client.post(f"{URL}/zerodha", content=kite_body(), headers=JSON)
    assert again.json()["duplicate"] is True
    audited = [(r.event.action, r.event.metadata.get("reason")) for r in await served.audited()]
    assert audited == [
        ("webhook_received", None),
        ("webhook_refused", "kite_checksum_mismatch"),
        ("webhook_duplicate", None),
    ]
    [received] = await served.audit("webhook_received")
    assert received.event.metadata["verified_by"] == "kite_checksum"


async def test_upstox_updates_are_accepted_unsigned_and_unreadable_ones_are_400(
    served: Served,
) -> None:
    body = b'{"update_type": "order", "order_id": "240601000123456", "status": "complete"}'
    accepted = await served.client.post(f"{URL}/upstox", content=body, headers=JSON)
    assert accepted.status_code == 200, accepted.text
    unreadable = await served.client.post(f"{URL}/upstox", content=b"[]", headers=JSON)
    assert_refused(unreadable, 400, "malformed_webhook")
    audited = [(r.event.action, r.event.metadata.get("reason")) for r in await served.audited()]
    assert audited == [("webhook_received", None), ("webhook_refused", "malformed_webhook")]


async def test_upstox_updates_about_one_order_re_read_it_at_most_once_in_five_seconds(
    served: Served, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    """Anyone can post an Upstox update: a burst about one order is stored and acknowledged,
    but only the first is followed (the rest are ``order_update_hint_throttled``)."""
    log_lines()
    bodies = [
        b'{"update_type": "order", "order_id": "240601000123456", "status": "open"}',
        b'{"update_type": "order", "order_id": "240601000123456", "status": "complete"}',
        b'{"update_type": "order", "order_id": "240601000123456", "status": "cancelled"}',
    ]
    for body in bodies:
        answer = await served.client.post(f"{URL}/upstox", content=body, headers=JSON)
        assert answer.json() == {"received": True, "duplicate": False}
    assert await served.stored_rows() == 3
    hints = [line["event"] for line in log_lines() if line["event"].startswith("order_update")]
    assert hints == ["order_update_hint_unmatched"] + ["order_update_hint_throttled"] * 2


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "application/json", "content-encoding": "gzip"},
    ],
    ids=["text", "form", "gzip"],
)
async def test_a_body_that_is_not_plain_json_is_415_before_any_work(
    served: Served, headers: dict[str, str]
) -> None:
    body = gzip.compress(BODY) if "content-encoding" in headers else BODY
    signature = signed(body)
    response = await served.client.post(
        f"{URL}/schwab", content=body, headers={**signature, **headers}
    )
    assert_refused(response, 415, "unsupported_media_type")
    assert await served.audited() == []


async def test_a_body_over_the_limit_is_413(served: Served) -> None:
    body = b'{"type": "x", "pad": "' + b"x" * (64 * 1024) + b'"}'
    response = await served.client.post(f"{URL}/upstox", content=body, headers=JSON)
    assert response.status_code == 413
    assert await served.stored_rows() == 0


async def test_an_invalid_provider_key_is_422(served: Served) -> None:
    response = await served.client.post(f"{URL}/Not-A-Key", content=BODY, headers=signed())
    assert_refused(response, 422, "invalid_provider")


async def test_ten_concurrent_deliveries_of_one_event_store_one_row(served: Served) -> None:
    headers = signed()
    answers = await asyncio.gather(
        *(served.client.post(f"{URL}/schwab", content=BODY, headers=headers) for _ in range(10))
    )
    assert [a.status_code for a in answers] == [200] * 10
    assert sorted(a.json()["duplicate"] for a in answers) == [False] + [True] * 9
    assert await served.stored_rows() == 1
    assert len(await served.audit("webhook_received")) == 1
    assert len(await served.audit("webhook_duplicate")) == 9


async def test_while_the_database_is_down_nothing_is_acknowledged_then_redelivery_works(
    webhook_settings: Settings, served: Served
) -> None:
    headers = signed(event_id="evt_during_outage")
    down = replace(webhook_settings, database_url=UNREACHABLE)
    forged = signed(secret="an-attacker-guess-0123456789abcdefgh")
    async with serving(down, served.postgres.schema) as (outage, _):
        response = await outage.post(f"{URL}/schwab", content=BODY, headers=headers)
        refused = await outage.post(f"{URL}/schwab", content=BODY, headers=forged)
    assert_refused(response, 503, "dependency_unavailable")
    assert response.json()["dependency"] == "database"
    assert response.headers["retry-after"]
    # A refusal is audited, so it needs the database too: 503, not a 401 left unrecorded.
    assert_refused(refused, 503, "dependency_unavailable")
    assert await served.stored_rows() == 0
    redelivered = await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    assert redelivered.json() == {"received": True, "duplicate": False}
    again = await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    assert again.json()["duplicate"] is True
    assert await served.stored_rows() == 1


async def test_no_secret_or_signature_reaches_a_log_line(
    served: Served, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    log_lines()
    headers = signed()
    await served.client.post(f"{URL}/schwab", content=BODY, headers=headers)
    await served.client.post(f"{URL}/zerodha", content=kite_body(), headers=JSON)
    lines = log_lines()
    events = [line["event"] for line in lines]
    assert events.count("order_update_hint_unmatched") == 2
    text = json.dumps(lines)
    for secret in (SECRET, ROTATED, KITE_SECRET, headers["x-broker-signature"]):
        assert secret not in text
