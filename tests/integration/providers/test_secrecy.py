"""No provider secret leaves the server (issue #5 acceptance; security.md OAUTH-2, BKEY-1,
CRYPTO-1, AUD-1): over a full flow with each broker — connect, a replayed callback, status,
refresh, disconnect — no access or refresh token the sandbox issued, no app secret, no
authorization code or Kite request token and no checksum appears in a log line (as rendered by
the app's real processor chain, or through the standard library), in an audit event, or in
any response of the app (bodies and headers).

The secrets are known to the test first-hand: the codes from the callback URLs the sandbox
redirected to, the tokens from the app's vault (opened through its container), the checksums
recomputed the way the brokers define them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from dashcore.ports.audit import AuditLog
from dashcore_app.brokers import BrokerSandboxes
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    KITE_API_KEY,
    KITE_API_SECRET,
    SCHWAB_APP_SECRET,
    UPSTOX_CLIENT_SECRET,
)
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import API, Account, Mailbox
from tests.integration.providers.support import (
    connect_groww_keys,
    consent,
    create,
    land,
    query_of,
    refresh,
    signed_up,
    status,
    stored_credentials,
)

APP_SECRETS = (
    SCHWAB_APP_SECRET,
    KITE_API_SECRET,
    UPSTOX_CLIENT_SECRET,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
)
GROWW_CLOCK_SLACK = 120
"""Seconds either side of the test's run for which Groww's approval checksum is recomputed."""


@dataclass
class Secrets:
    """Every secret value met during the flow, by what it is."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: str | None) -> None:
        if value:
            self.values[name] = value

    def found_in(self, text: str) -> list[str]:
        return sorted(name for name, value in self.values.items() if value in text)


@dataclass
class Responses:
    """The app's own responses (the sandbox's answers are the broker's, not ours)."""

    seen: list[str] = field(default_factory=list)

    async def record(self, response: httpx.Response) -> None:
        if response.request.url.path.startswith("/sandbox/"):
            return
        await response.aread()
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers.multi_items())
        self.seen.append(f"{response.request.url.path}\n{headers}\n{response.text}")


@pytest.fixture
def responses(served: Served) -> Iterator[Responses]:
    recorder = Responses()
    served.client.event_hooks["response"].append(recorder.record)
    yield recorder
    served.client.event_hooks["response"].remove(recorder.record)


async def _collect_tokens(served: Served, connection_id: str, secrets: Secrets, when: str) -> None:
    stored = await stored_credentials(served.core, connection_id)
    secrets.add(f"{when} access token", stored.access_token)
    secrets.add(f"{when} refresh token", stored.refresh_token)


async def _redirect_flow(served: Served, account: Account, provider: str, secrets: Secrets) -> str:
    client = served.client
    connection_id = await create(client, account, provider)
    callback = await consent(client, account, connection_id)
    back = query_of(callback)
    secrets.add("authorization code", back.get("code"))
    request_token = back.get("request_token")
    secrets.add("request token", request_token)
    if request_token is not None:
        checksum = hashlib.sha256(f"{KITE_API_KEY}{request_token}{KITE_API_SECRET}".encode())
        secrets.add("kite checksum", checksum.hexdigest())
    landed = await land(client, account, callback)
    assert landed.status_code == 200, landed.text
    replayed = await land(client, account, callback)
    assert replayed.status_code == 400, replayed.text
    return connection_id


async def _groww_flow(served: Served, account: Account, secrets: Secrets) -> str:
    now = int(time.time())  # the app runs on the system clock here
    for epoch in range(now - GROWW_CLOCK_SLACK, now + GROWW_CLOCK_SLACK):
        digest = hashlib.sha256(f"{GROWW_API_SECRET}{epoch}".encode()).hexdigest()
        secrets.add(f"groww checksum at {epoch}", digest)
    return await connect_groww_keys(served.client, account)


@pytest.mark.parametrize("provider", ["schwab", "zerodha", "upstox", "groww"])
async def test_no_secret_reaches_logs_audit_or_responses(
    served: Served,
    mailbox: Mailbox,
    sandboxes: BrokerSandboxes,
    responses: Responses,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    provider: str,
) -> None:
    client = served.client
    secrets = Secrets()
    for number, value in enumerate(APP_SECRETS):
        secrets.add(f"app secret {number}", value)
    account = await signed_up(served, mailbox, f"quiet-{provider}@example.com")
    if provider == "groww":
        connection_id = await _groww_flow(served, account, secrets)
    else:
        connection_id = await _redirect_flow(served, account, provider, secrets)
    await _collect_tokens(served, connection_id, secrets, "first")
    assert (await status(client, account, connection_id))["connected"] is True
    refreshed = await refresh(client, account, connection_id)
    assert refreshed.status_code in (200, 409), refreshed.text
    await _collect_tokens(served, connection_id, secrets, "refreshed")
    gone = await client.delete(
        f"{API}/providers/{connection_id}/authorization", headers=account.headers
    )
    assert gone.status_code == 204, gone.text

    captured = capsys.readouterr()
    logs = f"{captured.out}\n{captured.err}\n{caplog.text}"
    assert "provider_connected" in logs or "http_request" in logs  # the capture saw the app
    async with served.core() as scope:
        audit = "\n".join([repr(record) async for record in (await scope.get(AuditLog)).records()])
    assert "provider_connected" in audit

    assert secrets.found_in(logs) == []
    assert secrets.found_in(audit) == []
    assert responses.seen
    assert [
        (found, r.split("\n")[0]) for r in responses.seen for found in secrets.found_in(r)
    ] == []
