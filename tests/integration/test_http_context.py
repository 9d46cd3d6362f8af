"""Request ids, security headers, the canonical log line, CORS and the API docs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
import structlog
from litestar import get

from dashcore_app.settings import Settings
from dashcore_http import create_app
from tests.integration.conftest import AppClient


@get("/test/log")
async def log_something() -> dict[str, str]:
    structlog.get_logger("test").warning("inside_handler")
    return {"ok": "yes"}


@get("/test/cached", cache=60)
async def cached() -> dict[str, str]:
    return {"cached": "yes"}


@pytest.fixture
async def client(serve: AppClient, memory_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(memory_settings, route_handlers=[log_something, cached]) as client:
        yield client


async def test_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "edge-42.a_b"})
    assert response.headers["x-request-id"] == "edge-42.a_b"


@pytest.mark.parametrize(
    "incoming", ["x" * 65, "has space", "semi;colon", "new\\nline", "ünïcode".encode().hex() + "é"]
)
async def test_insane_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers={b"X-Request-ID": incoming.encode()})
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert len(generated) == 32
    assert int(generated, 16) >= 0


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


async def test_a_cached_response_gets_the_headers_of_the_request_that_reads_it(
    client: httpx.AsyncClient,
) -> None:
    """Litestar's response cache keeps the messages it saw; the middleware must not have
    written this request's id (or a second copy of the security headers) into them."""
    first = await client.get("/test/cached", headers={"X-Request-ID": "first"})
    second = await client.get("/test/cached", headers={"X-Request-ID": "second"})
    assert first.json() == second.json() == {"cached": "yes"}
    assert second.headers.get_list("x-request-id") == ["second"]
    assert second.headers.get_list("x-frame-options") == ["DENY"]
    assert second.headers.get_list("cache-control") == ["no-store"]


@pytest.mark.parametrize("path", ["/health", "/nowhere"])
async def test_security_headers_on_every_response(client: httpx.AsyncClient, path: str) -> None:
    headers = (await client.get(path)).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "strict-transport-security" not in headers


