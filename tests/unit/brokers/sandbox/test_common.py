from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import httpx
import pytest
from litestar import Litestar, asgi

from dashcore.testing.clock import FakeClock
from dashcore_brokers.sandbox import (
    SANDBOX_KEYS,
    ConsentMode,
    FaultKind,
    FaultRule,
    create_sandboxes,
    first_id_at,
)
from dashcore_brokers.sandbox.credentials import SCHWAB_APP_KEY
from dashcore_brokers.sandbox.exchange import INDIA_ACCOUNT_ID, OrderKind, Side
from dashcore_brokers.sandbox.faults import FaultPlan
from dashcore_brokers.sandbox.lifetimes import KOLKATA, next_wall_clock
from dashcore_brokers.sandbox.schwab import SchwabSandbox

from .flows import bearer, callback_params, schwab_login

PROFILE = "/trader/v1/userPreference"


def _ist(*args: int) -> datetime:
    return datetime(*args, tzinfo=KOLKATA)


@pytest.mark.parametrize(
    ("issued", "at", "expires"),
    [
        (_ist(2026, 1, 5, 10, 0), time(6, 0), _ist(2026, 1, 6, 6, 0)),
        (_ist(2026, 1, 5, 5, 59), time(6, 0), _ist(2026, 1, 5, 6, 0)),
        (_ist(2026, 1, 5, 6, 0), time(6, 0), _ist(2026, 1, 6, 6, 0)),
        (_ist(2026, 1, 5, 2, 30), time(3, 30), _ist(2026, 1, 5, 3, 30)),
        (_ist(2026, 1, 5, 23, 59), time(3, 30), _ist(2026, 1, 6, 3, 30)),
        (_ist(2026, 12, 31, 9, 0), time(6, 0), _ist(2027, 1, 1, 6, 0)),
    ],
)
def test_next_wall_clock_is_the_next_local_reset(
    issued: datetime, at: time, expires: datetime
) -> None:
    result = next_wall_clock(issued.astimezone(UTC), at)
    assert result == expires
    assert result.tzinfo is UTC


def test_fault_rules_fire_the_number_of_times_asked() -> None:
    plan = FaultPlan()
    once = plan.add(FaultRule(path="/a", kind=FaultKind.STATUS, status=500))
    twice = plan.add(FaultRule(path="/b/*", kind=FaultKind.STATUS, method="post", times=2))
    always = plan.add(FaultRule(path="/c", kind=FaultKind.LATENCY, seconds=1, times=None))
    assert plan.take("GET", "/a") is once
    assert plan.take("GET", "/a") is None
    assert plan.take("GET", "/b/x") is None  # method filter
    assert plan.take("POST", "/b/x") is twice
    assert plan.take("post", "/b/y") is twice
    assert plan.take("POST", "/b/z") is None
    assert all(plan.take("GET", "/c") is always for _ in range(5))
    assert plan.remove(always.id)
    assert not plan.remove(always.id)
    assert plan.take("GET", "/c") is None


@pytest.mark.parametrize(
    "kwargs",
    [{"times": 0}, {"seconds": -1.0}, {"status": 200}, {"status": 302}],
)
def test_fault_rules_refuse_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        FaultRule(path="/x", kind=FaultKind.STATUS, **kwargs)  # type: ignore[arg-type]


def test_registry_builds_one_sandbox_per_broker(clock: FakeClock) -> None:
    sandboxes = create_sandboxes(clock)
    assert tuple(sandboxes) == SANDBOX_KEYS
    assert all(sandbox.name == key for key, sandbox in sandboxes.items())


def test_registry_refuses_redirect_uris_for_unknown_brokers(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="fidelity"):
        create_sandboxes(clock, redirect_uris={"fidelity": "https://x.test/cb"})


