"""Every operation of the OpenAPI document, fuzzed: a client mistake is never a 500
(security.md ORD-3 and API-1, "F: Schemathesis negative mode on the OpenAPI schema").

Schemathesis reads the app's own ``/docs/openapi.json`` and generates, for every operation under
``/api/v1`` and ``/health``, requests that fit the schema (positive) and requests that break it
(negative: wrong types, missing or extra fields, out-of-range values, malformed path and query
parameters), plus its fixed set of coverage cases (each constraint met at its edge and broken
just past it). Operations whose path names an item run twice more, on items that exist (an
account, a transaction, a trade, a split, an export, a connection, the session, the user, a
provider), so that bodies reach the code behind the 404. Every request carries a signed-in
administrator's bearer token, so admin and step-up routes get past authentication too.

No answer may be a 5xx (the app documents 503 only for a dependency that is down, and nothing
is down in memory), and every 4xx is an ``application/problem+json`` body with a ``code``.

The app runs in the test's event loop through the ``served`` fixture; Hypothesis drives a
synchronous function, so the examples are generated in a worker thread and each request is sent
back to the loop. The run is derandomized, so CI sends the same requests every time; a failure
names the operation and a curl command that repeats the request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import anyio.from_thread
import anyio.to_thread
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import SYSTEM
from dashcore_app.settings import Settings
from tests.integration.identity.conftest import Backend, Served, mailbox, served
from tests.integration.identity.support import API, log_in

__all__ = ["mailbox", "served"]

EXAMPLES = 20
"""Requests per operation, generation mode and set of items: with the coverage cases about
5,300 requests, 40 s on two cores (the budget is a minute)."""
PASSWORD = "the fuzzing administrator's passphrase"
BASE_URL = "http://testserver"
PROBLEM = "application/problem+json"
POSITIVE = schemathesis.GenerationMode.POSITIVE
NEGATIVE = schemathesis.GenerationMode.NEGATIVE


Send = Callable[[requests.PreparedRequest], httpx.Response]


@pytest.fixture
def backend(memory_settings: Settings) -> Backend:
    """The embedded default in memory, without rate limits: the fuzzer sends far more requests
    a minute than any policy allows, and a 429 would hide what the request itself causes."""
    return Backend(replace(memory_settings, rate_limits=False))


def _fuzzed(operation: schemathesis.APIOperation) -> bool:
    path = operation.path
    return path.startswith((f"{API}/", "/health"))


def _broken_rule(response: httpx.Response) -> str | None:
    """How the answer breaks the rule, if it does."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:500]}"
    if status >= 400:
        media_type = response.headers.get("content-type", "").split(";")[0]
        if media_type != PROBLEM:
            return f"{status} as {media_type!r}, not {PROBLEM}"
        if not isinstance(response.json().get("code"), str):
            return f"{status} without a code: {response.text[:500]}"
    return None


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    send: Send,
    path_parameters: Mapping[str, str] | None = None,
) -> None:
    """``EXAMPLES`` requests of ``mode`` to ``operation``; an assertion error names the first
    that breaks the rule (shrunk to its simplest form). A negative run where nothing is left to
    break (every generated part accepts any string) has no request to send."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: schemathesis.Case) -> None:
        request = requests.Request(**case.as_transport_kwargs(base_url=BASE_URL)).prepare()
        broken = _broken_rule(send(request))
        assert broken is None, f"{broken}\n{case.as_curl_command()}"

    try:
        run()
    except Unsatisfiable:
        if mode is POSITIVE:
            raise


def _boundaries(operation: schemathesis.APIOperation, send: Send) -> str | None:
    """Schemathesis's coverage cases for ``operation``, a fixed set: each constraint of the schema
    met at its edge and broken just past it (lengths, ranges, patterns, enums, formats, required
    parts left out, wrong types, repeated query parameters, methods the path does not take);
    the first that breaks the rule, if one does."""
    schema = operation.schema
    for case in schema.iter_coverage_cases(
        operation,
        generation_modes=[POSITIVE, NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation),
    ):
        request = requests.Request(**case.as_transport_kwargs(base_url=BASE_URL)).prepare()
        if (broken := _broken_rule(send(request))) is not None:
            return f"{broken}\n{case.as_curl_command()}"
    return None


async def _signed_in_admin(served: Served, number: int) -> tuple[dict[str, str], str]:
    """The bearer header of a new administrator's session, and the session id. Each operation
    gets its own account: the fuzzer's requests end sessions (logout, logout-all, step-up),
    change the profile and lock the account after enough wrong passwords, and none of that may
    spill into the next operation."""
    email = f"fuzz-{number}@example.org"
    async with served.core() as scope:
        create_admin = await scope.get(CreateAdmin)
        await create_admin(email, PASSWORD, SYSTEM)
    account = await log_in(served.client, email, PASSWORD)
    return account.headers, account.session_id


async def _items(served: Served, headers: dict[str, str], session_id: str) -> dict[str, str]:
    """Items of the signed-in account, by the path parameter that names them."""
    client = served.client

    async def created(path: str, body: dict[str, Any]) -> str:
        response = await client.post(f"{API}{path}", json=body, headers=headers)
        assert response.status_code in {201, 202}, response.text
        return str(response.json()["id"])

    account_id = await created("/accounts", {"name": "Fuzzed", "currency": "USD"})
    at = "2026-01-02T10:00:00+00:00"
    instrument = {"symbol": "INFY", "exchange": "NSE"}
    me = await client.get(f"{API}/auth/me", headers=headers)
    return {
        "account_id": account_id,
        "transaction_id": await created(
            "/transactions",
            {"account_id": account_id, "type": "deposit", "occurred_at": at, "amount": "10"},
        ),
        "trade_id": await created(
            "/trades",
            {
                **instrument,
                "side": "buy",
                "quantity": "1",
                "price": "1500",
                "currency": "INR",
                "executed_at": at,
            },
        ),
        "split_id": await created(
            "/splits", {**instrument, "numerator": 2, "denominator": 1, "effective_at": at}
        ),
        "export_id": await created(
            "/exports", {"format": "csv", "since": at, "until": "2026-02-01T00:00:00+00:00"}
        ),
        "connection_id": await created("/providers", {"provider": "upstox"}),
        "session_id": session_id,
        "user_id": str(me.json()["id"]),
        "provider": "upstox",
    }


def _on_items(
    operation: schemathesis.APIOperation, items: Mapping[str, str]
) -> dict[str, str] | None:
    """The operation's path parameters set to existing items, if it names only known ones."""
    names = [parameter.name for parameter in operation.path_parameters]
    if names and all(name in items for name in names):
        return {name: items[name] for name in names}
    return None


