"""A broker's refusal of an order or data call ends with the broker's own reason, cleaned, so
that the person sees why; a login call's refusal never repeats the broker (its words may
describe the credentials sent); the reason is never logged (brokers.md §1.7, §2.7, §3.7, §4.7).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import httpx
import pytest
from structlog.testing import capture_logs

from dashcore.domain.errors import Conflict, DashcoreError, InvalidInput
from dashcore_brokers.groww.errors import raise_for_groww
from dashcore_brokers.http import REASON_LIMIT
from dashcore_brokers.schwab.errors import raise_for_api, raise_for_token
from dashcore_brokers.upstox.calls import refused
from dashcore_brokers.upstox.errors import raise_for_upstox
from dashcore_brokers.zerodha.errors import raise_for_kite
from dashcore_brokers.zerodha.refusals import raise_refusal

REASON = "Insufficient funds: required 24,001.00, available 1,500.00."
SECRET = "s3cr3t-client-secret"
Translate = Callable[[httpx.Response], NoReturn]


def response(body: object, path: str = "/orders", status: int = 400) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("PUT", f"https://b.test{path}"))


def kite_body(message: str | None) -> dict[str, object]:
    body: dict[str, object] = {"status": "error", "error_type": "InputException", "data": None}
    return body if message is None else {**body, "message": message}


def upstox_body(message: str | None, code: str = "UDAPI100038") -> dict[str, object]:
    problem: dict[str, object] = {
        "errorCode": code,
        "propertyPath": "quantity",
        "invalidValue": SECRET,
    }
    if message is not None:
        problem["message"] = message
    return {"status": "error", "errors": [problem]}


def groww_body(message: str | None, code: str = "GA001") -> dict[str, object]:
    error: dict[str, object] = {"code": code, "metadata": None}
    return {
        "status": "FAILURE",
        "error": error if message is None else {**error, "message": message},
    }


def schwab_body(message: str | None) -> dict[str, object]:
    return {} if message is None else {"message": message, "errors": [message]}


@dataclass(frozen=True)
class Broker:
    """How one broker words a refusal (``body``) and how dashcore translates it: an order call
    (``order``, whose message starts with ``statement``) and each login call (``logins``)."""

    body: Callable[[str | None], dict[str, object]]
    order: Translate
    statement: str
    code: str
    logins: dict[str, Callable[[str | None], NoReturn]]


def kite_login(operation: str) -> Callable[[str | None], NoReturn]:
    return lambda message: raise_for_kite(response(kite_body(message)), operation)


def upstox_login(operation: str) -> Callable[[str | None], NoReturn]:
    return lambda message: raise_for_upstox(response(upstox_body(message)), operation)


def groww_login(operation: str) -> Callable[[str | None], NoReturn]:
    return lambda message: raise_for_groww(response(groww_body(message)), operation)


def schwab_token(refreshing: bool) -> Callable[[str | None], NoReturn]:
    def refuse(message: str | None) -> NoReturn:
        body = {"error": "invalid_request", "error_description": message}
        raise_for_token(response(body, "/v1/oauth/token"), refreshing=refreshing)

    return refuse


def schwab_profile(message: str | None) -> NoReturn:
    raise_for_api(response(schwab_body(message), "/trader/v1/userPreference"))


def schwab_order(refusal: httpx.Response) -> NoReturn:
    raise_for_api(
        httpx.Response(
            refusal.status_code,
            content=refusal.content,
            request=httpx.Request("POST", "https://b.test/trader/v1/accounts/HASH1/orders"),
        )
    )


BROKERS = {
    "kite": Broker(
        kite_body,
        lambda refusal: raise_for_kite(refusal, "modify_order"),
        "Kite refused the request as invalid",
        "provider_invalid_input",
        {name: kite_login(name) for name in ("exchange", "refresh", "revoke", "profile")},
    ),
    "upstox": Broker(
        upstox_body,
        lambda refusal: refused(refusal, "modify"),
        "Upstox refused the request (UDAPI100038)",
        "provider_invalid_input",
        {name: upstox_login(name) for name in ("exchange_code", "revoke", "profile")},
    ),
    "groww": Broker(
        groww_body,
        lambda refusal: raise_for_groww(refusal, "place"),
        "Groww refused the request as invalid",
        "provider_invalid_input",
        {name: groww_login(name) for name in ("mint", "profile")},
    ),
    "schwab": Broker(
        schwab_body,
        schwab_order,
        "Schwab refused the request as invalid",
        "invalid_input",
        {
            "exchange_code": schwab_token(False),
            "refresh": schwab_token(True),
            "profile": schwab_profile,
        },
    ),
}
LOGINS = [(name, operation) for name, broker in BROKERS.items() for operation in broker.logins]


def refusal_of(translate: Translate, refusal: httpx.Response) -> DashcoreError:
    with pytest.raises(DashcoreError) as refused_call:
        translate(refusal)
    return refused_call.value


@pytest.mark.parametrize("name", BROKERS)
def test_an_order_call_refusal_ends_with_the_brokers_reason(name: str) -> None:
    broker = BROKERS[name]
    with capture_logs() as logs:
        error = refusal_of(broker.order, response(broker.body(REASON)))
    assert isinstance(error, InvalidInput)
    assert error.code == broker.code
    assert error.message == f"{broker.statement}: {REASON}"
    assert SECRET not in error.message
    assert REASON not in repr(logs)


@pytest.mark.parametrize("name", BROKERS)
def test_a_refusal_without_a_message_keeps_the_plain_wording(name: str) -> None:
    broker = BROKERS[name]
    for body in (broker.body(None), broker.body("  \n ")):
        error = refusal_of(broker.order, response(body))
        assert isinstance(error, InvalidInput)
        assert error.code == broker.code
        assert error.message == f"{broker.statement}."


@pytest.mark.parametrize("name", BROKERS)
def test_a_reason_is_cleaned_of_control_characters_and_cut(name: str) -> None:
    broker = BROKERS[name]
    dirty = refusal_of(broker.order, response(broker.body("Order\r\n\x1b[2J refused\u202e\x00")))
    assert dirty.message == f"{broker.statement}: Order [2J refused"
    long = refusal_of(broker.order, response(broker.body("Insufficient funds. " * 40)))
    reason = long.message.removeprefix(f"{broker.statement}: ")
    assert len(reason) == REASON_LIMIT
    assert reason.startswith("Insufficient funds. Insufficient funds.")
    assert reason.endswith("…")


@pytest.mark.parametrize(("name", "operation"), LOGINS)
def test_a_login_call_refusal_never_repeats_the_broker(name: str, operation: str) -> None:
    refuse = BROKERS[name].logins[operation]
    with pytest.raises(DashcoreError) as said:
        refuse(f"Invalid `checksum` for api_secret {SECRET}")
    with pytest.raises(DashcoreError) as silent:
        refuse(None)
    assert said.value.message == silent.value.message
    assert said.value.code == silent.value.code
    assert SECRET not in said.value.message


@pytest.mark.parametrize(
    ("translate", "body", "statement"),
    [
        (
            lambda refusal: refused(refusal, "cancel"),
            lambda message: upstox_body(message, "UDAPI100040"),
            "The order is already cancelled, rejected or complete",
        ),
        (
            lambda refusal: raise_for_groww(refusal, "place"),
            lambda message: groww_body(message, "GA007"),
            "Groww already has an order with this reference",
        ),
    ],
    ids=["upstox", "groww"],
)
def test_an_order_conflict_ends_with_the_brokers_reason(
    translate: Translate, body: Callable[[str | None], dict[str, object]], statement: str
) -> None:
    said = refusal_of(translate, response(body("Order is already complete.")))
    silent = refusal_of(translate, response(body(None)))
    assert isinstance(said, Conflict)
    assert said.message == f"{statement}: Order is already complete."
    assert silent.message == f"{statement}."
    assert said.code == silent.code


@pytest.mark.parametrize(
    ("kind", "statement", "code"),
    [
        ("OrderException", "Kite refused the order request", "order_refused"),
        ("MarginException", "Kite refused the order: not enough funds", "insufficient_margin"),
        (
            "HoldingException",
            "Kite refused the order: not enough holdings to sell",
            "insufficient_holdings",
        ),
    ],
)
def test_a_kite_order_refusal_ends_with_kites_reason(kind: str, statement: str, code: str) -> None:
    def body(message: str | None) -> dict[str, object]:
        return {**kite_body(message), "error_type": kind}

    with capture_logs() as logs:
        said = refusal_of(lambda r: raise_refusal(r, "place"), response(body(REASON)))
    silent = refusal_of(lambda r: raise_refusal(r, "place"), response(body(None)))
    assert isinstance(said, InvalidInput)
    assert (said.code, said.message) == (code, f"{statement}: {REASON}")
    assert (silent.code, silent.message) == (code, f"{statement}.")
    assert REASON not in repr(logs)
