"""Each broker connects end to end through HTTP against its sandbox: create → authorize →
callback (or key credentials) → connected → status → refresh where the broker has one →
disconnect, revoking at the broker where it can (issue #5 acceptance, OAUTH-3, BKEY-1)."""

from __future__ import annotations

import pyotp
import pytest

from dashcore.domain.errors import NotFound
from dashcore_app.brokers import BrokerSandboxes
from dashcore_app.settings import Settings
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
    KITE_API_KEY,
)
from dashcore_brokers.sandbox.tokens import GrantKind
from tests.integration.identity.conftest import Backend, Served, postgres_redis_backend
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.support import (
    TokenCalls,
    consent,
    create,
    is_live,
    land,
    query_of,
    refresh,
    signed_up,
    start,
    status,
    stored_credentials,
)


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgres_redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
    ]
)
def backend(request: pytest.FixtureRequest, memory_settings: Settings) -> Backend:
    """These flows also run on the embedded default (SQLite, sessions in the process)."""
    if request.param == "memory":
        return Backend(memory_settings)
    if request.param == "sqlite":
        embedded: Backend = request.getfixturevalue("embedded_backend")
        return embedded
    return postgres_redis_backend(request, memory_settings)


async def _disconnect(served: Served, account: Account, connection_id: str) -> None:
    gone = await served.client.delete(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )
    assert gone.status_code == 204, gone.text
    view = await served.client.get(f"{API}/providers/{connection_id}", headers=account.headers)
    assert view.json()["status"] == "disconnected"
    with pytest.raises(NotFound):
        await stored_credentials(served.core, connection_id)


async def test_schwab_connects_refreshes_and_disconnects(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "ada@example.com")
    connection_id = await create(client, account, "schwab")
    callback = await consent(client, account, connection_id)
    assert {"code", "state"} <= set(query_of(callback))

    landed = await land(client, account, callback)
    assert landed.status_code == 200, landed.text
    assert landed.json()["connected"] is True
    current = await status(client, account, connection_id)
    assert current["status"] == "connected" and current["expires_at"] is not None
    assert current["refresh_expires_at"] is not None

    first = await stored_credentials(served.core, connection_id)
    refreshed = await refresh(client, account, connection_id)
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["last_refreshed_at"] is not None
    second = await stored_credentials(served.core, connection_id)
    assert second.access_token != first.access_token
    assert is_live(sandboxes.apps["schwab"], second.access_token, GrantKind.ACCESS)

    await _disconnect(served, account, connection_id)


async def test_kite_connects_through_redirect_params_and_logs_out(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "kite@example.com")
    connection_id = await create(client, account, "zerodha")
    login = query_of(await start(client, account, connection_id))
    assert login["v"] == "3" and login["api_key"] == KITE_API_KEY
    assert query_of("?" + login["redirect_params"]).keys() == {"state"}

    callback = await consent(client, account, connection_id)
    back = query_of(callback)
    assert back["status"] == "success" and back["request_token"] and back["state"]
    landed = await land(client, account, callback)
    assert landed.status_code == 200, landed.text
    assert (await status(client, account, connection_id))["status"] == "connected"

    stored = await stored_credentials(served.core, connection_id)
    assert is_live(sandboxes.apps["zerodha"], stored.access_token, GrantKind.ACCESS)
    refused = await refresh(client, account, connection_id)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "refresh_not_supported"  # not an approved platform

    await _disconnect(served, account, connection_id)
    assert not is_live(sandboxes.apps["zerodha"], stored.access_token, GrantKind.ACCESS)


async def test_upstox_connects_cannot_refresh_and_logs_out(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "upstox@example.com")
    connection_id = await create(client, account, "upstox")
    callback = await consent(client, account, connection_id)
    assert {"code", "state"} <= set(query_of(callback))
    landed = await land(client, account, callback)
    assert landed.status_code == 200, landed.text
    assert (await status(client, account, connection_id))["status"] == "connected"

    stored = await stored_credentials(served.core, connection_id)
    assert is_live(sandboxes.apps["upstox"], stored.access_token, GrantKind.ACCESS)
    refused = await refresh(client, account, connection_id)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "refresh_not_supported"
    assert (await status(client, account, connection_id))["status"] == "connected"

    await _disconnect(served, account, connection_id)  # DELETE /v2/logout
    assert not is_live(sandboxes.apps["upstox"], stored.access_token, GrantKind.ACCESS)


