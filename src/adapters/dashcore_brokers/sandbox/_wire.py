"""Small HTTP helpers shared by the simulators: JSON and redirect responses, header parsing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from litestar import Request, Response
from litestar.enums import MediaType
from multidict import MultiMapping

__all__ = [
    "WireError",
    "bearer_token",
    "json_response",
    "redirect",
    "single_params",
    "with_query",
]


class WireError(Exception):
    """Carries a finished broker response out of a handler (a guard or validation failure)."""

    def __init__(self, response: Response[Any]) -> None:
        super().__init__(response.status_code)
        self.response = response


def json_response(
    status: int, body: object, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    """A JSON response with exactly ``body`` on the wire."""
    return Response(
        content=body, status_code=status, media_type=MediaType.JSON, headers=dict(headers or {})
    )


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` appended to its query string (``@`` is sent as ``%40``)."""
    separator = "&" if urlsplit(url).query else "?"
    return f"{url}{separator}{urlencode(params)}"


def redirect(url: str) -> Response[Any]:
    """A 302 to ``url``; the page must not leak the code in a Referer header."""
    return Response(
        content=b"",
        status_code=302,
        headers={"Location": url, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
    )


def bearer_token(request: Request[Any, Any, Any]) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if there is one."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def single_params(source: MultiMapping[Any], *names: str) -> dict[str, str]:
    """The named parameters sent exactly once and non-empty; a repeated one counts as absent."""
    found: dict[str, str] = {}
    for name in names:
        values = source.getall(name, [])
        if len(values) == 1 and isinstance(values[0], str) and values[0]:
            found[name] = values[0]
    return found
