"""Reading what an adapter put on the wire."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx


def form(request: httpx.Request) -> dict[str, str]:
    """A form-encoded body, each field sent exactly once."""
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = parse_qs(request.content.decode(), keep_blank_values=True)
    assert all(len(values) == 1 for values in fields.values())
    return {name: values[0] for name, values in fields.items()}


def query(url: str | httpx.URL) -> dict[str, str]:
    fields = parse_qs(urlsplit(str(url)).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in fields.values())
    return {name: values[0] for name, values in fields.items()}


def json_body(request: httpx.Request) -> Any:
    assert request.headers["content-type"] == "application/json"
    return httpx.Response(200, content=request.content).json()
