"""Notification templates: recipient, links from the configured base, no stray secrets."""

from __future__ import annotations

import io
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from dashcore.application.notifications import Notifications
from dashcore.application.outbox import DeliverOutbox, MailQueue
from dashcore.domain.email import Email
from dashcore.domain.errors import DecryptionFailed, InvalidInput
from dashcore.domain.mail import MailBody, OutboxEntry, OutboxStatus
from dashcore.testing import FakeClock, SequentialIds
from dashcore_mail.console import BEGIN, END, ConsoleMailer
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.store import MemoryDatabase, MemoryUnitOfWork
from dashcore_security import AesGcmVault, KeyRing

BASE = "https://app.dashcore.test"
SECURITY_LINK = f"{BASE}/account/security"
TOKEN = "Tk3n_abcdefghijklmnopqrstuvwxyz0123456789-AB"
CODE = "048213"
AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
UNTIL = AT + timedelta(minutes=30)
MIKE = Email("mike@example.org")
NEW = Email("mike.new@example.net")
VAULT = AesGcmVault(KeyRing.generate())
# Anything that looks like a token: long URL-safe runs, or six digits in a row.
SECRET_LIKE = re.compile(r"[A-Za-z0-9_-]{24,}|(?<![0-9])[0-9]{6}(?![0-9])")


class Sent:
    """What one notification put in the outbox, opened."""

    def __init__(self, uow: MemoryUnitOfWork, entry: OutboxEntry) -> None:
        assert entry.body is not None
        self.entry = entry
        self.body = MailBody.decode(VAULT.open(entry.body, entry.context))
        self.uow = uow


def notifications(uow: MemoryUnitOfWork, base: str = BASE) -> Notifications:
    queue = MailQueue(MemoryOutbox(uow), VAULT, SequentialIds())
    return Notifications(queue, FakeClock(AT), base)


async def notify(call: Callable[[Notifications], Awaitable[OutboxEntry]]) -> Sent:
    uow = MemoryUnitOfWork(MemoryDatabase())
    entry = await call(notifications(uow))
    await uow.commit()
    return Sent(uow, entry)


TEMPLATES: dict[str, tuple[Callable[[Notifications], Awaitable[OutboxEntry]], Email]] = {
    "verification": (lambda n: n.verification(MIKE, TOKEN, expires_at=UNTIL), MIKE),
    "confirm_new_email": (lambda n: n.confirm_new_email(NEW, TOKEN, expires_at=UNTIL), NEW),
    "already_registered": (lambda n: n.already_registered(MIKE), MIKE),
    "password_reset": (lambda n: n.password_reset(MIKE, TOKEN, expires_at=UNTIL), MIKE),
    "login_code": (lambda n: n.login_code(MIKE, CODE, expires_at=UNTIL), MIKE),
    "new_device_login": (
        lambda n: n.new_device_login(MIKE, at=AT, device="Firefox on Linux", ip="203.0.113.9"),
        MIKE,
    ),
    "password_changed": (lambda n: n.password_changed(MIKE, at=AT), MIKE),
    "email_changed": (lambda n: n.email_changed(MIKE, NEW, at=AT), MIKE),
    "refresh_token_reuse": (lambda n: n.refresh_token_reuse(MIKE, at=AT), MIKE),
    "recovery_codes_replaced": (lambda n: n.recovery_codes_replaced(MIKE, at=AT), MIKE),
    "account_disabled": (lambda n: n.account_disabled(MIKE, at=AT), MIKE),
}


@pytest.mark.parametrize("template", TEMPLATES)
async def test_each_template_is_one_pending_entry_to_the_stored_address(template: str) -> None:
    call, recipient = TEMPLATES[template]
    sent = await notify(call)
    assert sent.entry.template == template
    assert sent.entry.recipient == recipient.value
    assert sent.entry.status is OutboxStatus.PENDING
    assert sent.entry.created_at == AT
    counts = await MemoryOutbox(sent.uow).counts()
    assert counts[OutboxStatus.PENDING] == 1


@pytest.mark.parametrize("template", TEMPLATES)
async def test_a_mail_with_a_link_or_code_expires_with_it_and_a_notification_never(
    template: str,
) -> None:
    sent = await notify(TEMPLATES[template][0])
    carries_a_secret = template in (
        "verification",
        "confirm_new_email",
        "password_reset",
        "login_code",
    )
    assert sent.entry.expires_at == (UNTIL if carries_a_secret else None)


@pytest.mark.parametrize("template", TEMPLATES)
async def test_each_template_says_where_to_go_if_it_was_not_you(template: str) -> None:
    sent = await notify(TEMPLATES[template][0])
    assert "If this wasn't you" in sent.body.text
    assert SECURITY_LINK in sent.body.text


@pytest.mark.parametrize("template", TEMPLATES)
async def test_every_link_starts_with_the_configured_base(template: str) -> None:
    sent = await notify(TEMPLATES[template][0])
    links = re.findall(r"https?://\S+", sent.body.text)
    assert links
    assert all(link.startswith(f"{BASE}/") for link in links)


@pytest.mark.parametrize("template", TEMPLATES)
async def test_the_body_has_no_secret_besides_its_one_link_or_code(template: str) -> None:
    sent = await notify(TEMPLATES[template][0])
    found = SECRET_LIKE.findall(sent.body.text)
    expected = {
        "verification": [TOKEN],
        "confirm_new_email": [TOKEN],
        "password_reset": [TOKEN],
        "login_code": [CODE],
    }
    assert found == expected.get(template, [])


