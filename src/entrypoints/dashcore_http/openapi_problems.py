"""The error answers every ``/api/v1`` operation can give, written into its OpenAPI document.

Handlers declare the answers that are their own (``responses=problems({...})``): each status
``docs/api.md`` lists for the route that the frame's answers below do not already say — a 403,
a 409, a 404 on a route without path parameters, a public route's 401, and 401
``step_up_required`` on a route that needs a recent sign-in (:data:`STEP_UP`) or 403
``admin_required`` on an admin route (:data:`ADMIN_ONLY`) — each description naming the problem
``code`` values a client can switch on. ``tests/integration/test_openapi_document.py`` checks
that every status ``docs/api.md`` lists for a route is in its operation's ``responses``.

The answers that come from the frame rather than the handler are the same everywhere and are
added here, once, to every API route that does not declare that status itself:

- 400 — a body or parameter that cannot be read (not JSON, a JSON number for an amount);
- 401 — no valid access token (not on public routes);
- 404 — on a route with path parameters: no such item (another user's is not found either);
- 413 and 415 — on a route that takes a body: too large, or not ``application/json``;
- 422 — input that does not fit, each field named;
- 429 — a rate limit (``Retry-After``, ``RateLimit`` fields);
- 500 — an unexpected error (quote the ``request_id``);
- 503 — the database or Redis is unavailable (``Retry-After``).

All are ``application/problem+json`` (:class:`~dashcore_http.schemas.problem.Problem`), and so
is every problem answer a handler declares itself, on any route.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from litestar import Litestar
from litestar.openapi.datastructures import ResponseSpec

from dashcore_http.problems import PROBLEM_MEDIA_TYPE
from dashcore_http.schemas.problem import Problem

__all__ = ["ADMIN_ONLY", "STEP_UP", "document_problems", "problems"]

STEP_UP: Final = {
    401: "No valid access token, or `step_up_required`: this needs a recent sign-in (with the "
    "authenticator app when the account has one); `POST /auth/step-up`, then retry"
}
ADMIN_ONLY: Final = {403: "`admin_required`: the caller is not an administrator"}

_EVERYWHERE: Final = {
    400: "The request cannot be read (malformed JSON, a JSON number for an amount)",
    422: "The input does not fit; `errors` names each field",
    429: "Too many requests (see `Retry-After` and the `RateLimit` fields)",
    500: "An unexpected error; quote the `request_id`",
    503: "The database or Redis is unavailable; retry after `Retry-After`",
}
_PROTECTED: Final = {401: "No valid access token (missing, expired or revoked)"}
_WITH_PATH_PARAMETERS: Final = {404: "No such item (another user's is not found either)"}
_WITH_BODY: Final = {
    413: "The body is larger than `DASHCORE_MAX_BODY_BYTES` (`request_too_large`)",
    415: "The body is not application/json",
}


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(
        Problem, description=description, media_type=PROBLEM_MEDIA_TYPE, generate_examples=False
    )


def problems(answers: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """A handler's own problem answers, for ``responses=``: status → a description that names
    the problem codes (``STEP_UP | {409: "`order_in_flight`"}``)."""
    return {status: _problem(description) for status, description in answers.items()}


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
