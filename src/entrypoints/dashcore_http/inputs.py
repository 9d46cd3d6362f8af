"""Checks every request body passes before it is decoded: a ``before_request`` hook.

Every route that takes a body runs it: the API router's authentication hook calls it first,
and routes added next to dashcore's own sit behind a router that declares it. Routes that take
no body (liveness, readiness, JWKS, the docs) run no hook at all. Litestar lets a router,
controller or handler ``before_request`` *replace* an outer one, so one that declares its own
must call :func:`check_request_body` first. (A guard would not be replaced, but Litestar copies
the route handler for every guard call: +30 us per request.)

Rules (ASVS 4.1.1, 13.4.4; security reference API-1):
- A route that takes a body (a ``data`` parameter) accepts exactly the media type it declares,
  ``application/json`` unless it says otherwise (parameters such as ``charset`` are ignored);
  anything else is a 415 before a byte of the body is read.
- A JSON body is decoded here, once (Litestar reuses the result): a body that is not JSON (or
  holds a string that is not UTF-8) is a 400 ``malformed_body``, one nested so deeply that it
  would exhaust the decoder's recursion a 400 ``body_too_deep`` (never a 500). Typed msgspec
  schemas bound the depth of what is accepted; arrays are capped per field with
  ``msgspec.Meta(max_length=...)``.
- A JSON body must hold its schema's types as JSON has them: a boolean is ``true`` or
  ``false``, a time is an ISO 8601 string, a whole number is a JSON integer. Litestar converts
  handler arguments leniently (right for query strings, where every value is text), which
  would let ``"true"`` or ``1`` pass as a boolean and ``1700000000`` as a time, so a client's
  bug would be stored as a different value. Each body is converted strictly first; a
  mismatch is the same 422 ``invalid_input`` naming the field as any schema violation.
- An object that names a member twice (``{"password": "a", "password": "b"}``) is a 400
  ``duplicate_member`` (:mod:`dashcore.domain.json_members`): a proxy or firewall reading the
  first value would check another request than the one we act on. Found by QA: the last one
  won. The check parses the body a second time with the standard library (about 5 us for an
  order, under a millisecond at the 64 KiB limit).
- The size limit is Litestar's ``request_max_body_size`` (413, checked while streaming, so an
  oversized chunked body is refused without being read to the end).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, SerializationException, ValidationException
from litestar.handlers import HTTPRouteHandler

from dashcore.domain.json_members import DuplicateMember, unique_members
from dashcore_http.problems import RequestRejected

__all__ = ["check_request_body"]

_BODYLESS: Final = frozenset({"GET", "HEAD", "OPTIONS", "DELETE", "TRACE"})
_AT_PATH: Final = re.compile(r"`\$\.(.+)`$")


@dataclass(frozen=True, slots=True)
class _Body:
    """What a handler's body parameter takes."""

    media_type: str
    annotation: Any
    decoder: Callable[[Any, Any], Any]
    """Litestar's conversion of the types msgspec does not know (the same as for the handler)."""


@cache
def _declared_body(handler: HTTPRouteHandler) -> _Body | None:
    """The handler's body parameter, or None if it takes no body."""
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    declared = getattr(data.kwarg_definition, "media_type", None) or RequestEncodingType.JSON
    media_type = str(getattr(declared, "value", declared))
    return _Body(media_type, data.annotation, handler.default_deserializer)


def _check_types(body: _Body, value: Any) -> None:
    """422 ``invalid_input`` unless ``value`` (decoded JSON) holds the schema's types strictly,
    the error shaped as Litestar shapes its own (message, field path, source)."""
    try:
        msgspec.convert(value, type=body.annotation, strict=True, dec_hook=body.decoder)
    except msgspec.ValidationError as error:
        text = str(error)
        at = _AT_PATH.search(text)
        raise ValidationException(
            extra=[
                {
                    "message": text.split(" - ", maxsplit=1)[0],
                    "key": at[1] if at else "data",
                    "source": "body",
                }
            ]
        ) from error


async def check_request_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a body of the wrong media type (415), not JSON (400) or nested too deeply (400)."""
    if request.scope["method"] in _BODYLESS:
        return
    body = _declared_body(request.route_handler)
    if body is None:
        return
    expected = body.media_type
    if request.content_type[0] != expected:
        raise RequestRejected(
            f"This endpoint accepts {expected} only.",
            status_code=415,
            code="unsupported_media_type",
        )
    if expected != RequestEncodingType.JSON.value:
        return
    try:
        value = await request.json()
    except SerializationException as error:
        raise ClientException(str(error)) from error
    except UnicodeDecodeError as error:  # a string that is not UTF-8, met while decoding
        raise RequestRejected(
            "The body is not valid UTF-8 JSON.", status_code=400, code="malformed_body"
        ) from error
    except RecursionError as error:
        raise RequestRejected(
            "The JSON body is nested too deeply.", status_code=400, code="body_too_deep"
        ) from error
    _refuse_duplicate_members(await request.body())
    _check_types(body, value)


def _refuse_duplicate_members(raw: bytes) -> None:
    """400 ``duplicate_member`` for a body (already decoded once) that repeats a name."""
    try:
        json.loads(raw, object_pairs_hook=unique_members)
    except DuplicateMember as duplicate:
        raise RequestRejected(str(duplicate), status_code=400, code="duplicate_member") from None
    except (ValueError, RecursionError):
        return  # read by msgspec but not by the standard library: msgspec's reading stands
