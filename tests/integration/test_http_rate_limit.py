"""Per-route rate limits through HTTP (security.md RL-1, LOCK-2, b.3 and b.8).

Each test builds a small Litestar app the way ``create_app`` should: the request-context
middleware outermost, then routing, then (as Litestar middleware) a stand-in for
authentication that sets ``scope["state"]["user_id"]``, then the rate-limit middleware.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
from litestar import Litestar, Router, get, post
from litestar.params import FromPath
from litestar.types import ASGIApp, Receive, Scope, Send
from redis.asyncio import Redis

from dashcore.domain.ratelimit import RatePolicy
from dashcore.ports.ratelimit import RateLimiter
from dashcore_http.client_ip import TrustedProxies
from dashcore_http.middleware import RequestContextMiddleware
from dashcore_http.problems import EXCEPTION_HANDLERS, PROBLEM_MEDIA_TYPE
from dashcore_http.ratelimit import (
    LOGIN_ROUTE,
    KeyKind,
    RateLimitMiddleware,
    RateLimitTable,
    RouteLimit,
    default_rate_limit_table,
)
from dashcore_ratelimit.limiter import LimitsRateLimiter

PEER = "203.0.113.7"
LOGIN = "/api/v1/auth/login"
TABLE = RateLimitTable(
    routes={
        LOGIN_ROUTE: (
            RouteLimit(RatePolicy("login", 3, 60)),
            RouteLimit(RatePolicy("login_hour", 10, 3600)),
        ),
        ("GET", "/api/v1/scarce"): (RouteLimit(RatePolicy("scarce", 2, 60), KeyKind.GLOBAL),),
    },
    default=(RouteLimit(RatePolicy("api", 4, 60), KeyKind.USER),),
)
_ITEM = re.compile(r'"(?P<name>[a-z_]+)";r=(?P<r>\d+);t=(?P<t>\d+)')


@post(LOGIN, status_code=200)
async def login() -> dict[str, str]:
    return {"ok": "yes"}


@get("/api/v1/things/{thing_id:int}")
async def thing(thing_id: FromPath[int]) -> dict[str, int]:
    return {"id": thing_id}


@get("/api/v1/scarce")
async def scarce() -> dict[str, str]:
    return {"ok": "yes"}


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/health/ready")
async def ready() -> dict[str, str]:
    return {"status": "ready"}


def stand_in_authentication(app: ASGIApp) -> ASGIApp:
    """Sets ``user_id`` from ``X-Test-User``, as the real authentication middleware will."""

    async def authenticate(scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"x-test-user":
                scope["state"]["user_id"] = value.decode()
        await app(scope, receive, send)

    return authenticate


def build_app(limiter: RateLimiter, table: RateLimitTable, proxies: TrustedProxies) -> Litestar:
    app = Litestar(
        route_handlers=[login, thing, scarce, health, ready],
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=[stand_in_authentication, RateLimitMiddleware(table, proxies, limiter)],
        logging_config=None,
    )
    app.asgi_handler = RequestContextMiddleware(
        app.asgi_handler, docs_path=None, log_requests=False, log_probes=False
    )
    return app


Connect = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def limiter() -> AsyncIterator[LimitsRateLimiter]:
    limiter = LimitsRateLimiter("memory://")
    yield limiter
    await limiter.aclose()


def connector(app: Litestar) -> Connect:
    def connect(peer: str = PEER) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))  # type: ignore[arg-type]
        return httpx.AsyncClient(transport=transport, base_url="http://api.test")

    return connect


@asynccontextmanager
async def serving(
    limiter: RateLimiter,
    table: RateLimitTable = TABLE,
    proxies: TrustedProxies | None = None,
) -> AsyncIterator[Connect]:
    app = build_app(limiter, table, proxies or TrustedProxies())
    async with app.lifespan():
        yield connector(app)


def rate_limit_items(response: httpx.Response) -> dict[str, tuple[int, int]]:
    """``RateLimit`` as ``{name: (r, t)}``."""
    return {
        m["name"]: (int(m["r"]), int(m["t"]))
        for m in _ITEM.finditer(response.headers.get("ratelimit", ""))
    }


async def test_success_carries_the_policy_and_the_remaining_quota(
    limiter: LimitsRateLimiter,
) -> None:
    async with serving(limiter) as connect, connect() as client:
        responses = [await client.post(LOGIN) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    first = responses[0].headers
    assert first["ratelimit-policy"] == '"login";q=3;w=60, "login_hour";q=10;w=3600'
    assert [rate_limit_items(r)["login"][0] for r in responses] == [2, 1, 0]
    assert [rate_limit_items(r)["login_hour"][0] for r in responses] == [9, 8, 7]
    for response in responses:
        for remaining, reset in rate_limit_items(response).values():
            assert remaining >= 0
            assert 0 < reset <= 3600
        assert 0 < rate_limit_items(response)["login"][1] <= 60


async def test_the_limit_plus_one_is_a_429_problem(limiter: LimitsRateLimiter) -> None:
    async with serving(limiter) as connect, connect() as client:
        for _ in range(3):
            await client.post(LOGIN)
        refused = await client.post(LOGIN, headers={"X-Request-ID": "rl-test-1"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["type"] == "/problems/rate_limited"
    assert body["status"] == 429
    assert body["instance"] == LOGIN
    assert body["request_id"] == "rl-test-1"
    assert refused.headers["ratelimit-policy"] == '"login";q=3;w=60, "login_hour";q=10;w=3600'
    remaining, reset = rate_limit_items(refused)["login"]
    assert remaining == 0
    assert 0 < reset <= 60
    assert int(refused.headers["retry-after"]) >= reset
    # The request-context middleware still ran around the refusal.
    assert refused.headers["x-request-id"] == "rl-test-1"
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_refused_requests_never_reach_the_handler(limiter: LimitsRateLimiter) -> None:
    calls = 0

    @post("/api/v1/counted", status_code=200)
    async def counted() -> None:
        nonlocal calls
        calls += 1

    app = Litestar(
        route_handlers=[counted],
        middleware=[RateLimitMiddleware(TABLE, TrustedProxies(), limiter)],
    )
    async with app.lifespan(), connector(app)() as client:
        statuses = [(await client.post("/api/v1/counted")).status_code for _ in range(6)]
    assert statuses == [200] * 4 + [429] * 2
    assert calls == 4


async def test_installed_on_a_router_and_bound_at_start_up(limiter: LimitsRateLimiter) -> None:
    """The way create_app installs it: after authentication on the API router, with the
    limiter bound once the container is open."""

    @post("/auth/login", status_code=200)
    async def routed_login() -> None:
        return None

    rate_limits = RateLimitMiddleware(TABLE, TrustedProxies())

    async def bind() -> None:
        rate_limits.bind(limiter)

    api = Router("/api/v1", route_handlers=[routed_login], middleware=[rate_limits])
    app = Litestar(route_handlers=[api], on_startup=[bind])
    async with app.lifespan(), connector(app)() as client:
        statuses = [(await client.post(LOGIN)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.parametrize(
    "variant",
    [
        "/api/v1/auth/login/",
        "//api/v1/auth/login",
        "/api//v1/auth/login",
        "/API/v1/auth/login",
        "/api/v1/AUTH/login",
        "/%2Fapi/v1/auth/login",
        "/%2Fapi%2Fv1%2Fauth%2Flogin",
        "/api/v1/auth/login%2F",
        "/api/v1/auth/./login",
        "/api/v1/auth/login;x=1",
    ],
)
async def test_path_variants_share_the_bucket_or_404(
    limiter: LimitsRateLimiter, variant: str
) -> None:
    async with serving(limiter) as connect, connect() as client:
        for _ in range(3):
            assert (await client.post(LOGIN)).status_code == 200
        response = await client.post(httpx.URL(f"http://api.test{variant}"))
    assert response.status_code in {404, 429}, response.status_code


async def test_a_routed_variant_spends_the_same_budget(limiter: LimitsRateLimiter) -> None:
    async with serving(limiter) as connect, connect() as client:
        first = await client.post(httpx.URL("http://api.test/api/v1/auth/login/"))
        second = await client.post(httpx.URL("http://api.test//api/v1/auth/login"))
        third = await client.post(LOGIN)
        fourth = await client.post(LOGIN)
    assert [first.status_code, second.status_code, third.status_code] == [200, 200, 200]
    assert rate_limit_items(third)["login"][0] == 0
    assert fourth.status_code == 429


async def test_health_is_never_limited(limiter: LimitsRateLimiter) -> None:
    async with serving(limiter) as connect, connect() as client:
        for path in ["/health", "/health/ready"] * 10:
            response = await client.get(path)
            assert response.status_code == 200
            assert "ratelimit" not in response.headers
            assert "ratelimit-policy" not in response.headers


async def test_path_parameters_share_the_route_budget(limiter: LimitsRateLimiter) -> None:
    async with serving(limiter) as connect, connect() as client:
        statuses = [(await client.get(f"/api/v1/things/{n}")).status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]


async def test_users_have_their_own_budget_and_anonymous_falls_back_to_ip(
    limiter: LimitsRateLimiter,
) -> None:
    async with serving(limiter) as connect, connect() as client:
        alice = [await client.get("/api/v1/things/1", headers={"X-Test-User": "alice"})]
        alice += [await client.get("/api/v1/things/2", headers={"X-Test-User": "alice"})]
        for _ in range(4):
            assert (await client.get("/api/v1/things/3")).status_code == 200
        anonymous = await client.get("/api/v1/things/3")
        bob = await client.get("/api/v1/things/1", headers={"X-Test-User": "bob"})
    assert [rate_limit_items(r)["api"][0] for r in alice] == [3, 2]
    assert anonymous.status_code == 429
    assert bob.status_code == 200
    assert rate_limit_items(bob)["api"][0] == 3


async def test_a_global_policy_is_enforced_but_not_advertised(
    limiter: LimitsRateLimiter,
) -> None:
    async with serving(limiter) as connect:
        responses = []
        for peer in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]:
            async with connect(peer) as client:
                responses.append(await client.get("/api/v1/scarce"))
    assert [r.status_code for r in responses] == [200, 200, 429]
    for response in responses:
        assert "ratelimit" not in response.headers
        assert "ratelimit-policy" not in response.headers
    assert 0 < int(responses[-1].headers["retry-after"]) <= 60


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    limiter: LimitsRateLimiter,
) -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    async with serving(limiter, proxies=proxies) as connect, connect() as client:
        statuses = [
            (await client.post(LOGIN, headers={"X-Forwarded-For": f"1.2.3.{n}"})).status_code
            for n in range(5)
        ]
    assert statuses == [200, 200, 200, 429, 429]


async def test_behind_a_trusted_proxy_each_client_has_its_own_bucket(
    limiter: LimitsRateLimiter,
) -> None:
    proxies = TrustedProxies(["10.0.0.0/8"])
    async with serving(limiter, proxies=proxies) as connect, connect("10.0.0.1") as client:
        for _ in range(3):
            await client.post(LOGIN, headers={"X-Forwarded-For": "198.51.100.1"})
        one = await client.post(LOGIN, headers={"X-Forwarded-For": "198.51.100.1"})
        spoofed = await client.post(LOGIN, headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.1"})
        other = await client.post(LOGIN, headers={"X-Forwarded-For": "198.51.100.2"})
    assert one.status_code == 429
    assert spoofed.status_code == 429
    assert other.status_code == 200


async def test_ipv6_rotation_inside_one_64_shares_a_bucket(limiter: LimitsRateLimiter) -> None:
    async with serving(limiter) as connect:
        statuses = []
        for host in ["1", "2", "ffff:ffff:ffff:ffff", "abcd:1:2:3"]:
            async with connect(
                f"2001:db8:1:2:{host}" if ":" in host else f"2001:db8:1:2::{host}"
            ) as c:
                statuses.append((await c.post(LOGIN)).status_code)
        async with connect("2001:db8:1:3::1") as other_64:
            other = await other_64.post(LOGIN)
    assert statuses == [200, 200, 200, 429]
    assert other.status_code == 200


async def test_the_default_table_follows_security_md(limiter: LimitsRateLimiter) -> None:
    async with (
        serving(limiter, table=default_rate_limit_table()) as connect,
        connect() as client,
    ):
        login_response = await client.post(LOGIN)
        other = await client.get("/api/v1/things/1")
    assert login_response.headers["ratelimit-policy"] == (
        '"login_ip_minute";q=20;w=60, "login_ip_hour";q=200;w=3600'
    )
    assert other.headers["ratelimit-policy"] == '"api";q=100;w=60'


def test_later_capabilities_add_their_routes() -> None:
    orders = RouteLimit(RatePolicy("orders", 10, 1), KeyKind.USER)
    table = default_rate_limit_table().with_routes({("post", "/api/v1/orders"): [orders]})
    assert table.limits_for("POST", "/api/v1/orders") == (orders,)
    assert len(table.limits_for("POST", LOGIN)) == 2
    assert table.limits_for("GET", "/health/ready") == ()
    assert table.limits_for("GET", "/healthcheck") == table.default
    with pytest.raises(ValueError, match="starts with '/'"):
        table.with_routes({("GET", "api/v1/x"): [orders]})


@pytest.mark.redis
async def test_two_processes_on_one_redis_hold_the_combined_limit(
    redis_server_url: str, redis_prefix: str
) -> None:
    limiters = [
        LimitsRateLimiter(redis_server_url, key_prefix=redis_prefix, timeout=2.0) for _ in range(2)
    ]
    try:
        async with serving(limiters[0]) as first, serving(limiters[1]) as second:
            statuses = []
            for connect in [first, second, first, second, first]:
                async with connect() as client:
                    statuses.append((await client.post(LOGIN)).status_code)
        assert statuses == [200, 200, 200, 429, 429]
    finally:
        for limiter in limiters:
            await limiter.aclose()
        redis = Redis.from_url(redis_server_url)
        keys = await redis.keys(f"{redis_prefix}*")
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
