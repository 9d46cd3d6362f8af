"""Every error leaves as one RFC 9457 problem: the right status, never a 500 for bad input,
never a traceback in the body (security reference API-1)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import httpx
import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody

from dashcore.domain.errors import (
    AuthenticationFailed,
    Conflict,
    DashcoreError,
    DecryptionFailed,
    DependencyUnavailable,
    FieldError,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
)
from dashcore.domain.ratelimit import RatePolicy
from dashcore_app.settings import Settings
from dashcore_http import create_app
from dashcore_http.authentication import BearerAuthentication
from dashcore_http.inputs import check_request_body
from tests.integration.conftest import AppClient

LEAK = re.compile(r'Traceback|File "')


class Leg(msgspec.Struct, forbid_unknown_fields=True):
    ratio: int


class Order(msgspec.Struct, forbid_unknown_fields=True):
    symbol: str
    quantity: int
    urgent: bool = False
    until: datetime | None = None
    legs: list[Leg] = msgspec.field(default_factory=list)


@post("/test/orders")
async def create_order(data: JSONBody[Order]) -> dict[str, Any]:
    return {
        "symbol": data.symbol,
        "urgent": data.urgent,
        "until": data.until,
        "ratios": [leg.ratio for leg in data.legs],
    }


@get("/test/search")
async def search(q: FromQuery[str]) -> dict[str, str]:
    return {"q": q}


@get("/test/boom")
async def boom() -> None:
    raise RuntimeError("kaboom")


DOMAIN_ERRORS: dict[str, DashcoreError] = {
    "invalid_input": InvalidInput(errors=(FieldError("email", "not an address"),)),
    "not_found": NotFound(),
    "conflict": Conflict(),
    "authentication_failed": AuthenticationFailed(),
    "forbidden": Forbidden(),
    "rate_limited": RateLimited(retry_after=7, policy=RatePolicy("login_account", 5, 60)),
    "reauth_required": ReauthRequired(),
    "provider_unavailable": ProviderUnavailable(retry_after=30),
    "order_state_unknown": OrderStateUnknown(),
    "dependency_unavailable": DependencyUnavailable(dependency="redis"),
    "integrity_error": IntegrityError(),
    "decryption_failed": DecryptionFailed("ciphertext for key k1 failed its tag check"),
}


@get("/test/raise/{name:str}")
async def raise_domain_error(name: FromPath[str]) -> None:
    raise DOMAIN_ERRORS[name]


ROUTES = [create_order, search, boom, raise_domain_error]


@pytest.fixture
async def client(serve: AppClient, memory_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(memory_settings, route_handlers=ROUTES) as client:
        yield client


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response's problem document, after checking its shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert not LEAK.search(response.text)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"/problems/{code}"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["instance"] == response.request.url.path
    assert body["title"] and body["detail"]
    return body


async def test_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    problem(await client.get("/nowhere"), 404, "not_found")


@pytest.mark.parametrize("method", ["POST", "DELETE", "PUT", "TRACE"])
async def test_undocumented_method_is_405(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/health")
    problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    body = b'{"symbol": "' + b"A" * (65 * 1024) + b'", "quantity": 1}'
    response = await client.post(
        "/test/orders", content=body, headers={"content-type": "application/json"}
    )
    problem(response, 413, "request_too_large")


async def test_chunked_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient,
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 1000 KiB, no Content-Length
            sent += 1
            yield b" " * 1024

    response = await client.post(
        "/test/orders", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    problem(response, 413, "request_too_large")
    assert sent <= 66  # the limit is 64 KiB: reading stopped right after it


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(
        "/test/orders", content=b'{"symbol": "X", "quantity": 1}', headers=headers
    )
    problem(response, 415, "unsupported_media_type")


async def test_json_with_charset_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/orders",
        content=b'{"symbol": "X", "quantity": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201
    assert response.json()["symbol"] == "X"


@pytest.mark.parametrize(
    "body", [b"{not json", b'{"symbol": "X",', b"\xff\xfe", b'{"symbol": "\xff"}']
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/test/orders", content=body, headers={"content-type": "application/json"}
    )
    problem(response, 400, "malformed_body")


@pytest.mark.parametrize(
    ("body", "name"),
    [
        (b'{"symbol": "X", "quantity": 1, "symbol": "Y"}', "symbol"),
        (
            b'{"symbol": "X", "quantity": 1, "legs": [{"symbol": "A", "ratio": 1, "ratio": 2}]}',
            "ratio",
        ),
        (b'{"symbol": "X", "quantity": 1, "sym\\u0062ol": "Y"}', "symbol"),
    ],
    ids=["top-level", "nested", "escaped"],
)
async def test_a_member_named_twice_is_400(
    client: httpx.AsyncClient, body: bytes, name: str
) -> None:
    """Found by QA: the last value won, so a proxy or firewall reading the first one checked
    another request than the one acted on (security reference b.8)."""
    response = await client.post(
        "/test/orders", content=body, headers={"content-type": "application/json"}
    )
    assert repr(name) in problem(response, 400, "duplicate_member")["detail"]


async def test_deeply_nested_json_is_400_not_500(client: httpx.AsyncClient) -> None:
    body = b"[" * 10_000 + b"]" * 10_000
    response = await client.post(
        "/test/orders", content=body, headers={"content-type": "application/json"}
    )
    problem(response, 400, "body_too_deep")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"symbol": "X", "quantity": "many"}', "quantity"),
        (b'{"symbol": "X", "quantity": 1, "price": "1"}', "price"),
        (b'{"symbol": "X"}', "quantity"),
        (b"", "body"),
        (b"[]", "body"),
        (b'{"symbol": "X", "quantity": "1"}', "quantity"),
        (b'{"symbol": "X", "quantity": 1, "urgent": "true"}', "urgent"),
        (b'{"symbol": "X", "quantity": 1, "urgent": 1}', "urgent"),
        (b'{"symbol": "X", "quantity": 1, "until": 1700000000}', "until"),
        (b'{"symbol": "X", "quantity": 1, "until": "1700000000"}', "until"),
        (
            b'{"symbol": "X", "quantity": 1, "legs": [{"ratio": 2}, {"ratio": "2"}]}',
            "legs[1].ratio",
        ),
    ],
    ids=[
        "wrong-type",
        "unknown-field",
        "missing-field",
        "empty-body",
        "array-body",
        "number-as-text",
        "boolean-as-text",
        "boolean-as-number",
        "time-as-epoch-number",
        "time-as-epoch-text",
        "nested-field",
    ],
)
async def test_schema_violation_is_422_naming_the_field(
    client: httpx.AsyncClient, body: bytes, field: str
) -> None:
    response = await client.post(
        "/test/orders", content=body, headers={"content-type": "application/json"}
    )
    errors = problem(response, 422, "invalid_input")["errors"]
    assert [error["field"] for error in errors] == [field]
    assert all(" " in error["message"] for error in errors)  # a sentence, not a key's name


async def test_a_missing_query_parameter_is_422_naming_it(client: httpx.AsyncClient) -> None:
    errors = problem(await client.get("/test/search"), 422, "invalid_input")["errors"]
    assert errors == [{"field": "q", "message": "The query parameter 'q' is required."}]
    assert (await client.get("/test/search", params={"q": "x"})).json() == {"q": "x"}


async def test_a_body_of_the_right_json_types_is_accepted(client: httpx.AsyncClient) -> None:
    body = {
        "symbol": "X",
        "quantity": 3,
        "urgent": True,
        "until": "2026-11-24T10:00:00+00:00",
        "legs": [{"ratio": 2}],
    }
    response = await client.post("/test/orders", json=body)
    assert response.status_code == 201, response.text
    assert response.json() == {
        "symbol": "X",
        "urgent": True,
        "until": "2026-11-24T10:00:00Z",
        "ratios": [2],
    }


async def test_unexpected_exception_is_a_500_logged_once(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    log_lines()
    response = await client.get("/test/boom")
    body = problem(response, 500, "internal_error")
    assert "kaboom" not in response.text
    logged = [line for line in log_lines() if "exception" in line]
    assert len(logged) == 1
    assert logged[0]["event"] == "unhandled_exception"
    assert logged[0]["request_id"] == body["request_id"]
    assert "RuntimeError: kaboom" in logged[0]["exception"]


EXPECTED = {
    "invalid_input": 422,
    "not_found": 404,
    "conflict": 409,
    "authentication_failed": 401,
    "forbidden": 403,
    "rate_limited": 429,
    "reauth_required": 409,
    "provider_unavailable": 503,
    "order_state_unknown": 202,
    "dependency_unavailable": 503,
    "integrity_error": 500,
    "decryption_failed": 500,
}


@pytest.mark.parametrize(("code", "status"), EXPECTED.items())
async def test_domain_error_maps_to_its_status(
    client: httpx.AsyncClient, code: str, status: int
) -> None:
    problem(await client.get(f"/test/raise/{code}"), status, code)


async def test_domain_error_extras(client: httpx.AsyncClient) -> None:
    invalid = (await client.get("/test/raise/invalid_input")).json()
    assert invalid["errors"] == [{"field": "email", "message": "not an address"}]
    unauthenticated = await client.get("/test/raise/authentication_failed")
    assert unauthenticated.headers["www-authenticate"] == "Bearer"
    limited = (await client.get("/test/raise/rate_limited")).headers
    assert limited["retry-after"] == "7"
    # The budget that ran out is named, with nothing left until it resets.
    assert limited["ratelimit-policy"] == '"login_account";q=5;w=60'
    assert limited["ratelimit"] == '"login_account";r=0;t=7'
    assert (await client.get("/test/raise/provider_unavailable")).headers["retry-after"] == "30"
    dependency = await client.get("/test/raise/dependency_unavailable")
    assert dependency.json()["dependency"] == "redis"
    assert dependency.headers["retry-after"] == "5"


async def test_integrity_errors_keep_their_details_in_the_log(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    log_lines()
    response = await client.get("/test/raise/decryption_failed")
    assert "k1" not in response.text
    logged = [line for line in log_lines() if "exception" in line]
    assert len(logged) == 1
    assert logged[0]["problem"] == "decryption_failed"


def test_every_route_that_takes_a_body_runs_the_body_checks(memory_settings: Settings) -> None:
    """A controller or handler with its own ``before_request`` would silently replace the
    body checks (415, malformed JSON, depth); this keeps every route that takes a body honest,
    dashcore's and those added next to it. Routes without one run no hook (the probes)."""
    app = create_app(memory_settings, route_handlers=ROUTES)
    handlers = [h for route in app.routes for h in getattr(route, "route_handlers", ())]
    takes_body = [h for h in handlers if "data" in h.parsed_fn_signature.parameters]
    assert create_order.handler_name in {h.handler_name for h in takes_body}
    hooks = {h.handler_name: type(h.resolve_before_request()) for h in takes_body}
    # The API router's authentication hook runs the body checks itself (see the 415 test).
    assert all(
        h.resolve_before_request() is check_request_body
        or isinstance(h.resolve_before_request(), BearerAuthentication)
        for h in takes_body
    ), hooks
    probes = [h for h in handlers if h.paths & {"/health", "/health/ready"}]
    assert probes
    assert all(h.resolve_before_request() is None for h in probes)


async def test_api_routes_run_the_body_checks_too(
    serve: AppClient, memory_settings: Settings
) -> None:
    async with serve(memory_settings) as client:
        wrong_type = await client.post(
            "/api/v1/auth/login", content=b"email=a", headers={"Content-Type": "text/plain"}
        )
        not_json = await client.post(
            "/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"}
        )
    assert (wrong_type.status_code, wrong_type.json()["code"]) == (415, "unsupported_media_type")
    assert (not_json.status_code, not_json.json()["code"]) == (400, "malformed_body")
