"""The one table that turns exceptions into HTTP responses (RFC 9457 ``application/problem+json``).

Domain errors (``dashcore.domain.errors``), looked up by class along the MRO:

    =======================  ======  ===================================================
    error                    status  extra
    =======================  ======  ===================================================
    InvalidInput             422     ``errors: [{field, message}]``
    OrderLimitExceeded       422     (an InvalidInput) ``order_limit: {name, currency, limit,
                                     requested}``
    BadRequest               400     (an InvalidInput) a spent, expired or foreign one-time state
    NotSupported             422     the provider cannot do it (capability map); nothing sent
    NotFound                 404
    Conflict                 409
    AuthenticationFailed     401     ``WWW-Authenticate: Bearer``
    StepUpRequired           401     ``WWW-Authenticate: Bearer error=
                                     "insufficient_user_authentication", max_age=N``
                                     (RFC 9470) and ``max_age`` in the body
    Forbidden                403
    RateLimited              429     ``Retry-After``
    ReauthRequired           409     the user is signed in to dashcore; it is the *provider*
                                     connection that needs consent again, so not 401
                                     (a 401 makes front ends sign the user out)
    ProviderUnavailable      503     ``Retry-After`` when the provider said when
    OrderStateUnknown        202     accepted, fate unknown: poll the order
    DependencyUnavailable    503     ``Retry-After``; ``dependency`` names the service
    IntegrityError           500     logged with its traceback; detail stays generic
    =======================  ======  ===================================================

Litestar's own exceptions keep their status (404, 405 with ``Allow``, 413, 415, …); a body that
is not JSON is a 400 ``malformed_body``, a body that does not fit the schema a 422
``invalid_input`` with field errors. Anything else is a 500 ``internal_error`` whose traceback is
logged once (event ``unhandled_exception``) and never sent.

Every body carries ``type`` (``/problems/<code>``, a stable relative URI that identifies the
kind of problem; it is not meant to be dereferenced), ``title``, ``status``, ``detail``, ``code``
(the stable identifier clients switch on), ``instance`` (the request path) and ``request_id``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Final

import msgspec
import structlog
from litestar import Request, Response
from litestar.exceptions import (
    ClientException,
    HTTPException,
    SerializationException,
    ValidationException,
)
from litestar.types import ExceptionHandlersMap, Scope

from dashcore.domain.errors import (
    AuthenticationFailed,
    BadRequest,
    Conflict,
    DashcoreError,
    DependencyUnavailable,
    Forbidden,
    IntegrityError,
    InvalidInput,
    NotFound,
    NotSupported,
    OrderLimitExceeded,
    OrderStateUnknown,
    ProviderUnavailable,
    RateLimited,
    ReauthRequired,
    StepUpRequired,
)
from dashcore.domain.ratelimit import RateDecision, RatePolicy
from dashcore_http.ratelimit_fields import rate_limit_field, rate_limit_policy_field
from dashcore_http.schemas.numbers import decimal_string, optional_decimal_string
from dashcore_http.schemas.problem import FieldProblem, OrderLimitProblem, Problem

__all__ = [
    "DOMAIN_STATUS",
    "EXCEPTION_HANDLERS",
    "PROBLEM_MEDIA_TYPE",
    "RequestRejected",
    "domain_status",
    "internal_error_body",
    "problem_response",
    "request_id_of",
    "shown_path",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"

# Reset tokens travel in bodies, but a client written for the old ``/password-resets/{token}``
# routes still sends them in the path (and gets a 404): below this prefix, every segment but
# the routes' own is shown as ``{token}``.
_RESET_PREFIX: Final = "/api/v1/password-resets/"
_RESET_ROUTES: Final = frozenset({"", "check", "complete"})


def shown_path(path: str) -> str:
    """The request path as the request log and problem bodies (``instance``) show it: a secret
    segment (a reset token in the URL) replaced by ``{token}``."""
    if path.startswith(_RESET_PREFIX) and path[len(_RESET_PREFIX) :] not in _RESET_ROUTES:
        return _RESET_PREFIX + "{token}"
    return path


DOMAIN_STATUS: Final[Mapping[type[DashcoreError], HTTPStatus]] = {
    InvalidInput: HTTPStatus.UNPROCESSABLE_ENTITY,
    BadRequest: HTTPStatus.BAD_REQUEST,
    NotSupported: HTTPStatus.UNPROCESSABLE_ENTITY,
    NotFound: HTTPStatus.NOT_FOUND,
    Conflict: HTTPStatus.CONFLICT,
    AuthenticationFailed: HTTPStatus.UNAUTHORIZED,
    Forbidden: HTTPStatus.FORBIDDEN,
    RateLimited: HTTPStatus.TOO_MANY_REQUESTS,
    ReauthRequired: HTTPStatus.CONFLICT,
    ProviderUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    OrderStateUnknown: HTTPStatus.ACCEPTED,
    DependencyUnavailable: HTTPStatus.SERVICE_UNAVAILABLE,
    IntegrityError: HTTPStatus.INTERNAL_SERVER_ERROR,
}

_HTTP_CODES: Final[Mapping[int, str]] = {
    400: "bad_request",
    401: "authentication_failed",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "service_unavailable",
}
_INTERNAL_DETAIL: Final = "An unexpected error occurred; quote the request id when reporting it."
_FIELD_IN_MESSAGE: Final = re.compile(r"field `([^`]+)`")
_DECIMAL_EXPECTED: Final = re.compile(r"^Expected `float \| str( \| null)?`")
"""msgspec's words for a decimal input field (a string; a JSON number decodes only to be refused
by name), which would invite the very floats the API refuses."""
_MISSING_PARAMETER: Final = re.compile(r"Missing required (\w+) parameter '([^']+)'")
"""Litestar's refusal of a request without a required query parameter, header or cookie: a
400 with no field named, where every other parameter problem is a 422 naming it."""

_log = structlog.get_logger("dashcore_http")
_encoder = msgspec.json.Encoder()


class RequestRejected(ClientException):
    """A request refused at the edge, before any use case runs; ``code`` says why."""

    def __init__(self, detail: str, *, status_code: int, code: str) -> None:
        super().__init__(detail=detail, status_code=status_code)
        self.code = code


def request_id_of(scope: Scope) -> str:
    """The id the request-context middleware gave this request."""
    return str(scope["state"].get("request_id", ""))


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response[bytes]:
    """One problem document as a response."""
    problem = Problem(
        type=f"/problems/{code}",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        instance=shown_path(request.scope["path"]),
        request_id=request_id_of(request.scope),
        **extensions,
    )
    return Response(
        _encoder.encode(problem),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=dict(headers or {}),
    )


def internal_error_body(path: str, request_id: str) -> bytes:
    """The body of a 500: generic, with the id that finds the logged traceback."""
    return _encoder.encode(
        Problem(
            type="/problems/internal_error",
            title=HTTPStatus.INTERNAL_SERVER_ERROR.phrase,
            status=500,
            detail=_INTERNAL_DETAIL,
            code="internal_error",
            instance=path,
            request_id=request_id,
        )
    )


def _spent(policy: RatePolicy, retry_after: int) -> dict[str, str]:
    """The RateLimit fields of the policy that refused: nothing left until it resets. (The
    rate-limit middleware adds the edge's own policies to the same response.)"""
    reset = RateDecision(policy, False, 0, min(max(1, retry_after), policy.window))
    return {
        "RateLimit-Policy": rate_limit_policy_field([reset]),
        "RateLimit": rate_limit_field([reset]),
    }


def domain_status(error: DashcoreError) -> HTTPStatus:
    """The HTTP status of a domain error (:data:`DOMAIN_STATUS`, by its nearest class)."""
    for kind in type(error).__mro__:
        if (status := DOMAIN_STATUS.get(kind)) is not None:
            return status
    return HTTPStatus.INTERNAL_SERVER_ERROR


def _domain_error(request: Request[Any, Any, Any], error: DashcoreError) -> Response[bytes]:
    status = domain_status(error)
    headers: dict[str, str] = {}
    extensions: dict[str, Any] = {}
    detail = error.message
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if isinstance(error, RateLimited) and error.policy is not None:
        headers.update(_spent(error.policy, error.retry_after))
    if isinstance(error, InvalidInput):
        extensions["errors"] = tuple(FieldProblem(e.field, e.message) for e in error.errors)
        if isinstance(error, OrderLimitExceeded):
            extensions["order_limit"] = OrderLimitProblem(
                error.limit,
                error.currency,
                decimal_string(error.maximum),
                optional_decimal_string(error.requested),
            )
    elif isinstance(error, StepUpRequired):
        headers["WWW-Authenticate"] = (
            f'Bearer error="insufficient_user_authentication", max_age={error.max_age}'
        )
        extensions["max_age"] = error.max_age
    elif isinstance(error, AuthenticationFailed):
        headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(error, DependencyUnavailable):
        extensions["dependency"] = error.dependency
    if status == HTTPStatus.INTERNAL_SERVER_ERROR:
        _log.error("domain_error", problem=error.code, exc_info=error)
        detail = error.default_message
    return problem_response(request, status, error.code, detail, headers=headers, **extensions)


def _field_problems(extra: Any) -> tuple[FieldProblem, ...]:
    problems = []
    for item in extra if isinstance(extra, list) else ():
        message = _DECIMAL_EXPECTED.sub(
            lambda nullable: (
                'Expected a decimal string ("12.50")' + (" or null" if nullable[1] else "")
            ),
            str(item.get("message", "invalid")),
        )
        named = _FIELD_IN_MESSAGE.search(message)
        key = str(item.get("key", ""))
        if named:  # a missing field, named in the message; inside an object, with its path
            field = named[1] if key in ("", "data") else f"{key}.{named[1]}"
        else:
            field = "body" if key == "data" else key
        problems.append(FieldProblem(field, message))
    return tuple(problems)


def _http_error(request: Request[Any, Any, Any], error: HTTPException) -> Response[bytes]:
    status = error.status_code
    if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return _unexpected_error(request, error)
    if isinstance(error, ValidationException) and error.extra:
        return problem_response(
            request,
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_input",
            "The request does not match the expected schema.",
            errors=_field_problems(error.extra),
        )
    missing = _MISSING_PARAMETER.match(error.detail)
    if isinstance(error, ValidationException) and missing:
        kind, name = missing.groups()
        return problem_response(
            request,
            HTTPStatus.UNPROCESSABLE_ENTITY,
            "invalid_input",
            "The request does not match the expected schema.",
            errors=(FieldProblem(name, f"The {kind} parameter {name!r} is required."),),
        )
    if isinstance(error, RequestRejected):
        code = error.code
    elif isinstance(error.__cause__, SerializationException):
        code = "malformed_body"
    else:
        code = _HTTP_CODES.get(status, f"http_{status}")
    return problem_response(request, status, code, error.detail, headers=error.headers)


def _unexpected_error(request: Request[Any, Any, Any], error: Exception) -> Response[bytes]:
    _log.error("unhandled_exception", exc_info=error)
    return Response(
        internal_error_body(request.scope["path"], request_id_of(request.scope)),
        status_code=HTTPStatus.INTERNAL_SERVER_ERROR,
        media_type=PROBLEM_MEDIA_TYPE,
    )


EXCEPTION_HANDLERS: Final[ExceptionHandlersMap] = {
    DashcoreError: _domain_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