def _fuzz_operation(
    served: Served, operation: schemathesis.APIOperation, number: int
) -> dict[str, str]:
    """Fuzz one operation as a new administrator (run in a worker thread); the broken rules by
    run."""
    headers, session_id = anyio.from_thread.run(_signed_in_admin, served, number)

    async def sent(request: requests.PreparedRequest) -> httpx.Response:
        return await served.client.request(
            request.method or "GET",
            request.url or "/",
            headers={**request.headers, **headers},
            content=request.body,
        )

    def send(request: requests.PreparedRequest) -> httpx.Response:
        return anyio.from_thread.run(sent, request)

    runs: list[tuple[str, Mapping[str, str] | None]] = [("", None)]
    if operation.path_parameters:
        items = anyio.from_thread.run(_items, served, headers, session_id)
        if (existing := _on_items(operation, items)) is not None:
            runs.append((" on existing items", existing))
    failures: dict[str, str] = {}
    for label, path_parameters in runs:
        for mode in (POSITIVE, NEGATIVE):
            try:
                _fuzz(operation, mode, send, path_parameters)
            except AssertionError as failure:
                failures[f"{operation.label} ({mode.value}{label})"] = str(failure)
    if (broken := _boundaries(operation, send)) is not None:
        failures[f"{operation.label} (coverage)"] = broken
    return failures


async def test_no_generated_request_is_answered_with_a_server_error(served: Served) -> None:
    document = (await served.client.get("/docs/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    # The bearer token is the fuzzer's to give; generated (or missing) credentials would only
    # ever test the authentication, which has suites of its own.
    schema.config.generation.update(with_security_parameters=False)
    operations = [result.ok() for result in schema.get_all_operations()]
    fuzzed = [operation for operation in operations if _fuzzed(operation)]
    assert len(fuzzed) > 80

    def fuzz_all() -> dict[str, str]:
        failures: dict[str, str] = {}
        for number, operation in enumerate(fuzzed):
            failures.update(_fuzz_operation(served, operation, number))
        return failures

    failures = await anyio.to_thread.run_sync(fuzz_all)
    assert failures == {}, "\n\n".join(f"{label}: {why}" for label, why in failures.items())