@pytest.mark.parametrize("login", ["api_secret", "totp_code"])
async def test_groww_connects_at_once_with_key_credentials(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes, login: str
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, f"groww-{login.replace('_', '-')}@example.com")
    connection_id = await create(client, account, "groww")
    groww = sandboxes.apps["groww"]
    body = (
        {"api_key": GROWW_API_KEY, "api_secret": GROWW_API_SECRET}
        if login == "api_secret"
        else {
            "api_key": GROWW_TOTP_TOKEN,
            "totp_code": pyotp.TOTP(GROWW_TOTP_SEED).at(groww.clock.now()),
        }
    )
    answered = await client.post(
        f"{API}/providers/{connection_id}/authorization", json=body, headers=account.headers
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["connected"] is True
    assert (await status(client, account, connection_id))["expires_at"] is not None

    stored = await stored_credentials(served.core, connection_id)
    assert is_live(groww, stored.access_token, GrantKind.ACCESS)
    refused = await refresh(client, account, connection_id)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "refresh_not_supported"

    await _disconnect(served, account, connection_id)  # Groww has no revoke: forgotten here


async def test_groww_refuses_a_wrong_secret_and_stays_pending(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    account = await signed_up(served, mailbox, "groww-wrong@example.com")
    connection_id = await create(client, account, "groww")
    refused = await client.post(
        f"{API}/providers/{connection_id}/authorization",
        json={"api_key": GROWW_API_KEY, "api_secret": "not-the-secret"},
        headers=account.headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_credentials"
    current = await status(client, account, connection_id)
    assert current["status"] == "pending"
    assert current["last_error"]["code"] == "invalid_credentials"


async def test_a_connected_groww_key_refused_twice_says_so_twice(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    """Found by QA: the second wrong secret on a connection the first had put in `error`
    answered 409 invalid_connection_transition, naming no field and keeping the old reason."""
    client = served.client
    account = await signed_up(served, mailbox, "groww-twice@example.com")
    connection_id = await create(client, account, "groww")
    path = f"{API}/providers/{connection_id}/authorization"
    connected = await client.post(
        path,
        json={"api_key": GROWW_API_KEY, "api_secret": GROWW_API_SECRET},
        headers=account.headers,
    )
    assert connected.status_code == 200, connected.text
    for wrong in ("typo", "typo2"):
        refused = await client.post(
            path, json={"api_key": GROWW_API_KEY, "api_secret": wrong}, headers=account.headers
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_credentials")
        current = await status(client, account, connection_id)
        assert (current["status"], current["last_error"]["code"]) == (
            "error",
            "invalid_credentials",
        )
    repaired = await client.post(
        path,
        json={"api_key": GROWW_API_KEY, "api_secret": GROWW_API_SECRET},
        headers=account.headers,
    )
    assert repaired.status_code == 200, repaired.text
    assert (await status(client, account, connection_id))["status"] == "connected"


async def test_a_secret_without_its_key_is_refused_naming_the_key(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    """Found by QA: {"api_secret": "x"} answered 409 credentials_required ("send the
    credentials instead"), though credentials were sent, one missing."""
    client = served.client
    account = await signed_up(served, mailbox, "groww-keyless@example.com")
    connection_id = await create(client, account, "groww")
    for body in ({"api_secret": "x"}, {"totp_code": "123456"}):
        refused = await client.post(
            f"{API}/providers/{connection_id}/authorization", json=body, headers=account.headers
        )
        assert refused.status_code == 422, refused.text
        assert [error["field"] for error in refused.json()["errors"]] == ["api_key"]


@pytest.mark.parametrize("typo", ["abcdef", "12345", " 123456", "１２３４５６"])
async def test_a_malformed_groww_totp_code_is_refused_here_and_never_sent(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes, typo: str
) -> None:
    """Found by QA: a typed-wrong code reached Groww and put a working connection in error."""
    client = served.client
    account = await signed_up(served, mailbox, f"groww-typo-{len(typo)}@example.com")
    connection_id = await create(client, account, "groww")
    calls = TokenCalls.watch(sandboxes.apps["groww"], "groww")
    refused = await client.post(
        f"{API}/providers/{connection_id}/authorization",
        json={"api_key": GROWW_API_KEY, "totp_code": typo},
        headers=account.headers,
    )
    assert refused.status_code == 422, refused.text
    assert [error["field"] for error in refused.json()["errors"]] == ["totp_code"]
    assert calls.count == 0
    assert (await status(client, account, connection_id))["last_error"] is None