async def test_registry_sets_the_accepted_redirect_uri(clock: FakeClock) -> None:
    callback = "https://app.test/api/v1/callback/schwab"
    sandbox = create_sandboxes(clock, redirect_uris={"schwab": callback})["schwab"]
    transport = httpx.ASGITransport(app=sandbox)
    async with httpx.AsyncClient(transport=transport, base_url="https://s.test") as client:
        response = await client.get(
            "/v1/oauth/authorize", params={"client_id": SCHWAB_APP_KEY, "redirect_uri": callback}
        )
    assert response.headers["location"].startswith(callback + "?code=")


async def test_works_mounted_under_a_prefix_in_another_litestar_app(
    schwab: SchwabSandbox,
) -> None:
    host = Litestar(
        route_handlers=[asgi("/sandbox/schwab", is_mount=True, copy_scope=True)(schwab)]
    )
    base = "https://dashcore.test/sandbox/schwab"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=host), base_url=base) as client:
        tokens = await schwab_login(client)
        profile = await client.get(PROFILE, headers=bearer(tokens["access_token"]))
        assert profile.status_code == 200
        await client.post(
            "/__sandbox__/faults", json={"path": PROFILE, "kind": "status", "status": 502}
        )
        failed = await client.get(PROFILE, headers=bearer(tokens["access_token"]))
        assert failed.status_code == 502


async def test_works_behind_a_root_path(schwab: SchwabSandbox) -> None:
    schwab.faults.add(FaultRule(path=PROFILE, kind=FaultKind.STATUS, status=503))
    transport = httpx.ASGITransport(app=schwab, root_path="/sandbox/schwab")
    base = "https://dashcore.test/sandbox/schwab"
    async with httpx.AsyncClient(transport=transport, base_url=base) as client:
        tokens = await schwab_login(client)
        assert (
            await client.get(PROFILE, headers=bearer(tokens["access_token"]))
        ).status_code == 503


