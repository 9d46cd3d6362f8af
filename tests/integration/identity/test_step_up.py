"""Step-up through HTTP, on the embedded default and on PostgreSQL + Redis (issue #4;
security.md STEP-1, SESS-1, AUD-1).

Each sensitive endpoint × {fresh, stale ``auth_time``}: a sign-in of the last 5 minutes may
call it; an older one gets 401 ``step_up_required`` with ``WWW-Authenticate: Bearer
error="insufficient_user_authentication", max_age=300``, and after ``POST /auth/step-up`` the
same call succeeds with the new session's token.

How ``auth_time`` goes stale: the app runs on a FakeClock (``ClockedMailbox``) and the test
moves it 301 seconds on. That is what happens to a real user (the token, the session and the
gate all read one clock) — no token is forged and no setting is bent; the 10-minute access
token is still valid, so the 401 can only come from the step-up gate. Two accounts sign in at
the same instant: one calls before the clock moves (fresh), the other after (stale).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from dishka import AsyncContainer

from tests.integration.identity.support import (
    API,
    PASSWORD,
    Account,
    Authenticator,
    ClockedMailbox,
    account_of,
    audit_actions,
    enable_totp,
    mfa_token,
    signed_up,
)

NEW_PASSWORD = "a completely different passphrase"
CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=300'


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


@dataclass(frozen=True, slots=True)
class Sensitive:
    """A sensitive call and what it answers when the sign-in is recent enough."""

    name: str
    method: str
    path: str
    with_totp: bool
    """The account needs an authenticator app for the call to make sense."""
    status: int

    def body(self, account: Account) -> dict[str, Any] | None:
        if self.path == "/auth/me/password":
            return {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        if self.path == "/auth/me":
            return {"email": f"moved-{account.email}", "current_password": PASSWORD}
        return None

    async def call(self, client: httpx.AsyncClient, account: Account) -> httpx.Response:
        return await client.request(
            self.method, f"{API}{self.path}", json=self.body(account), headers=account.headers
        )


SENSITIVE = [
    Sensitive("enrol_totp", "POST", "/auth/mfa/totp", with_totp=False, status=201),
    Sensitive("disable_totp", "DELETE", "/auth/mfa/totp", with_totp=True, status=204),
    Sensitive("recovery_codes", "POST", "/auth/mfa/recovery-codes", with_totp=True, status=201),
    Sensitive("change_password", "POST", "/auth/me/password", with_totp=False, status=204),
    Sensitive("change_email", "PATCH", "/auth/me", with_totp=False, status=200),
]


async def _ready(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, email: str, *, with_totp: bool
) -> tuple[Account, Authenticator | None]:
    """A signed-in account; with an authenticator app, signed in with it (amr has totp)."""
    account = await signed_up(client, mailbox, email)
    if not with_totp:
        return account, None
    app = await enable_totp(client, mailbox, account)
    verified = await client.post(
        f"{API}/auth/mfa/verify",
        json={"mfa_token": await mfa_token(client, email), "code": app.code(mailbox.clock)},
    )
    return account_of(email, verified), app


def _assert_step_up_required(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "step_up_required"
    assert response.json()["max_age"] == 300
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize("operation", SENSITIVE, ids=lambda operation: operation.name)
async def test_a_sensitive_call_needs_a_sign_in_of_the_last_five_minutes(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, operation: Sensitive
) -> None:
    (fresh, _), (stale, stale_app) = await asyncio.gather(
        _ready(client, mailbox, "fresh@example.org", with_totp=operation.with_totp),
        _ready(client, mailbox, "stale@example.org", with_totp=operation.with_totp),
    )
    done = await operation.call(client, fresh)
    assert done.status_code == operation.status, done.text

    mailbox.clock.advance(seconds=301)
    _assert_step_up_required(await operation.call(client, stale))
    assert (await client.get(f"{API}/auth/me", headers=stale.headers)).status_code == 200

    proof = {"password": PASSWORD} if stale_app is None else {"code": stale_app.code(mailbox.clock)}
    stepped = await client.post(f"{API}/auth/step-up", json=proof, headers=stale.headers)
    renewed = account_of(stale.email, stepped)
    assert renewed.session_id != stale.session_id
    assert (await client.get(f"{API}/auth/me", headers=stale.headers)).status_code == 401
    again = await operation.call(client, renewed)
    assert again.status_code == operation.status, again.text


async def test_with_the_app_on_a_password_session_steps_up_with_the_app(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    account = await signed_up(client, mailbox, "strongest@example.org")
    app = await enable_totp(client, mailbox, account)  # this session proved the password only
    _assert_step_up_required(
        await client.post(f"{API}/auth/mfa/recovery-codes", headers=account.headers)
    )

    step_up = f"{API}/auth/step-up"
    refusals: list[tuple[dict[str, str], int, str]] = [
        ({"password": PASSWORD}, 403, "second_factor_required"),
        ({"code": app.wrong_code(mailbox.clock)}, 403, "wrong_code"),
        ({"code": "１２３４５６"}, 422, "invalid_code"),
        ({"code": "12345 "}, 422, "invalid_code"),
        ({"recovery_code": "not-a-code"}, 422, "invalid_recovery_code"),
        ({"password": PASSWORD, "code": app.code(mailbox.clock)}, 422, "invalid_input"),
        ({}, 422, "invalid_input"),
    ]
    for proof, status, code in refusals:
        refused = await client.post(step_up, json=proof, headers=account.headers)
        assert (refused.status_code, refused.json()["code"]) == (status, code), proof
        assert "access_token" not in refused.text
    assert (await audit_actions(core)).count("authn_step_up") == 0

    stepped = await client.post(
        step_up, json={"code": app.code(mailbox.clock)}, headers=account.headers
    )
    renewed = account_of(account.email, stepped)
    assert (await audit_actions(core)).count("authn_step_up") == 1
    assert (await client.get(f"{API}/auth/me", headers=account.headers)).status_code == 401
    made = await client.post(f"{API}/auth/mfa/recovery-codes", headers=renewed.headers)
    assert made.status_code == 201
    replayed = await client.post(
        step_up, json={"code": app.code(mailbox.clock)}, headers=renewed.headers
    )
    assert (replayed.status_code, replayed.json()["code"]) == (403, "wrong_code")


async def test_without_the_app_step_up_takes_the_password_only(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    account = await signed_up(client, mailbox, "plain@example.org")
    step_up = f"{API}/auth/step-up"
    wrong = await client.post(
        step_up, json={"password": "not the password at all"}, headers=account.headers
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    code_only = await client.post(step_up, json={"code": "123456"}, headers=account.headers)
    assert code_only.status_code == 422
    anonymous = await client.post(step_up, json={"password": PASSWORD})
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "invalid_token")
    assert (await client.get(f"{API}/auth/me", headers=account.headers)).status_code == 200