async def test_hsts_only_over_https(serve: AppClient, memory_settings: Settings) -> None:
    async with serve(memory_settings, base_url="https://api.example") as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_hsts_behind_a_tls_proxy_when_the_public_base_is_https(
    serve: AppClient, memory_settings: Settings
) -> None:
    """A proxy that ends TLS forwards plain http; the configured https origin says what the
    browser spoke."""
    settings = replace(memory_settings, public_base_url="https://app.example")
    async with serve(settings, base_url="http://backend.internal") as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_log_lines_during_a_request_carry_its_id(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    log_lines()
    response = await client.get("/test/log", headers={"X-Request-ID": "trace-me"})
    inside = [line for line in log_lines() if line["event"] == "inside_handler"]
    assert response.status_code == 200
    assert [line["request_id"] for line in inside] == ["trace-me"]


async def test_one_canonical_line_per_request_without_query_string(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    log_lines()
    response = await client.get(
        "/test/log?access_token=hunter2", headers={"User-Agent": "probe/1.0"}
    )
    lines = [line for line in log_lines() if line["event"] == "http_request"]
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET"
    assert line["path"] == "/test/log"
    assert line["status"] == 200
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["client"] == "127.0.0.1"
    assert line["user_agent"] == "probe/1.0"
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert "hunter2" not in str(line)


@pytest.mark.parametrize(("level", "logged"), [("INFO", False), ("DEBUG", True)])
async def test_successful_health_probes_are_logged_only_at_debug(
    serve: AppClient,
    memory_settings: Settings,
    log_lines: Callable[[], list[dict[str, Any]]],
    level: str,
    logged: bool,
) -> None:
    async with serve(replace(memory_settings, log_level=level)) as client:
        log_lines()
        await client.get("/health")
        await client.get("/health/ready")
        paths = [line["path"] for line in log_lines() if line["event"] == "http_request"]
    assert paths == (["/health", "/health/ready"] if logged else [])


async def test_no_canonical_line_below_info(
    serve: AppClient, memory_settings: Settings, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    async with serve(replace(memory_settings, log_level="WARNING")) as client:
        log_lines()
        await client.get("/health")
    assert not [line for line in log_lines() if line["event"] == "http_request"]


async def test_no_cors_unless_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_cors_allows_only_listed_origins(serve: AppClient, memory_settings: Settings) -> None:
    settings = replace(memory_settings, cors_origins=("https://app.example",))
    async with serve(settings) as client:
        allowed = await client.options(
            "/health",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "GET"},
        )
        refused = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "access-control-allow-origin" not in refused.headers


async def test_a_preflight_to_the_api_needs_no_access_token(
    serve: AppClient, memory_settings: Settings
) -> None:
    """A browser asks before it sends the token: the preflight of an authenticated route is
    answered by CORS, never refused 401, and allows the headers placing an order needs."""
    settings = replace(memory_settings, cors_origins=("https://app.example",))
    async with serve(settings) as client:
        preflight = await client.options(
            "/api/v1/orders",
            headers={
                "Origin": "https://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            },
        )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "idempotency-key"} <= {h.strip() for h in allowed.split(",")}


async def test_api_docs(client: httpx.AsyncClient) -> None:
    schema = await client.get("/docs/openapi.json")
    assert schema.status_code == 200
    assert "/health/ready" in schema.json()["paths"]
    for page in ("/docs/swagger", "/docs/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        assert "text/html" in response.headers["content-type"]
        assert "script-src" in response.headers["content-security-policy"]


def api_operations(paths: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations of an OpenAPI ``paths`` object under ``/api/v1``."""
    return [
        operation
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for operation in item.values()
        if isinstance(operation, dict) and "responses" in operation
    ]


async def test_the_api_docs_say_which_operations_need_the_access_token(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/docs/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "The access token that POST /api/v1/auth/login answers with.",
    }
    paths = schema["paths"]
    assert paths["/api/v1/auth/me"]["get"]["security"] == [{"bearer": []}]
    assert paths["/api/v1/orders"]["post"]["security"] == [{"bearer": []}]
    # Public operations may be called without it; the probes are outside the API.
    assert paths["/api/v1/auth/login"]["post"]["security"] == [{"bearer": []}, {}]
    assert "security" not in paths["/health"]["get"]
    jwks = paths["/.well-known/jwks.json"]["get"]["responses"]["200"]["content"]
    assert list(jwks) == ["application/jwk-set+json"]
    assert all(operation["security"][0] == {"bearer": []} for operation in api_operations(paths))


async def test_every_api_operation_documents_the_frames_problem_answers(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/docs/openapi.json")).json()["paths"]
    operations = api_operations(paths)
    assert operations
    for operation in operations:
        answers = operation["responses"]
        expected = {"400", "422", "429", "500", "503"}
        if operation["security"] == [{"bearer": []}]:  # not public
            expected.add("401")
        assert expected <= set(answers), operation["operationId"]
        problem = {"$ref": "#/components/schemas/Problem"}
        assert answers["500"]["content"] == {"application/problem+json": {"schema": problem}}
    order = paths["/api/v1/orders/{order_id}"]
    assert "404" in order["get"]["responses"] and "415" not in order["get"]["responses"]
    assert {"404", "415"} <= set(order["patch"]["responses"])
    # A problem a handler declares itself is documented with the problem media type too.
    webhook = paths["/api/v1/webhooks/{provider}"]["post"]["responses"]["401"]
    assert list(webhook["content"]) == ["application/problem+json"]
    login = paths["/api/v1/auth/login"]["post"]["responses"]
    assert not login.get("401", {}).get("description", "").startswith("No valid access token")
    assert (
        "responses" in paths["/health"]["get"] and "500" not in paths["/health"]["get"]["responses"]
    )


def test_every_public_api_route_is_documented_as_callable_without_the_token(
    memory_settings: Settings,
) -> None:
    """``opt=PUBLIC`` is what authentication obeys; ``security=ANONYMOUS`` is what the docs
    say: the two must go together on every ``/api/v1`` route."""
    app = create_app(memory_settings)
    api = [
        handler
        for route in app.routes
        if route.path.startswith("/api/v1/")
        for handler in getattr(route, "route_handlers", ())
    ]
    assert len(api) > 50
    for handler in api:
        public = bool(handler.opt.get("public"))
        assert public == ({} in handler.resolve_security()), handler.handler_name


async def test_api_docs_can_be_turned_off(serve: AppClient, memory_settings: Settings) -> None:
    async with serve(replace(memory_settings, api_docs=False)) as client:
        for path in ("/docs/openapi.json", "/docs/swagger", "/docs/redoc"):
            assert (await client.get(path)).status_code == 404
