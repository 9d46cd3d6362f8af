"""The identity journey through HTTP, on the embedded default and on PostgreSQL + Redis.

register → verify (token from the outbox's mail) → login → me → refresh → sessions → logout,
and the ways it must fail: refresh reuse revokes the family, a revoked session's access token
is refused, enumeration gets identical answers.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from dishka import AsyncContainer

from dashcore.ports.audit import AuditLog
from tests.integration.identity.support import (
    API,
    PASSWORD,
    Mailbox,
    log_in,
    register_and_verify,
    signed_up,
    verify,
)

BACKENDS = [
    "memory",
    pytest.param("postgres_redis", marks=[pytest.mark.postgres, pytest.mark.redis]),
]


async def test_the_whole_journey(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    email = "Ada.Lovelace@Example.org"
    await register_and_verify(client, mailbox, email)
    account = await log_in(client, email, device_label="laptop")

    me = await client.get(f"{API}/auth/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json()["email"] == email
    assert me.json()["verified"] is True
    assert me.headers["cache-control"] == "no-store"

    refreshed = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert refreshed.status_code == 200
    pair = refreshed.json()
    assert pair["refresh_token"] != account.refresh_token
    assert pair["session_id"] == account.session_id
    headers = {"Authorization": f"Bearer {pair['access_token']}"}

    phone = await log_in(client, email, device_label="phone")
    sessions = await client.get(f"{API}/auth/sessions", headers=headers)
    assert sessions.status_code == 200
    listed = {s["id"]: s for s in sessions.json()}
    assert set(listed) == {account.session_id, phone.session_id}
    assert listed[account.session_id]["current"] is True
    assert listed[phone.session_id]["device_label"] == "phone"

    assert (await client.post(f"{API}/auth/logout", headers=phone.headers)).status_code == 204
    assert (await client.get(f"{API}/auth/me", headers=phone.headers)).status_code == 401
    assert (await client.get(f"{API}/auth/me", headers=headers)).status_code == 200

    assert (await client.post(f"{API}/auth/logout-all", headers=headers)).status_code == 204
    refused = await client.get(f"{API}/auth/me", headers=headers)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert refused.json()["code"] == "invalid_token"


async def test_refresh_token_reuse_revokes_the_whole_session(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await signed_up(client, mailbox, "reuse@example.org")
    first = await client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})
    second_token = first.json()["refresh_token"]
    second = await client.post(f"{API}/auth/refresh", json={"refresh_token": second_token})
    assert second.status_code == 200

    replay = await client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})
    assert replay.status_code == 401
    assert replay.json()["code"] == "invalid_refresh_token"
    latest = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert latest.status_code == 401
    headers = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert (await client.get(f"{API}/auth/me", headers=headers)).status_code == 401
    warning = await mailbox.wait_for("reuse@example.org", "refresh_token_reuse")
    assert account.refresh_token not in warning.body.text


@pytest.mark.parametrize("token", ["", "x" * 5000, "not.a.token", "é" * 10])
async def test_a_malformed_refresh_token_is_refused_like_any_other(
    client: httpx.AsyncClient, token: str
) -> None:
    refused = await client.post(f"{API}/auth/refresh", json={"refresh_token": token})
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_refresh_token")


@pytest.mark.parametrize("label", ["ev\u202eil", "line\nFAKE: x", "nul\u0000"])
async def test_a_device_label_with_control_or_format_characters_is_refused(
    client: httpx.AsyncClient, mailbox: Mailbox, label: str
) -> None:
    """The label is shown in the owner's session list: no spoofing it with a right-to-left
    override or a line break."""
    await signed_up(client, mailbox, "label@example.org")
    body = {"email": "label@example.org", "password": PASSWORD, "device_label": label}
    refused = await client.post(f"{API}/auth/login", json=body)
    assert refused.status_code == 422
    assert [error["field"] for error in refused.json()["errors"]] == ["device_label"]
    body["device_label"] = "Ada's laptop — 2026"
    assert (await client.post(f"{API}/auth/login", json=body)).status_code == 200


async def test_parallel_refreshes_with_one_token_get_one_successor(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await signed_up(client, mailbox, "tabs@example.org")
    answers = await asyncio.gather(
        *(
            client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})
            for _ in range(20)
        )
    )
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["refresh_token"] for a in answers}) == 1


async def test_login_failures_are_indistinguishable(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register_and_verify(client, mailbox, "known@example.org")
    await client.post(
        f"{API}/auth/register", json={"email": "unverified@example.org", "password": PASSWORD}
    )
    attempts = [
        ("nobody@example.org", PASSWORD),
        ("known@example.org", PASSWORD + " wrong"),
        ("unverified@example.org", PASSWORD),
    ]
    answers = []
    for email, password in attempts:
        response = await client.post(
            f"{API}/auth/login", json={"email": email, "password": password}
        )
        answers.append(response)
    assert {a.status_code for a in answers} == {401}
    bodies = [{k: v for k, v in a.json().items() if k != "request_id"} for a in answers]
    assert bodies[0] == bodies[1] == bodies[2]
    assert len({a.headers["content-length"] for a in answers}) == 1


async def test_registering_a_taken_address_answers_the_same_and_mails_the_owner(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    first = await client.post(
        f"{API}/auth/register", json={"email": "mike@example.org", "password": PASSWORD}
    )
    await verify(client, await mailbox.token("mike@example.org", "verification"))
    again = await client.post(
        f"{API}/auth/register", json={"email": "ＭＩＫＥ@EXAMPLE.ORG", "password": PASSWORD}
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    notice = await mailbox.wait_for("mike@example.org", "already_registered")
    assert notice.to == "mike@example.org"
    assert mailbox.mailer.to("ＭＩＫＥ@EXAMPLE.ORG") == []


async def test_sign_ups_of_a_taken_address_mail_its_owner_at_most_three_times_an_hour(
    client: httpx.AsyncClient, mailbox: Mailbox, core: AsyncContainer
) -> None:
    """Found by QA: the "already registered" notice had no cap of its own, so sign-ups from
    many client addresses could flood a verified user's inbox."""
    await register_and_verify(client, mailbox, "flooded@example.org")
    for _ in range(5):
        again = await client.post(
            f"{API}/auth/register", json={"email": "flooded@example.org", "password": PASSWORD}
        )
        assert again.status_code == 201
    await mailbox.wait_for("flooded@example.org", "already_registered", count=3)
    async with core() as scope:
        records = [r.event async for r in (await scope.get(AuditLog)).records()]
    refused = [e for e in records if e.action == "authn_register_existing"]
    assert [e.metadata.get("reason") for e in refused] == [None] * 3 + ["rate_limited"] * 2
    await asyncio.sleep(1.2)  # the outbox's next tick would have sent a fourth
    notices = [m for m in mailbox.mailer.to("flooded@example.org") if m.template != "verification"]
    assert len(notices) == 3


