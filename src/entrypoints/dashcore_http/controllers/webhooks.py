"""``POST /api/v1/webhooks/{provider}``: deliveries from brokers (issue #8; security.md WH-1..4).

Public: the signature (Kite: the checksum) is the authentication, so no access token is asked
for. The body is read raw and handed over as bytes, never decoded and re-encoded before it is
verified; it must be ``application/json`` without a content encoding (415 otherwise) and fit
the app's body limit (413). Answers: 200 once the delivery is stored (``duplicate: true`` for
a redelivery), 401 ``invalid_webhook`` for anything that does not verify (one answer for every
cause), 400 ``malformed_webhook`` for a body that cannot be read, 503 while the database is
down (the provider delivers again). Deliveries have their own rate limit per sending address
(:data:`WEBHOOK_RATE_LIMITS`), apart from the API's per-user budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from dishka import FromDishka
from litestar import Controller, Request, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from dashcore.application.webhooks import ReceiveWebhook
from dashcore.domain.ratelimit import RatePolicy
from dashcore_http.authentication import ANONYMOUS, CALLED_BY_PROVIDERS
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.problems import RequestRejected
from dashcore_http.ratelimit import KeyKind, Route, RouteLimit
from dashcore_http.schemas.problem import Problem
from dashcore_http.schemas.webhooks import WebhookAck

__all__ = ["WEBHOOK_RATE_LIMITS", "WEBHOOK_ROUTE", "WebhooksController"]

WEBHOOK_ROUTE: Final[Route] = ("POST", "/api/v1/webhooks/{provider}")
WEBHOOK_RATE_LIMITS: Final = {
    WEBHOOK_ROUTE: (
        RouteLimit(
            RatePolicy("webhooks_ip", 3000, 60, "webhook deliveries per sending address"),
            KeyKind.IP,
        ),
    )
}
"""A broker posts every order update of every user from a few addresses: far more than one
person's API budget, still bounded."""


def _headers(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request headers by lowercase name; a repeated header's values joined by ``, ``
    (RFC 9110 5.3), so that a second signature or timestamp header is never ignored."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in request.scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _require_plain_json(request: Request[Any, Any, Any]) -> None:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if request.content_type[0] != "application/json" or encoding != "identity":
        raise RequestRejected(
            "Webhooks are accepted as application/json, without a content encoding.",
            status_code=415,
            code="unsupported_media_type",
        )


@dataclass
class _JsonDelivery(Operation):
    """The operation with its body documented: the handler reads the body raw, so Litestar
    cannot see it, and a client (or a fuzzer) reading the document would send none."""

    def __post_init__(self) -> None:
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))},
            description="The delivery as the broker sent it, verified byte for byte",
            required=True,
        )


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ("webhooks",)

    @post(
        "/{provider:str}",
        opt=CALLED_BY_PROVIDERS,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Receive a broker webhook (signed events, Kite postbacks, Upstox updates)",
        operation_class=_JsonDelivery,
        responses={
            400: ResponseSpec(Problem, description="The body cannot be read"),
            401: ResponseSpec(Problem, description="The delivery does not verify"),
            413: ResponseSpec(Problem, description="Larger than the app's body limit"),
            415: ResponseSpec(Problem, description="Not application/json, or encoded"),
            503: ResponseSpec(Problem, description="The database is down: deliver again"),
        },
    )
    @inject
    async def receive(
        self,
        provider: FromPath[str],
        request: Request[Any, Any, Any],
        receive: FromDishka[ReceiveWebhook],
    ) -> WebhookAck:
        _require_plain_json(request)
        body = await request.body()
        receipt = await receive(provider, _headers(request), body, caller=caller_of(request))
        return WebhookAck(duplicate=receipt.duplicate)
