"""Two-step sign-in with an authenticator app through HTTP, on the embedded default and on
PostgreSQL + Redis (issue #4; security.md TOTP-1, RC-1, RESET-2, AUD-1).

enrol → confirm → logout → login gets an MFA challenge → verify with a TOTP code → tokens; a
login finished with a recovery code; five wrong codes kill the challenge and lock the factor;
bad input is a clear 4xx and never a session; a password reset needs the second factor; an
administrator can turn it off.

Time is the app's :class:`~dashcore.testing.FakeClock` (``ClockedMailbox``): each TOTP code the
test types belongs to a step of its own, and expiry and lock ends are reached by moving the
clock, never by sleeping.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import httpx
import pytest
from dishka import AsyncContainer

from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import SYSTEM
from dashcore.ports.audit import AuditLog
from tests.integration.identity.support import (
    API,
    PASSWORD,
    Account,
    Authenticator,
    ClockedMailbox,
    account_of,
    audit_actions,
    enable_totp,
    log_in,
    mfa_token,
    signed_up,
)

NEW_PASSWORD = "a completely different passphrase"
_RECOVERY_CODE = re.compile(r"[0-9A-Z]{5}-[0-9A-Z]{5}")


@pytest.fixture
def mailbox() -> ClockedMailbox:
    return ClockedMailbox()


async def _verify(client: httpx.AsyncClient, token: str, **proof: str) -> httpx.Response:
    return await client.post(f"{API}/auth/mfa/verify", json={"mfa_token": token, **proof})


async def _with_totp(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, email: str
) -> tuple[Account, Authenticator]:
    account = await signed_up(client, mailbox, email)
    return account, await enable_totp(client, mailbox, account)


class _AuditSteps:
    """The audit events each step of a journey adds."""

    def __init__(self, core: AsyncContainer) -> None:
        self._core = core
        self._seen: Counter[str] = Counter()

    async def added(self) -> Counter[str]:
        now = Counter(await audit_actions(self._core))
        added, self._seen = now - self._seen, now
        return added


async def test_enrol_confirm_and_sign_in_with_the_app_then_with_a_recovery_code(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    email = "ada@example.org"
    account = await signed_up(client, mailbox, email)
    audit = _AuditSteps(core)
    await audit.added()
    state = await client.get(f"{API}/auth/mfa", headers=account.headers)
    assert state.json() == {"totp": "off", "confirmed_at": None, "recovery_codes_remaining": 0}

    started = await client.post(f"{API}/auth/mfa/totp", headers=account.headers)
    assert started.status_code == 201
    setup = started.json()
    assert setup["status"] == "pending"
    assert setup["provisioning_uri"].startswith("otpauth://totp/dashcore:")
    assert f"secret={setup['secret']}" in setup["provisioning_uri"]
    assert (await audit.added())["authn_mfa_enrolment_started"] == 1
    pending = await client.get(f"{API}/auth/mfa", headers=account.headers)
    assert pending.json()["totp"] == "pending"
    assert "secret" not in pending.text
    await log_in(client, email)  # an unconfirmed enrolment leaves two-step sign-in off
    await audit.added()

    app = Authenticator(setup["secret"], ())
    wrong = await client.post(
        f"{API}/auth/mfa/totp/confirm",
        json={"code": app.wrong_code(mailbox.clock)},
        headers=account.headers,
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_code")
    confirmed = await client.post(
        f"{API}/auth/mfa/totp/confirm",
        json={"code": app.code(mailbox.clock)},
        headers=account.headers,
    )
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(_RECOVERY_CODE.fullmatch(code) for code in codes)
    assert (await audit.added()) == Counter(
        {"authn_mfa_fail": 1, "authn_mfa_enabled": 1, "session_revoked": 1}
    )  # the password-only session of the login above ended; this one goes on
    active = (await client.get(f"{API}/auth/mfa", headers=account.headers)).json()
    assert (active["totp"], active["recovery_codes_remaining"]) == ("active", 10)
    await mailbox.wait_for(email, "totp_enabled")
    assert (await client.post(f"{API}/auth/logout", headers=account.headers)).status_code == 204

    challenge = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert challenge.status_code == 202
    assert challenge.json()["methods"] == ["totp", "recovery_code"]
    assert challenge.json()["expires_in"] == 300
    assert "access_token" not in challenge.text
    token = challenge.json()["mfa_token"]
    replayed = await _verify(client, token, code=app.code(mailbox.clock))
    assert (replayed.status_code, replayed.json()["code"]) == (401, "invalid_code")
    await audit.added()
    mailbox.next_step()
    signed_in = account_of(email, await _verify(client, token, code=app.code(mailbox.clock)))
    added = await audit.added()
    assert (added["authn_mfa_success"], added["authn_login_success"]) == (1, 1)
    assert (await client.get(f"{API}/auth/me", headers=signed_in.headers)).status_code == 200
    used_token = await _verify(client, token, code=app.code(mailbox.clock))
    assert (used_token.status_code, used_token.json()["code"]) == (401, "invalid_mfa_token")

    regenerated = await client.post(f"{API}/auth/mfa/recovery-codes", headers=signed_in.headers)
    assert regenerated.status_code == 201
    assert not set(regenerated.json()["recovery_codes"]) & set(codes)
    assert (await audit.added())["authn_recovery_codes_regenerated"] == 1
    notice = await mailbox.wait_for(email, "recovery_codes_replaced")
    assert "no longer work" in notice.body.text
    old = await client.post(
        f"{API}/auth/step-up", json={"recovery_code": codes[0]}, headers=signed_in.headers
    )
    assert (old.status_code, old.json()["code"]) == (403, "wrong_code")


async def test_a_login_finished_with_a_recovery_code_uses_it_up_and_mails_the_owner(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    email = "recovering@example.org"
    _, app = await _with_totp(client, mailbox, email)
    audit = _AuditSteps(core)
    await audit.added()
    typed = app.recovery_codes[0].lower().replace("-", "")  # case and hyphens do not matter
    recovered = await _verify(client, await mfa_token(client, email), recovery_code=typed)
    assert recovered.status_code == 200, recovered.text
    signed_in = account_of(email, recovered)
    added = await audit.added()
    assert (added["authn_recovery_code_used"], added["authn_mfa_success"]) == (1, 0)
    notice = await mailbox.wait_for(email, "recovery_code_used")
    assert app.recovery_codes[0] not in notice.body.text
    assert "Unused codes left: 9" in notice.body.text
    state = await client.get(f"{API}/auth/mfa", headers=signed_in.headers)
    assert state.json()["recovery_codes_remaining"] == 9
    reused = await _verify(client, await mfa_token(client, email), recovery_code=typed)
    assert (reused.status_code, reused.json()["code"]) == (401, "invalid_code")


async def test_five_wrong_codes_kill_the_challenge_and_lock_the_factor(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    _, app = await _with_totp(client, mailbox, "guessed@example.org")
    token = await mfa_token(client, "guessed@example.org")
    for _ in range(5):
        wrong = await _verify(client, token, code=app.wrong_code(mailbox.clock))
        assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_code")
    right = await _verify(client, token, code=app.code(mailbox.clock))
    assert (right.status_code, right.json()["code"]) == (401, "invalid_mfa_token")
    assert "access_token" not in right.text

    locked = await _verify(
        client, await mfa_token(client, "guessed@example.org"), code=app.code(mailbox.clock)
    )
    assert (locked.status_code, locked.json()["code"]) == (429, "second_factor_locked")
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    assert (await audit_actions(core)).count("authn_mfa_lock") == 1

    mailbox.clock.advance(minutes=15, seconds=1)
    later = await _verify(
        client, await mfa_token(client, "guessed@example.org"), code=app.code(mailbox.clock)
    )
    assert later.status_code == 200


async def test_malformed_codes_and_foreign_challenges_are_clear_4xx_without_a_session(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    (_, app), (_, other_app) = await asyncio.gather(
        _with_totp(client, mailbox, "careful@example.org"),
        _with_totp(client, mailbox, "other@example.org"),
    )
    token = await mfa_token(client, "careful@example.org")
    malformed: list[tuple[dict[str, str], str]] = [
        ({"code": "１２３４５６"}, "invalid_code"),  # fullwidth digits
        ({"code": "١٢٣٤٥٦"}, "invalid_code"),  # Arabic-Indic digits
        ({"code": "12345 "}, "invalid_code"),
        ({"code": " 123456"}, "invalid_code"),
        ({"code": "12345"}, "invalid_code"),
        ({"code": "1234567"}, "invalid_code"),
        ({"code": "12a456"}, "invalid_code"),
        ({"code": ""}, "invalid_input"),
        ({"recovery_code": "not-a-code"}, "invalid_recovery_code"),
        ({"recovery_code": "ＡＢＣＤＥ-ＦＧＨＪＫ"}, "invalid_recovery_code"),
        ({"code": "123456", "recovery_code": "ABCDE-FGHJK"}, "invalid_input"),
        ({}, "invalid_input"),
    ]
    for proof, code in malformed:
        response = await _verify(client, token, **proof)
        assert (response.status_code, response.json()["code"]) == (422, code), proof
        assert "access_token" not in response.text
    for bad_token in ("", "x" * 65, "not a token!"):
        response = await _verify(client, bad_token, code=app.code(mailbox.clock))
        assert response.status_code == 422, bad_token
    unknown = await _verify(client, "A" * 22, code=app.code(mailbox.clock))
    assert (unknown.status_code, unknown.json()["code"]) == (401, "invalid_mfa_token")

    others = await _verify(client, token, code=other_app.code(mailbox.clock))
    assert (others.status_code, others.json()["code"]) == (401, "invalid_code")
    sent = await client.post(f"{API}/auth/otp-challenges", json={"email": "careful@example.org"})
    emailed = await _verify(client, sent.json()["challenge_id"], code=app.code(mailbox.clock))
    assert (emailed.status_code, emailed.json()["code"]) == (401, "invalid_mfa_token")
    both = await client.post(
        f"{API}/auth/login",
        json={"email": "careful@example.org", "password": PASSWORD, "otp": "123456"},
    )
    assert both.status_code == 422
    assert "mfa_token" not in both.text

    # Malformed input spent none of the challenge's 5 attempts; the wrong code spent one.
    assert (await _verify(client, token, code=app.code(mailbox.clock))).status_code == 200

    expiring = await mfa_token(client, "careful@example.org")
    mailbox.clock.advance(seconds=301)
    expired = await _verify(client, expiring, code=app.code(mailbox.clock))
    assert (expired.status_code, expired.json()["code"]) == (401, "invalid_mfa_token")


async def test_a_password_reset_needs_the_second_factor_and_logs_nobody_in(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    email = "reset@example.org"
    account, app = await _with_totp(client, mailbox, email)
    await client.post(f"{API}/password-resets", json={"email": email})
    token = await mailbox.token(email, "password_reset")
    checked = await client.post(f"{API}/password-resets/check", json={"token": token})
    assert checked.json() == {"status": "valid", "second_factor_required": True}

    link = f"{API}/password-resets/complete"
    bare = await client.post(link, json={"token": token, "password": NEW_PASSWORD})
    assert (bare.status_code, bare.json()["code"]) == (403, "second_factor_required")
    wrong = await client.post(
        link, json={"token": token, "password": NEW_PASSWORD, "code": app.wrong_code(mailbox.clock)}
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_code")
    malformed = await client.post(
        link, json={"token": token, "password": NEW_PASSWORD, "code": "１２３４５６"}
    )
    assert (malformed.status_code, malformed.json()["code"]) == (422, "invalid_code")
    refused = await client.post(
        f"{API}/auth/login", json={"email": email, "password": NEW_PASSWORD}
    )
    assert refused.status_code == 401  # nothing refused above changed the password

    done = await client.post(
        link, json={"token": token, "password": NEW_PASSWORD, "code": app.code(mailbox.clock)}
    )
    assert done.status_code == 200
    assert "token" not in done.text
    assert "set-cookie" not in done.headers
    stale = await client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})
    assert stale.status_code == 401
    assert (await client.get(f"{API}/auth/me", headers=account.headers)).status_code == 401
    await mfa_token(client, email, NEW_PASSWORD)  # the app is still asked for


async def test_a_sign_in_half_done_with_the_old_password_ends_with_the_reset(
    client: httpx.AsyncClient, mailbox: ClockedMailbox
) -> None:
    """Found by QA: an ``mfa_token`` taken with the old password still completed a sign-in
    after a password reset (and after a change, or a disable and enable): the password step
    it proves is no longer true."""
    email = "half@example.org"
    _, app = await _with_totp(client, mailbox, email)
    pending = await mfa_token(client, email)
    await client.post(f"{API}/password-resets", json={"email": email})
    token = await mailbox.token(email, "password_reset")
    done = await client.post(
        f"{API}/password-resets/complete",
        json={"token": token, "password": NEW_PASSWORD, "code": app.code(mailbox.clock)},
    )
    assert done.status_code == 200, done.text
    mailbox.clock.advance(seconds=30)  # a code of the next step: not a replay
    late = await _verify(client, pending, code=app.code(mailbox.clock))
    assert (late.status_code, late.json()["code"]) == (401, "invalid_mfa_token")


async def test_a_refused_second_step_is_audited_against_its_account(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    """Found by QA: the refusals of ``mfa/verify`` were audited with neither actor nor target,
    though the challenge names the account (here an emailed code's challenge passed as the
    second step's token)."""
    account, app = await _with_totp(client, mailbox, "named@example.org")
    member_id = (await client.get(f"{API}/auth/me", headers=account.headers)).json()["id"]
    sent = await client.post(f"{API}/auth/otp-challenges", json={"email": "named@example.org"})
    refused = await _verify(client, sent.json()["challenge_id"], code=app.code(mailbox.clock))
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_mfa_token")
    async with core() as scope:
        records = [r.event async for r in (await scope.get(AuditLog)).records()]
    (failure,) = [
        e
        for e in records
        if e.action == "authn_login_fail" and e.metadata.get("step") == "second_factor"
    ]
    assert failure.target == f"user:{member_id}"


async def test_an_administrator_turns_a_lost_phone_off_with_an_audit_row(
    client: httpx.AsyncClient, mailbox: ClockedMailbox, core: AsyncContainer
) -> None:
    async with core() as scope:
        await (await scope.get(CreateAdmin))("root@example.org", NEW_PASSWORD, SYSTEM)
    admin = await log_in(client, "root@example.org", NEW_PASSWORD)
    member, _ = await _with_totp(client, mailbox, "lost-phone@example.org")
    member_id = (await client.get(f"{API}/auth/me", headers=member.headers)).json()["id"]
    path = f"{API}/admin/users/{member_id}/mfa"

    assert (await client.delete(path, headers=member.headers)).status_code == 403
    mailbox.clock.advance(seconds=301)  # removing a factor asks the administrator's step-up
    stale = await client.delete(path, headers=admin.headers)
    assert (stale.status_code, stale.json()["code"]) == (401, "step_up_required")
    admin = await log_in(client, "root@example.org", NEW_PASSWORD)
    admin_id = (await client.get(f"{API}/auth/me", headers=admin.headers)).json()["id"]
    own = await client.delete(f"{API}/admin/users/{admin_id}/mfa", headers=admin.headers)
    assert (own.status_code, own.json()["code"]) == (409, "cannot_reset_own_mfa")
    assert (await client.delete(path, headers=admin.headers)).status_code == 204
    assert (await audit_actions(core)).count("admin_mfa_reset") == 1
    notice = await mailbox.wait_for("lost-phone@example.org", "totp_disabled")
    assert "an administrator" in notice.body.text
    await log_in(client, "lost-phone@example.org")  # straight to tokens, no challenge
    again = await client.delete(path, headers=admin.headers)
    assert (again.status_code, again.json()["code"]) == (404, "mfa_not_enabled")