async def test_the_owner_s_sign_up_takes_back_an_address_a_stranger_registered_first(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """Found by QA: the stranger's password stayed, and once the owner verified from their
    inbox, the stranger signed in to an account verified as the owner's."""
    stranger_password = "a stranger's long enough passphrase"
    await client.post(
        f"{API}/auth/register", json={"email": "victim@example.org", "password": stranger_password}
    )
    first_link = await mailbox.token("victim@example.org", "verification")
    owners = await client.post(
        f"{API}/auth/register", json={"email": "victim@example.org", "password": PASSWORD}
    )
    assert owners.status_code == 201
    # the owner's sign-up mails a new link, not "already registered"
    latest = await mailbox.token("victim@example.org", "verification", count=2)
    stale = await verify(client, first_link, stranger_password, status=422)
    assert stale.json()["code"] == "invalid_token", "the earlier link died with the new sign-up"
    await verify(client, latest)
    owner = await client.post(
        f"{API}/auth/login", json={"email": "victim@example.org", "password": PASSWORD}
    )
    assert owner.status_code == 200, owner.text
    stranger = await client.post(
        f"{API}/auth/login", json={"email": "victim@example.org", "password": stranger_password}
    )
    assert stranger.status_code == 401


async def test_a_sign_up_s_link_needs_the_password_chosen_at_sign_up(
    client: httpx.AsyncClient, mailbox: Mailbox, core: AsyncContainer
) -> None:
    """The inbox proves the address, the password that its holder chose the password in
    force. A wrong one is audited, counts like a wrong login and leaves the link usable."""
    await client.post(
        f"{API}/auth/register", json={"email": "careful@example.org", "password": PASSWORD}
    )
    token = await mailbox.token("careful@example.org", "verification")
    missing = await client.post(f"{API}/auth/verify-email", json={"token": token})
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["password"]
    wrong = await verify(client, token, "not the password chosen at all", status=403)
    assert wrong.json()["code"] == "wrong_password"
    await verify(client, token)
    await log_in(client, "careful@example.org")
    async with core() as scope:
        records = [r.event async for r in (await scope.get(AuditLog)).records()]
    refused = [e for e in records if e.action == "user_email_verification_refused"]
    assert [(str(e.outcome), e.metadata["reason"]) for e in refused] == [
        ("failure", "wrong_password")
    ]


async def test_wrong_passwords_at_a_sign_up_s_link_lock_the_account_like_wrong_logins(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await client.post(
        f"{API}/auth/register", json={"email": "guessed@example.org", "password": PASSWORD}
    )
    token = await mailbox.token("guessed@example.org", "verification")
    for attempt in range(5):
        await verify(client, token, f"guess number {attempt} is wrong", status=403)
    locked = await verify(client, token, status=429)
    assert locked.json()["code"] == "account_locked"
    assert int(locked.headers["retry-after"]) > 0
    # the way out: signing up again sets the password, which ends the lock
    await client.post(
        f"{API}/auth/register", json={"email": "guessed@example.org", "password": PASSWORD}
    )
    await verify(client, await mailbox.token("guessed@example.org", "verification", count=2))


async def test_a_stranger_signing_up_after_the_owner_cannot_get_their_password_confirmed(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """Found by QA: a sign-up replaces an unverified account's password, so a stranger who
    signed up after the owner had their password confirmed when the owner opened the newest
    link, and could sign in to the owner's verified account."""
    stranger_password = "a stranger's long enough passphrase"
    await client.post(
        f"{API}/auth/register", json={"email": "owner@example.org", "password": PASSWORD}
    )
    await client.post(
        f"{API}/auth/register", json={"email": "owner@example.org", "password": stranger_password}
    )
    newest = await mailbox.token("owner@example.org", "verification", count=2)
    refused = await verify(client, newest, PASSWORD, status=403)
    assert "sign up again" in refused.json()["detail"]
    await client.post(
        f"{API}/auth/register", json={"email": "owner@example.org", "password": PASSWORD}
    )
    await verify(client, await mailbox.token("owner@example.org", "verification", count=3))
    await log_in(client, "owner@example.org")
    stranger = await client.post(
        f"{API}/auth/login", json={"email": "owner@example.org", "password": stranger_password}
    )
    assert stranger.status_code == 401


async def test_a_verification_token_works_once(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    await client.post(
        f"{API}/auth/register", json={"email": "once@example.org", "password": PASSWORD}
    )
    token = await mailbox.token("once@example.org", "verification")
    await verify(client, token)
    replay = await verify(client, token, status=422)
    assert replay.json()["code"] == "invalid_token"


async def test_resending_answers_the_same_whether_or_not_the_address_exists(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await client.post(
        f"{API}/auth/register", json={"email": "late@example.org", "password": PASSWORD}
    )
    known = await client.post(f"{API}/auth/verification-emails", json={"email": "late@example.org"})
    unknown = await client.post(
        f"{API}/auth/verification-emails", json={"email": "ghost@example.org"}
    )
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.json() == unknown.json()
    first = await mailbox.token("late@example.org", "verification", count=1)
    second = await mailbox.token("late@example.org", "verification", count=2)
    await verify(client, first, status=422)
    await verify(client, second)


async def test_resends_to_one_account_stop_at_three_an_hour_and_every_one_is_audited(
    client: httpx.AsyncClient, mailbox: Mailbox, core: AsyncContainer
) -> None:
    """An unverified inbox cannot be bombed from rotating addresses; the requests that send
    nothing (the fourth, an unknown address) are audited too, without the address."""
    await client.post(
        f"{API}/auth/register", json={"email": "bombed@example.org", "password": PASSWORD}
    )
    for _ in range(4):
        resent = await client.post(
            f"{API}/auth/verification-emails", json={"email": "bombed@example.org"}
        )
        assert resent.status_code == 202
    ghost = await client.post(
        f"{API}/auth/verification-emails", json={"email": "nobody-here@example.org"}
    )
    assert ghost.status_code == 202
    await mailbox.wait_for("bombed@example.org", "verification", count=4)  # sign-up + 3
    async with core() as scope:
        records = [r.event async for r in (await scope.get(AuditLog)).records()]
    resends = [e for e in records if e.action == "user_verification_resent"]
    assert [str(e.outcome) for e in resends] == ["success"] * 3 + ["denied"] * 2
    assert [e.metadata.get("reason") for e in resends[3:]] == ["rate_limited", "unknown_account"]
    assert all("nobody-here" not in repr(e) for e in resends)
    assert len(mailbox.mailer.to("bombed@example.org")) == 4


async def test_weak_or_oversized_passwords_are_refused_with_field_errors(
    client: httpx.AsyncClient,
) -> None:
    for password, code in [
        ("short", "password_too_short"),
        ("passwordpassword", "password_too_common"),
        ("x" * 129, "password_too_long"),
    ]:
        response = await client.post(
            f"{API}/auth/register", json={"email": "weak@example.org", "password": password}
        )
        assert response.status_code == 422, password
        assert response.json()["code"] == code
    oversized = await client.post(
        f"{API}/auth/login", json={"email": "weak@example.org", "password": "x" * 100_000}
    )
    assert oversized.status_code in {413, 422}


async def test_another_users_session_cannot_be_revoked(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    alice = await signed_up(client, mailbox, "alice@example.org")
    bob = await signed_up(client, mailbox, "bob@example.org")
    response = await client.delete(f"{API}/auth/sessions/{alice.session_id}", headers=bob.headers)
    assert response.status_code == 404
    assert (await client.get(f"{API}/auth/me", headers=alice.headers)).status_code == 200


async def test_jwks_publishes_the_verification_keys(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"
    assert response.headers["vary"] == "Origin", "cacheable: its CORS headers vary by origin"
    keys = response.json()["keys"]
    assert keys
    assert all(key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key for key in keys)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a.b.c",
        "Bearer  x",
        "bearer x y",
        "Bearer garbage",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ],
)
async def test_protected_routes_need_a_valid_bearer_token(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    """One refusal whatever is wrong: the detail does not tell a caller whether its token
    parsed (found by QA: a token that failed verification read "Authentication failed.")."""
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.get(f"{API}/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert response.json()["detail"] == "A valid access token is required."


async def test_a_sign_in_from_a_new_device_is_announced_but_not_the_first_one(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register_and_verify(client, mailbox, "devices@example.org")
    laptop = {"User-Agent": "Laptop Browser/1.0"}
    phone = {"User-Agent": "Phone App/2.0"}
    for headers in (laptop, laptop, phone, laptop):
        response = await client.post(
            f"{API}/auth/login",
            json={"email": "devices@example.org", "password": PASSWORD},
            headers=headers,
        )
        assert response.status_code == 200
    notice = await mailbox.wait_for("devices@example.org", "new_device_login")
    assert "Phone App/2.0" in notice.body.text
    assert [m.template for m in mailbox.mailer.to("devices@example.org")].count(
        "new_device_login"
    ) == 1
