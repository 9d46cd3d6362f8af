"""The OpenAPI document and ``docs/api.md`` tell a client the same answers for every route."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dashcore_app.settings import Settings
from tests.integration.conftest import AppClient

API_DOC = Path(__file__).parents[2] / "docs" / "api.md"
_ROUTE_TABLE = "| method and path | auth | purpose | answers |"
_ROUTE_ROW = re.compile(r"^\| `(?P<method>[A-Z]+) (?P<path>/api/v1/[^`?]*)[^`]*` \|(?P<rest>.*)\|$")
_CELL_BORDER = re.compile(r"(?<!\\)\|")
_CODE_SPAN = re.compile(r"`[^`]*`")
_STATUS = re.compile(r"\b[1-5][0-9]{2}\b")
_PATH_PARAMETER = re.compile(r"\{[^}]*\}")

# Rows whose answers column refers to another row instead of listing statuses.
_ANSWERS_AS = {
    "PATCH /api/v1/trades/{}": "PUT /api/v1/trades/{}",  # "as `PUT`"
}


def _route(method: str, path: str) -> str:
    """``METHOD path`` with every path parameter as ``{}``: the doc says ``{id}`` where the
    OpenAPI path says ``{order_id}``."""
    return f"{method.upper()} {_PATH_PARAMETER.sub('{}', path)}"


def documented_routes() -> dict[str, tuple[str, set[str]]]:
    """Per ``/api/v1`` route of the endpoint table in ``docs/api.md``, its auth column and the
    statuses of its answers column (numbers inside code spans, such as ``expires_in:600``, are
    not statuses)."""
    lines = API_DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(_ROUTE_TABLE)
    table = [line.strip() for line in lines[start:]]
    routes: dict[str, tuple[str, set[str]]] = {}
    for line in table[: table.index("")]:
        if row := _ROUTE_ROW.match(line):
            cells = _CELL_BORDER.split(row["rest"])
            statuses = set(_STATUS.findall(_CODE_SPAN.sub("", cells[-1])))
            routes[_route(row["method"], row["path"])] = (cells[0].strip(), statuses)
    for route, same_as in _ANSWERS_AS.items():
        auth, statuses = routes[route]
        assert not statuses, f"{route} lists its own statuses now"
        routes[route] = (auth, routes[same_as][1])
    return routes


@pytest.fixture
async def openapi_paths(serve: AppClient, memory_settings: Settings) -> dict[str, Any]:
    async with serve(memory_settings) as client:
        paths: dict[str, Any] = (await client.get("/docs/openapi.json")).json()["paths"]
    return paths


def _responses(paths: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per ``/api/v1`` operation of the OpenAPI document, its ``responses`` by status."""
    return {
        _route(method, path): operation["responses"]
        for path, item in paths.items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    }


async def test_every_status_the_api_doc_lists_is_in_the_openapi_document(
    openapi_paths: dict[str, Any],
) -> None:
    documented = {route: statuses for route, (_, statuses) in documented_routes().items()}
    operations = {route: set(responses) for route, responses in _responses(openapi_paths).items()}
    assert len(documented) > 50
    assert all(documented.values()), [route for route, found in documented.items() if not found]
    missing = {
        route: sorted(statuses - operations.get(route, set()))
        for route, statuses in documented.items()
        if not statuses <= operations.get(route, set())
    }
    assert missing == {}


async def test_step_up_and_admin_routes_name_their_refusals(
    openapi_paths: dict[str, Any],
) -> None:
    operations = _responses(openapi_paths)
    for route, (auth, _) in documented_routes().items():
        if "step-up" in auth:
            assert "`step_up_required`" in operations[route]["401"]["description"], route
        if auth == "admin":
            assert "`admin_required`" in operations[route]["403"]["description"], route


async def test_every_api_operation_has_a_row_in_the_api_doc(
    openapi_paths: dict[str, Any],
) -> None:
    assert set(_responses(openapi_paths)) - set(documented_routes()) == set()


async def test_the_portfolio_names_its_cost_methods(openapi_paths: dict[str, Any]) -> None:
    (method,) = [
        parameter
        for parameter in openapi_paths["/api/v1/portfolio"]["get"]["parameters"]
        if parameter["name"] == "method"
    ]
    assert method["schema"]["enum"] == ["fifo", "lifo", "average"]
    assert method["schema"]["default"] == "fifo"


async def test_the_webhook_documents_its_json_body(openapi_paths: dict[str, Any]) -> None:
    """The handler reads the body raw, so the document says what it takes; without it a client
    (or the fuzzer) sends no body and only ever sees 415."""
    body = openapi_paths["/api/v1/webhooks/{provider}"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"application/json"}
    assert body["content"]["application/json"]["schema"]["type"] == "object"


async def test_every_operation_with_a_body_lists_the_too_large_answer(
    openapi_paths: dict[str, Any],
) -> None:
    """Found by QA: 413 is a real answer (a 70 KB sign-up) that no operation listed."""
    with_body = [
        (path, method)
        for path, item in openapi_paths.items()
        if path.startswith("/api/v1/")
        for method, operation in item.items()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    assert with_body
    assert [
        (path, method)
        for path, method in with_body
        if "413" not in openapi_paths[path][method]["responses"]
    ] == []
