"""Unknown query parameters are refused on the API (``dashcore_http.query_parameters``): a
mistyped filter is a 422 naming it, never a wider answer; routes that brokers call take any."""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.identity.support import API, Mailbox, signed_up


def refused(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    errors: list[dict[str, Any]] = response.json()["errors"]
    return errors


async def test_a_mistyped_filter_is_refused_naming_it_and_what_the_route_takes(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    ada = await signed_up(client, mailbox, "ada@example.org")
    errors = refused(
        await client.get(f"{API}/orders", params={"statuss": "filled"}, headers=ada.headers)
    )
    assert [error["field"] for error in errors] == ["statuss"]
    assert "status" in errors[0]["message"] and "limit" in errors[0]["message"]
    declared = {"status": ["filled", "rejected"], "limit": "5", "since": "2026-01-01T00:00:00Z"}
    listed = await client.get(f"{API}/orders", params=declared, headers=ada.headers)
    assert listed.status_code == 200, listed.text


async def test_every_unknown_name_is_listed_and_a_route_without_parameters_says_so(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    ada = await signed_up(client, mailbox, "ada@example.org")
    errors = refused(await client.get(f"{API}/auth/me?verbose=1&_=17", headers=ada.headers))
    assert [error["field"] for error in errors] == ["verbose", "_"]
    assert all("takes: none" in error["message"] for error in errors)
    assert (await client.get(f"{API}/auth/me", headers=ada.headers)).status_code == 200


async def test_public_routes_refuse_them_and_a_stranger_learns_nothing_about_the_route(
    client: httpx.AsyncClient,
) -> None:
    login = await client.post(f"{API}/auth/login?next=/home", json={"email": "a@b.org"})
    assert [error["field"] for error in refused(login)] == ["next"]
    anonymous = await client.get(f"{API}/orders", params={"statuss": "filled"})
    assert anonymous.status_code == 401, "authentication comes first"
    assert "statuss" not in anonymous.text


async def test_routes_that_brokers_call_take_any_query_parameter(
    client: httpx.AsyncClient,
) -> None:
    """Brokers add their own parameters to the OAuth callback and may add some to webhooks:
    those are judged on what they carry, not refused for the query."""
    callback = await client.get(
        f"{API}/providers/callback/zerodha",
        params={"action": "login", "type": "login", "status": "success", "request_token": "t"},
    )
    webhook = await client.post(f"{API}/webhooks/zerodha?via=relay", json={"order_id": "1"})
    for response in (callback, webhook):
        assert response.json().get("code") != "invalid_input", response.text
        assert response.status_code < 500, response.text


async def test_a_single_valued_parameter_given_twice_is_refused_naming_it(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """Keeping either of two values would silently drop the other (a quote, a filter)."""
    ada = await signed_up(client, mailbox, "ada@example.org")
    quotes = await client.get(f"{API}/quotes?symbols=NSE:INFY&symbols=US:AAPL", headers=ada.headers)
    errors = refused(quotes)
    assert [error["field"] for error in errors] == ["symbols"]
    assert "more than once" in errors[0]["message"]
    orders = await client.get(f"{API}/orders?limit=5&limit=500&status=a", headers=ada.headers)
    assert [error["field"] for error in refused(orders)] == ["limit"]
    listed = await client.get(
        f"{API}/orders?status=filled&status=rejected&limit=5", headers=ada.headers
    )
    assert listed.status_code == 200, "a list parameter repeats freely"


async def test_an_options_request_is_answered_with_the_methods_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    """Found by QA: a preflight to a public route (CORS off) answered 401 invalid_token."""
    for path in (f"{API}/auth/login", f"{API}/orders"):
        answered = await client.options(path)
        assert answered.status_code == 204, answered.text
        assert "GET" in answered.headers["allow"] or "POST" in answered.headers["allow"]