async def test_control_routes_arm_list_and_clear_faults(
    schwab_client: httpx.AsyncClient,
) -> None:
    armed = await schwab_client.post(
        "/__sandbox__/faults",
        json={"path": "/trader/*", "kind": "status", "status": 429, "retry_after": 7, "times": 2},
    )
    assert armed.status_code == 201
    rule = armed.json()
    assert rule["remaining"] == 2
    listed = await schwab_client.get("/__sandbox__/faults")
    assert [item["id"] for item in listed.json()] == [rule["id"]]
    assert (await schwab_client.get(PROFILE)).status_code == 429
    assert (await schwab_client.delete(f"/__sandbox__/faults/{rule['id']}")).status_code == 204
    assert (await schwab_client.delete(f"/__sandbox__/faults/{rule['id']}")).status_code == 404
    assert (await schwab_client.get(PROFILE)).status_code == 401  # back to the real answer
    await schwab_client.post("/__sandbox__/faults", json={"path": "/*", "kind": "timeout"})
    assert (await schwab_client.delete("/__sandbox__/faults")).status_code == 204
    assert (await schwab_client.get("/__sandbox__/faults")).json() == []


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/x", "kind": "explode"},
        {"path": "/x", "kind": "status", "status": 200},
        {"path": "/x", "kind": "status", "times": 0},
        {"path": "/x", "kind": "status", "unknown": 1},
        {"kind": "status"},
    ],
)
async def test_control_routes_reject_bad_faults(
    schwab_client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await schwab_client.post("/__sandbox__/faults", json=body)
    assert response.status_code == 400
    assert "error" in response.json()


async def test_control_routes_never_fault_themselves(
    schwab: SchwabSandbox, schwab_client: httpx.AsyncClient
) -> None:
    schwab.faults.add(FaultRule(path="*", kind=FaultKind.STATUS, status=500, times=None))
    assert (await schwab_client.get("/__sandbox__/faults")).status_code == 200


async def test_control_routes_expire_and_revoke_tokens(
    schwab_client: httpx.AsyncClient,
) -> None:
    first = await schwab_login(schwab_client)
    second = await schwab_login(schwab_client)
    expired = await schwab_client.post(
        "/__sandbox__/tokens/expire", json={"token": first["access_token"]}
    )
    assert expired.json() == {"changed": 1}
    assert (
        await schwab_client.get(PROFILE, headers=bearer(first["access_token"]))
    ).status_code == 401
    assert (await schwab_client.get(PROFILE, headers=bearer(second["access_token"]))).is_success
    revoked = await schwab_client.post("/__sandbox__/tokens/revoke", json={})
    assert revoked.json()["changed"] >= 3  # second's access, id and refresh tokens at least
    assert (
        await schwab_client.get(PROFILE, headers=bearer(second["access_token"]))
    ).status_code == 401


async def test_control_routes_change_settings(schwab_client: httpx.AsyncClient) -> None:
    changed = await schwab_client.patch(
        "/__sandbox__/settings", json={"consent": "deny", "rotate_refresh_tokens": True}
    )
    assert changed.json() == {"consent": "deny", "rotate_refresh_tokens": True}
    response = await schwab_client.get(
        "/v1/oauth/authorize",
        params={
            "client_id": SCHWAB_APP_KEY,
            "redirect_uri": "https://127.0.0.1:8182/callback/schwab",
        },
    )
    assert callback_params(response)["error"] == "access_denied"
    bad = await schwab_client.patch("/__sandbox__/settings", json={"consent": "maybe"})
    assert bad.status_code == 400


def test_consent_mode_defaults_to_auto_approve(clock: FakeClock) -> None:
    assert SchwabSandbox(clock).settings.consent is ConsentMode.APPROVE


@pytest.mark.parametrize(
    ("started", "first"),
    [
        (datetime(2026, 11, 24, 0, 0, 0, tzinfo=UTC), 1_000),
        (datetime(2026, 11, 24, 0, 0, 1, 999_999, tzinfo=UTC), 2_000),
        (datetime(2026, 11, 24, 23, 59, 59, tzinfo=UTC), 86_400_000),
        (_ist(2026, 11, 25, 5, 30), 1_000),  # 00:00 UTC
    ],
)
def test_a_start_numbers_from_a_thousand_per_second_of_its_utc_day(
    started: datetime, first: int
) -> None:
    assert first_id_at(started) == first


def test_a_sandbox_started_again_hands_out_ids_the_last_start_did_not() -> None:
    """The database outlives an in-process sandbox: the next order after a restart must not
    take the id of an order placed before it (found by QA: Upstox ids repeated after a
    restart, and dashcore refused the broker id as bound to another order)."""
    clock = FakeClock(datetime(2026, 11, 24, 9, 0, tzinfo=UTC))
    runs = []
    for _ in range(2):
        exchange = create_sandboxes(clock, first_id=first_id_at(clock.now()))["upstox"].exchange
        order = exchange.place(
            INDIA_ACCOUNT_ID,
            symbol="INFY",
            side=Side.BUY,
            quantity=Decimal(1),
            kind=OrderKind.MARKET,
        )
        (fill,) = exchange.fills(INDIA_ACCOUNT_ID)
        runs.append((order.id, fill.trade_id, exchange.account(INDIA_ACCOUNT_ID).transactions))
        clock.advance(timedelta(seconds=1))

    (first_order, first_trade, first_ledger), (second_order, second_trade, second_ledger) = runs
    assert (first_order, first_trade) == ("32401000", "32401000")
    assert (second_order, second_trade) == ("32402000", "32402000")
    seeded = [entry.id for entry in first_ledger if int(entry.id) < 1_000]
    assert seeded and seeded == [entry.id for entry in second_ledger if int(entry.id) < 1_000]


def test_numbering_never_goes_back_below_an_id_handed_out() -> None:
    exchange = create_sandboxes(FakeClock())["zerodha"].exchange
    with pytest.raises(ValueError, match="are taken"):
        exchange.number_from(1)
    exchange.number_from(5_000)
    with pytest.raises(ValueError, match="are taken"):
        exchange.number_from(4_000)
