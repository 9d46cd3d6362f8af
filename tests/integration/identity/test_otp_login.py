"""Passwordless login with a code sent by email, through HTTP, on the embedded default and on
PostgreSQL + Redis (issue #4; security.md OTP-1, ENUM-1, AUD-1).

``POST /auth/otp-challenges`` answers alike for every address and mails a code only to an
account that can sign in; ``POST /auth/login`` with ``{email, otp, challenge_id}`` turns the
code read from the mailbox into a session once. Every refusal is ``invalid_code``; malformed
codes are 422 before any attempt is spent. Expiry is reached by moving the app's FakeClock.

The send limits (one code a minute per address) run on real time, so each test asks at most
once per address.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from dishka import AsyncContainer

from tests.integration.identity.support import (
    API,
    PASSWORD,
    ClockedMailbox,
    account_of,
    audit_actions,
    enable_totp,
    mfa_token,
    register_and_verify,
    signed_up,
)


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


async def _ask(client: httpx.AsyncClient, email: str) -> str:
    """Ask for a code; the challenge id (the answer is the same for every address)."""
    response = await client.post(f"{API}/auth/otp-challenges", json={"email": email})
    assert response.status_code == 202, response.text
    challenge_id: str = response.json()["challenge_id"]
    return challenge_id


async def _login(
    client: httpx.AsyncClient, email: str, otp: str, challenge_id: str
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/login", json={"email": email, "otp": otp, "challenge_id": challenge_id}
    )


def _other_than(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_a_code_from_the_mailbox_signs_in_once(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    email = "grace@example.org"
    await register_and_verify(client, mailbox, email)
    before = Counter(await audit_actions(core))
    known = await client.post(f"{API}/auth/otp-challenges", json={"email": email})
    unknown = await client.post(f"{API}/auth/otp-challenges", json={"email": "ghost@example.org"})
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json().keys() == unknown.json().keys()
    assert known.json()["expires_in"] == unknown.json()["expires_in"] == 300
    assert known.json()["challenge_id"] != unknown.json()["challenge_id"]
    assert Counter(await audit_actions(core)) - before == Counter(
        {"authn_otp_sent": 1, "authn_otp_not_sent": 1}
    )

    code = await mailbox.login_code(email)
    challenge_id = known.json()["challenge_id"]
    signed_in = account_of(email, await _login(client, email.upper(), code, challenge_id))
    me = await client.get(f"{API}/auth/me", headers=signed_in.headers)
    assert (me.status_code, me.json()["email"]) == (200, email)
    actions = Counter(await audit_actions(core)) - before
    assert (actions["authn_otp_verified"], actions["authn_login_success"]) == (1, 1)
    assert mailbox.mailer.to("ghost@example.org") == []

    reused = await _login(client, email, code, challenge_id)
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_code")
    assert "access_token" not in reused.text


async def test_five_wrong_codes_kill_the_challenge_even_for_the_right_one(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    email = "guessed@example.org"
    await register_and_verify(client, mailbox, email)
    challenge_id = await _ask(client, email)
    code = await mailbox.login_code(email)
    for _ in range(5):
        wrong = await _login(client, email, _other_than(code), challenge_id)
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_code")
    right = await _login(client, email, code, challenge_id)
    assert (right.status_code, right.json()["code"]) == (401, "invalid_code")
    assert "access_token" not in right.text


async def test_malformed_foreign_and_expired_codes_are_refused_without_a_session(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    alice, bob = "alice@example.org", "bob@example.org"
    await asyncio.gather(*(register_and_verify(client, mailbox, who) for who in (alice, bob)))
    challenge_id, bobs_challenge = await _ask(client, alice), await _ask(client, bob)
    code, bobs_code = await asyncio.gather(mailbox.login_code(alice), mailbox.login_code(bob))

    for otp in ("１２３４５６", "١٢٣٤٥٦", "12345 ", " 12345", "12345", "1234567", "12-456"):
        response = await _login(client, alice, otp, challenge_id)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_code"), otp
        assert "access_token" not in response.text
    for body in (
        {"email": alice, "password": PASSWORD, "otp": code, "challenge_id": challenge_id},
        {"email": alice, "otp": code},
        {"email": alice, "challenge_id": challenge_id},
        {"email": alice},
        {"email": alice, "otp": code, "challenge_id": "not a challenge"},
    ):
        response = await client.post(f"{API}/auth/login", json=body)
        assert response.status_code == 422, body
        assert "access_token" not in response.text

    foreign = await _login(client, bob, code, challenge_id)
    assert (foreign.status_code, foreign.json()["code"]) == (401, "invalid_code")
    unknown = await _login(client, alice, code, "A" * 22)
    assert (unknown.status_code, unknown.json()["code"]) == (401, "invalid_code")
    # Malformed bodies spent nothing; Bob's try spent one of the 5 attempts.
    account_of(alice, await _login(client, alice, code, challenge_id))

    mailbox.clock.advance(minutes=5, seconds=1)
    expired = await _login(client, bob, bobs_code, bobs_challenge)
    assert (expired.status_code, expired.json()["code"]) == (401, "invalid_code")


async def test_an_emailed_code_is_one_factor_when_the_authenticator_app_is_on(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    email = "two-step@example.org"
    account = await signed_up(client, mailbox, email)
    app = await enable_totp(client, mailbox, account)
    mfa_challenge = await mfa_token(client, email)

    otp_as_mfa = await _login(client, email, app.code(mailbox.clock), mfa_challenge)
    assert (otp_as_mfa.status_code, otp_as_mfa.json()["code"]) == (401, "invalid_code")
    challenge_id = await _ask(client, email)
    half = await _login(client, email, await mailbox.login_code(email), challenge_id)
    assert half.status_code == 202
    assert half.json()["status"] == "mfa_required"
    assert "access_token" not in half.text
    done = await client.post(
        f"{API}/auth/mfa/verify",
        json={"mfa_token": half.json()["mfa_token"], "code": app.code(mailbox.clock)},
    )
    account_of(email, done)
