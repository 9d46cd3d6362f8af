"""Password reset and change, lockout, and administration, through HTTP."""

from __future__ import annotations

import httpx
import pytest
from dishka import AsyncContainer
from litestar import get

from dashcore.application.admin import CreateAdmin
from dashcore.domain.context import SYSTEM
from dashcore_app.settings import Settings
from dashcore_http import create_app
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_http.entitlements import requires_plan
from tests.integration.conftest import _Lifespan
from tests.integration.identity.support import (
    API,
    PASSWORD,
    Mailbox,
    audit_actions,
    log_in,
    signed_up,
)

NEW_PASSWORD = "a completely different passphrase"


async def test_reset_ends_every_session_and_needs_the_new_password(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await signed_up(client, mailbox, "forgetful@example.org")
    asked = await client.post(f"{API}/password-resets", json={"email": "FORGETFUL@example.org"})
    unknown = await client.post(f"{API}/password-resets", json={"email": "nobody@example.org"})
    assert (asked.status_code, unknown.status_code) == (202, 202)
    assert asked.json() == unknown.json()

    token = await mailbox.token("forgetful@example.org", "password_reset")
    assert (
        await client.post(f"{API}/password-resets/check", json={"token": token})
    ).status_code == 200
    done = await client.post(
        f"{API}/password-resets/complete", json={"token": token, "password": NEW_PASSWORD}
    )
    assert done.status_code == 200
    assert "access_token" not in done.text

    assert (await client.get(f"{API}/auth/me", headers=account.headers)).status_code == 401
    stale = await client.post(f"{API}/auth/refresh", json={"refresh_token": account.refresh_token})
    assert stale.status_code == 401
    replay = await client.post(
        f"{API}/password-resets/complete", json={"token": token, "password": PASSWORD}
    )
    assert replay.status_code == 422
    assert (
        await client.post(f"{API}/password-resets/check", json={"token": token})
    ).status_code == 422
    failed = await client.post(
        f"{API}/auth/login", json={"email": "forgetful@example.org", "password": PASSWORD}
    )
    assert failed.status_code == 401
    await log_in(client, "forgetful@example.org", NEW_PASSWORD)
    await mailbox.wait_for("forgetful@example.org", "password_changed")


async def test_a_reset_link_dies_when_the_password_changes_another_way(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await signed_up(client, mailbox, "careful@example.org")
    await client.post(f"{API}/password-resets", json={"email": "careful@example.org"})
    token = await mailbox.token("careful@example.org", "password_reset")
    changed = await client.post(
        f"{API}/auth/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert changed.status_code == 204
    dead = await client.post(
        f"{API}/password-resets/complete", json={"token": token, "password": PASSWORD}
    )
    assert dead.status_code == 422


async def test_changing_the_password_keeps_this_session_and_ends_the_others(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    laptop = await signed_up(client, mailbox, "two-devices@example.org")
    phone = await log_in(client, "two-devices@example.org")
    wrong = await client.post(
        f"{API}/auth/me/password",
        json={"current_password": "not the password at all", "new_password": NEW_PASSWORD},
        headers=laptop.headers,
    )
    assert wrong.status_code == 403
    assert wrong.json()["code"] == "wrong_password"
    changed = await client.post(
        f"{API}/auth/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=laptop.headers,
    )
    assert changed.status_code == 204
    assert (await client.get(f"{API}/auth/me", headers=laptop.headers)).status_code == 200
    assert (await client.get(f"{API}/auth/me", headers=phone.headers)).status_code == 401


async def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await signed_up(client, mailbox, "target@example.org")
    for _ in range(5):
        response = await client.post(
            f"{API}/auth/login", json={"email": "target@example.org", "password": "guess " * 3}
        )
        assert response.status_code in {401, 429}
    locked = await client.post(
        f"{API}/auth/login", json={"email": "Target@Example.org", "password": PASSWORD}
    )
    assert locked.status_code in {401, 429}


async def test_wrong_current_passwords_on_a_change_count_toward_the_lockout(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """A signed-in session cannot guess the password without bound: a wrong current password
    on a password or email change counts as a wrong login does (LOCK-1) and is audited."""
    account = await signed_up(client, mailbox, "guessed@example.org")
    for attempt in range(5):
        wrong = await (
            client.post(
                f"{API}/auth/me/password",
                json={"current_password": f"guess number {attempt}", "new_password": NEW_PASSWORD},
                headers=account.headers,
            )
            if attempt % 2
            else client.patch(
                f"{API}/auth/me",
                json={"email": "other@example.org", "current_password": f"guess number {attempt}"},
                headers=account.headers,
            )
        )
        assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_password")
    right = await client.post(
        f"{API}/auth/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert (right.status_code, right.json()["code"]) == (429, "account_locked")  # signed in: told
    assert 0 < int(right.headers["retry-after"]) <= 60, "the first lock is a minute"
    login = await client.post(
        f"{API}/auth/login", json={"email": "guessed@example.org", "password": PASSWORD}
    )
    assert login.status_code == 401


async def test_a_dead_link_is_named_before_the_password_is_judged(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """The person must not fix their password only to learn the link was dead all along."""
    for password in ("short", "passwordpassword", NEW_PASSWORD):
        dead = await client.post(
            f"{API}/password-resets/complete", json={"token": "not-a-token", "password": password}
        )
        assert (dead.status_code, dead.json()["code"]) == (422, "invalid_token"), password


async def test_links_mailed_before_an_account_is_disabled_never_act_on_it(
    client: httpx.AsyncClient, mailbox: Mailbox, core: AsyncContainer
) -> None:
    """Disabling freezes an account: a reset link mailed before cannot set the password that
    would be in force once an admin enables the account again."""
    async with core() as scope:
        await (await scope.get(CreateAdmin))("root@example.org", NEW_PASSWORD, SYSTEM)
    admin = await log_in(client, "root@example.org", NEW_PASSWORD)
    await signed_up(client, mailbox, "shared@example.org")
    await client.post(f"{API}/password-resets", json={"email": "shared@example.org"})
    token = await mailbox.token("shared@example.org", "password_reset")
    listed = await client.get(f"{API}/admin/users", headers=admin.headers)
    member_id = {u["email"]: u["id"] for u in listed.json()["items"]}["shared@example.org"]

    await client.post(f"{API}/admin/users/{member_id}/disable", headers=admin.headers)
    checked = await client.post(f"{API}/password-resets/check", json={"token": token})
    used = await client.post(
        f"{API}/password-resets/complete", json={"token": token, "password": NEW_PASSWORD}
    )
    await client.post(f"{API}/admin/users/{member_id}/enable", headers=admin.headers)
    after_enabling = await client.post(
        f"{API}/password-resets/complete", json={"token": token, "password": NEW_PASSWORD}
    )

    for response in (checked, used, after_enabling):
        assert (response.status_code, response.json()["code"]) == (422, "invalid_token")
    await log_in(client, "shared@example.org")  # the password from before is still the one


async def test_admins_disable_accounts_and_that_ends_their_sessions(
    client: httpx.AsyncClient, mailbox: Mailbox, core: AsyncContainer
) -> None:
    async with core() as scope:
        create_admin = await scope.get(CreateAdmin)
        await create_admin("root@example.org", NEW_PASSWORD, SYSTEM)
    admin = await log_in(client, "root@example.org", NEW_PASSWORD)
    member = await signed_up(client, mailbox, "member@example.org")

    forbidden = await client.get(f"{API}/admin/users", headers=member.headers)
    assert forbidden.status_code == 403

    listed = await client.get(f"{API}/admin/users", headers=admin.headers)
    assert listed.status_code == 200
    emails = {u["email"]: u for u in listed.json()["items"]}
    member_id = emails["member@example.org"]["id"]
    assert emails["root@example.org"]["role"] == "admin"

    granted = await client.put(
        f"{API}/admin/users/{member_id}/plan", json={"plan": "pro"}, headers=admin.headers
    )
    assert granted.json()["plan"] == "pro"
    disabled = await client.post(f"{API}/admin/users/{member_id}/disable", headers=admin.headers)
    assert disabled.json()["status"] == "disabled"
    assert (await client.get(f"{API}/auth/me", headers=member.headers)).status_code == 401
    again = await client.post(
        f"{API}/auth/login", json={"email": "member@example.org", "password": PASSWORD}
    )
    assert again.status_code == 401
    await mailbox.wait_for("member@example.org", "account_disabled")

    admin_id = emails["root@example.org"]["id"]
    itself = await client.post(f"{API}/admin/users/{admin_id}/disable", headers=admin.headers)
    assert itself.status_code == 409
    enabled = await client.post(f"{API}/admin/users/{member_id}/enable", headers=admin.headers)
    assert enabled.json()["status"] == "active"
    await log_in(client, "member@example.org")


async def test_an_email_change_takes_effect_only_once_the_new_address_is_proven(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    account = await signed_up(client, mailbox, "old@example.org")
    needs_password = await client.patch(
        f"{API}/auth/me", json={"email": "new@example.org"}, headers=account.headers
    )
    assert needs_password.status_code == 422
    asked = await client.patch(
        f"{API}/auth/me",
        json={"email": "new@example.org", "current_password": PASSWORD, "display_name": "Ada"},
        headers=account.headers,
    )
    assert asked.status_code == 200
    assert asked.json()["email"] == "old@example.org"
    assert asked.json()["pending_email"] == "new@example.org"
    assert asked.json()["display_name"] == "Ada"
    await log_in(client, "old@example.org")

    token = await mailbox.token("new@example.org", "confirm_new_email")
    assert (await client.post(f"{API}/auth/verify-email", json={"token": token})).status_code == 200
    notice = await mailbox.wait_for("old@example.org", "email_changed")
    assert "new@example.org" not in notice.body.text
    me = await client.get(f"{API}/auth/me", headers=account.headers)
    assert (me.json()["email"], me.json()["pending_email"]) == ("new@example.org", None)
    await log_in(client, "new@example.org")
    cleared = await client.patch(
        f"{API}/auth/me", json={"display_name": None}, headers=account.headers
    )
    assert cleared.json()["display_name"] is None


async def test_an_address_taken_before_the_change_is_proven_drops_the_change(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    """Someone registers the new address while its proof is in the mail: proving it then is
    409 email_taken, the account keeps its address and has no pending one left over."""
    mover = await signed_up(client, mailbox, "mover@example.org")
    await client.patch(
        f"{API}/auth/me",
        json={"email": "contested@example.org", "current_password": PASSWORD},
        headers=mover.headers,
    )
    change = await mailbox.token("contested@example.org", "confirm_new_email")
    registered = await client.post(
        f"{API}/auth/register", json={"email": "contested@example.org", "password": PASSWORD}
    )
    assert registered.status_code == 201
    own = await mailbox.token("contested@example.org", "verification")
    verified = await client.post(
        f"{API}/auth/verify-email", json={"token": own, "password": PASSWORD}
    )
    assert verified.status_code == 200

    late = await client.post(f"{API}/auth/verify-email", json={"token": change})

    assert (late.status_code, late.json()["code"]) == (409, "email_taken")
    me = (await client.get(f"{API}/auth/me", headers=mover.headers)).json()
    assert (me["email"], me["pending_email"]) == ("mover@example.org", None)
    again = await client.post(f"{API}/auth/verify-email", json={"token": change})
    assert again.json()["code"] == "invalid_token", "the change is over"


async def test_moving_to_a_taken_address_sends_nothing_and_changes_nothing(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await signed_up(client, mailbox, "owner@example.org")
    mover = await signed_up(client, mailbox, "mover@example.org")
    asked = await client.patch(
        f"{API}/auth/me",
        json={"email": "OWNER@example.org", "current_password": PASSWORD},
        headers=mover.headers,
    )
    assert asked.status_code == 200
    assert [m.template for m in mailbox.mailer.to("owner@example.org")] == ["verification"]


async def test_a_plan_guard_follows_grants_and_revocations_at_once(
    memory_settings: Settings, mailbox: Mailbox
) -> None:
    @get("/reports", guards=[requires_plan("pro")], sync_to_thread=False)
    def reports() -> dict[str, str]:
        return {"report": "ready"}

    app = create_app(memory_settings, mailbox, api_route_handlers=[reports])
    async with _Lifespan(app):
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            core: AsyncContainer = app.state[CONTAINER_STATE_KEY]
            async with core() as scope:
                await (await scope.get(CreateAdmin))("boss@example.org", NEW_PASSWORD, SYSTEM)
            admin = await log_in(client, "boss@example.org", NEW_PASSWORD)
            member = await signed_up(client, mailbox, "reader@example.org")
            refused = await client.get(f"{API}/reports", headers=member.headers)
            assert refused.status_code == 403
            assert refused.json()["code"] == "plan_required"
            me = await client.get(f"{API}/auth/me", headers=member.headers)
            grant = await client.put(
                f"{API}/admin/users/{me.json()['id']}/plan",
                json={"plan": "pro"},
                headers=admin.headers,
            )
            assert grant.status_code == 200
            assert (await client.get(f"{API}/reports", headers=member.headers)).status_code == 200
            plan = f"{API}/admin/users/{me.json()['id']}/plan"
            revoked = await client.delete(plan, headers=admin.headers)
            assert (await client.get(f"{API}/reports", headers=member.headers)).status_code == 403
            again = await client.delete(plan, headers=admin.headers)  # no plan: nothing changes
            assert again.json() == revoked.json()
            assert (await audit_actions(core)).count("admin_plan_revoked") == 1
            assert (await client.get(f"{API}/reports", headers=admin.headers)).status_code == 200
            assert (await client.get(f"{API}/reports")).status_code == 401


async def test_a_reset_token_never_reaches_a_url_or_the_request_log(
    client: httpx.AsyncClient, mailbox: Mailbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by QA: ``/password-resets/{token}`` put live tokens into every proxy's access
    log and into problem bodies' ``instance``. The token now travels in bodies; a client of
    the old routes still gets its token masked in our log (and a 404)."""
    await signed_up(client, mailbox, "logged@example.org")
    await client.post(f"{API}/password-resets", json={"email": "logged@example.org"})
    token = await mailbox.token("logged@example.org", "password_reset")
    capsys.readouterr()
    checked = await client.post(f"{API}/password-resets/check", json={"token": token})
    assert checked.status_code == 200
    dead = await client.post(f"{API}/password-resets/check", json={"token": "not-a-real-token"})
    assert dead.status_code == 422
    assert "not-a-real-token" not in dead.text
    old_route = await client.patch(f"{API}/password-resets/{token}", json={"password": "x"})
    assert old_route.status_code in (404, 405)
    assert token not in old_route.text
    server_lines = [
        line for line in capsys.readouterr().out.splitlines() if '"logger":"httpx"' not in line
    ]  # the test's own HTTP client logs its URLs; the server's lines are what matters
    logged = "\n".join(server_lines)
    assert token not in logged
    assert "not-a-real-token" not in logged
    assert logged.count('"path":"/api/v1/password-resets/check"') == 2
    assert logged.count('"path":"/api/v1/password-resets/{token}"') == 1
