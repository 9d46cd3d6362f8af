"""The error answers every ``/api/v1`` operation can give, written into its OpenAPI document.

Handlers declare their own outcomes (``responses=``: a 404 ``order_not_found``, a 409…); the
answers that come from the frame rather than the handler are the same everywhere and are added
here, once, to every API route that does not declare that status itself:

- 400 — a body or parameter that cannot be read (not JSON, a JSON number for an amount);
- 401 — no valid access token (not on public routes);
- 404 — on a route with path parameters: no such item (another user's is not found either);
- 415 — on a route that takes a body: not ``application/json``;
- 422 — input that does not fit, each field named;
- 429 — a rate limit (``Retry-After``, ``RateLimit`` fields);
- 500 — an unexpected error (quote the ``request_id``);
- 503 — the database or Redis is unavailable (``Retry-After``).

All are ``application/problem+json`` (:class:`~dashcore_http.schemas.problem.Problem`), and so
is every problem answer a handler declares itself, on any route.
"""

from __future__ import annotations

from typing import Final

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from dashcore_http.problems import PROBLEM_MEDIA_TYPE
from dashcore_http.schemas.problem import Problem

__all__ = ["document_problems"]

_EVERYWHERE: Final = {
    400: "The request cannot be read (malformed JSON, a JSON number for an amount)",
    422: "The input does not fit; `errors` names each field",
    429: "Too many requests (see `Retry-After` and the `RateLimit` fields)",
    500: "An unexpected error; quote the `request_id`",
    503: "The database or Redis is unavailable; retry after `Retry-After`",
}
_PROTECTED: Final = {401: "No valid access token (missing, expired or revoked)"}
_WITH_PATH_PARAMETERS: Final = {404: "No such item (another user's is not found either)"}
_WITH_BODY: Final = {415: "The body is not application/json"}


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        Problem, description=description, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
    )


def document_problems(app: Litestar, api_path: str) -> None:
    """Add the frame's error answers to every route of ``app`` under ``api_path``, and give
    every declared problem answer its media type (see the module docstring). Runs once, when
    the app is built, before its schema is first asked for."""
    for route in app.routes:
        in_api = route.path.startswith(f"{api_path}/")
        for handler in getattr(route, "route_handlers", ()):
            declared = {
                status: _problem(spec.description) if spec.data_container is Problem else spec
                for status, spec in (handler.responses or {}).items()
            }
            if in_api:
                answers = {
                    **_EVERYWHERE,
                    **({} if handler.opt.get("public") else _PROTECTED),
                    **(_WITH_PATH_PARAMETERS if route.path_parameters else {}),
                    **(_WITH_BODY if "data" in handler.parsed_fn_signature.parameters else {}),
                }
                for status, description in answers.items():
                    declared.setdefault(status, _problem(description))
            handler.responses = declared or None
