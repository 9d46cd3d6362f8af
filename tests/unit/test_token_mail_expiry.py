"""Every mail carrying a link token or a code expires with it (security.md RESET-1, REG-1,
OTP-1, and "Email provider down": expired mails are dropped, not sent late); security
notifications carry no secret and never expire (NOTIF-1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashcore.application.profile import ChangeEmail
from dashcore.application.registration import Registration
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose
from dashcore_memory.users import MemoryUserRepository
from tests.unit.identity_world import CALLER, PASSWORD, World


@pytest.fixture
def world() -> World:
    return World.create()


def test_the_lifetimes_are_those_of_the_security_requirements(world: World) -> None:
    assert TokenPurpose.PASSWORD_RESET.default_ttl == timedelta(minutes=30)  # RESET-1
    assert TokenPurpose.VERIFY_EMAIL.default_ttl == timedelta(hours=1)  # REG-1
    assert TokenPurpose.CHANGE_EMAIL.default_ttl == timedelta(hours=1)
    assert world.challenge_policy.ttl == timedelta(minutes=5)  # OTP-1


async def test_the_reset_mail_expires_with_its_token(world: World) -> None:
    user = await world.add_user("mike@example.org")
    sent_at = world.clock.now()
    await world.request_reset(world.uow())(user.email, CALLER)
    [mail] = world.mails("password_reset")
    assert mail.expires_at == sent_at + TokenPurpose.PASSWORD_RESET.default_ttl


async def test_the_registration_mail_expires_with_its_verification_token(world: World) -> None:
    registered_at = world.clock.now()
    await world.register(world.uow())(Registration("ada@example.org", PASSWORD), CALLER)
    [mail] = world.mails("verification")
    assert mail.expires_at == registered_at + TokenPurpose.VERIFY_EMAIL.default_ttl


async def test_a_resent_verification_mail_expires_with_its_new_token(world: World) -> None:
    user = await world.add_user("ada@example.org", verified=False)
    world.clock.advance(minutes=50)
    resent_at = world.clock.now()
    await world.resend_verification(world.uow())(user.email, CALLER)
    [mail] = world.mails("verification")
    assert mail.expires_at == resent_at + TokenPurpose.VERIFY_EMAIL.default_ttl


async def test_the_email_change_mail_expires_with_its_token(world: World) -> None:
    user = await world.add_user("ada@example.org")
    uow = world.uow()
    change = ChangeEmail(
        MemoryUserRepository(uow),
        world.email_tokens(uow),
        world.current_password(uow),
        world.notifications(uow),
        world.audit(uow),
        uow,
        world.clock,
    )
    requested_at = world.clock.now()
    await change(user.id, new_email="ada@example.net", current_password=PASSWORD, caller=CALLER)
    [mail] = world.mails("confirm_new_email")
    assert mail.recipient == Email("ada@example.net").value
    assert mail.expires_at == requested_at + TokenPurpose.CHANGE_EMAIL.default_ttl


async def test_the_sign_in_code_mail_expires_with_its_challenge(world: World) -> None:
    await world.add_user("mike@example.org")
    sent_at = world.clock.now()
    await world.request_login_code(world.uow())("mike@example.org", CALLER)
    [mail] = world.mails("login_code")
    assert mail.expires_at == sent_at + world.challenge_policy.ttl


async def test_a_security_notification_never_expires(world: World) -> None:
    user = await world.add_user("mike@example.org")
    await world.change_password(world.uow())(
        user.id,
        "S" * 22,
        current_password=PASSWORD,
        new_password="a brand new passphrase of mine",
        caller=CALLER,
    )
    [mail] = world.mails("password_changed")
    assert mail.expires_at is None