@pytest.mark.parametrize("template", TEMPLATES)
async def test_subjects_and_stored_metadata_carry_no_secret(template: str) -> None:
    sent = await notify(TEMPLATES[template][0])
    visible = f"{sent.entry.subject} {sent.entry.template} {sent.entry!r}"
    assert TOKEN not in visible and CODE not in visible
    assert TOKEN.encode() not in (sent.entry.body or b"")


async def test_the_reuse_warning_says_that_one_session_was_ended() -> None:
    sent = await notify(TEMPLATES["refresh_token_reuse"][0])
    assert "we ended that session" in sent.body.text
    assert "Your other sessions were not touched." in sent.body.text


async def test_links_carry_the_token_in_the_fragment_never_the_query() -> None:
    verification = await notify(lambda n: n.verification(MIKE, TOKEN, expires_at=UNTIL))
    reset = await notify(lambda n: n.password_reset(MIKE, TOKEN, expires_at=UNTIL))
    assert f"{BASE}/verify-email#token={TOKEN}" in verification.body.text
    assert f"{BASE}/reset-password#token={TOKEN}" in reset.body.text
    assert "?" not in verification.body.text + reset.body.text


async def test_the_email_change_goes_to_the_old_address_and_masks_the_new_one() -> None:
    sent = await notify(lambda n: n.email_changed(MIKE, NEW, at=AT))
    assert sent.entry.recipient == "mike@example.org"
    assert "m***@example.net" in sent.body.text
    assert NEW.value not in sent.body.text


async def test_request_text_is_flattened_to_one_bounded_line() -> None:
    hostile = "Evil\r\nSubject: phish\r\n\r\nClick https://evil.test " + "A" * 500
    sent = await notify(lambda n: n.new_device_login(MIKE, at=AT, device=hostile, ip=None))
    device_line = next(line for line in sent.body.text.splitlines() if line.startswith("Device:"))
    assert "\r" not in sent.body.text
    assert "Subject: phish" in device_line
    assert len(device_line) <= len("Device: ") + 120
    assert "IP address: unknown" in sent.body.text


@pytest.mark.parametrize(
    "hostile",
    [
        "https://app.dashcore.test@evil.test/x",
        "https://evil.test/#",
        "evil.test/path",
        "../../x",
        "ok\r\nBcc: x@evil.test",
        "ok/../../evil",
        "",
    ],
)
async def test_a_hostile_token_cannot_bend_the_link(hostile: str) -> None:
    with pytest.raises(InvalidInput):
        await notify(lambda n: n.password_reset(MIKE, hostile, expires_at=UNTIL))


@pytest.mark.parametrize("code", ["12345", "1234567", "１２３４５６", "١٢٣٤٥٦", "12345 ", "abcdef"])
async def test_a_login_code_is_six_ascii_digits(code: str) -> None:
    with pytest.raises(InvalidInput):
        await notify(lambda n: n.login_code(MIKE, code, expires_at=UNTIL))


@pytest.mark.parametrize(
    "base",
    [
        "app.dashcore.test",
        "ftp://app.dashcore.test",
        "https://user:pw@app.dashcore.test",
        "https://app.dashcore.test/?next=evil",
        "https://app.dashcore.test/#frag",
        "https://app.dashcore.test\r\nHost: evil.test",
        "https://",
    ],
)
def test_the_base_url_must_be_a_plain_absolute_http_url(base: str) -> None:
    with pytest.raises(ValueError, match="public base URL"):
        notifications(MemoryUnitOfWork(MemoryDatabase()), base)


async def test_a_base_with_a_path_and_trailing_slash_gives_clean_links() -> None:
    uow = MemoryUnitOfWork(MemoryDatabase())
    service = notifications(uow, "https://example.org/app/")
    assert service.link("/account/security") == "https://example.org/app/account/security"


async def test_the_sealed_body_opens_only_in_its_own_row() -> None:
    sent = await notify(lambda n: n.password_reset(MIKE, TOKEN, expires_at=UNTIL))
    assert sent.entry.body is not None
    other = OutboxEntry.context_for(SequentialIds(99).new_id())
    with pytest.raises(DecryptionFailed):
        VAULT.open(sent.entry.body, other)


async def test_nothing_is_queued_unless_the_caller_commits() -> None:
    database = MemoryDatabase()
    uow = MemoryUnitOfWork(database)
    await notifications(uow).password_changed(MIKE, at=AT)
    await uow.rollback()
    counts = await MemoryOutbox(MemoryUnitOfWork(database)).counts()
    assert sum(counts.values()) == 0


async def test_in_development_the_console_shows_a_link_to_copy() -> None:
    database, stream = MemoryDatabase(), io.StringIO()
    uow = MemoryUnitOfWork(database)
    await notifications(uow).verification(MIKE, TOKEN, expires_at=UNTIL)
    await uow.commit()
    deliver = DeliverOutbox(
        uow,
        MemoryOutbox(uow),
        ConsoleMailer("no-reply@dashcore.test", stream),
        VAULT,
        FakeClock(AT),
    )
    assert (await deliver()).sent == 1
    printed = stream.getvalue()
    block = printed[printed.index(BEGIN) + len(BEGIN) : printed.index(END)]
    assert "To: mike@example.org" in block
    links = [line for line in block.splitlines() if line.startswith(BASE)]
    assert links == [f"{BASE}/verify-email#token={TOKEN}"]
