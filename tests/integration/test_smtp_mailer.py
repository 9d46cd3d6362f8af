"""The SMTP mailer against a real SMTP server (aiosmtpd) on loopback: plain, STARTTLS and TLS,
refusals mapped onto the Mailer contract, and the outbox riding out an outage."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dashcore.application.outbox import DeliverOutbox, DeliveryReport, MailQueue
from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.mail import MailBody, MailMessage, MailRejected, OutboxStatus
from dashcore.testing import FakeClock, SequentialIds
from dashcore_mail.smtp import SmtpMailer, SmtpSecurity, SmtpSettings
from dashcore_memory.outbox import MemoryOutbox
from dashcore_memory.store import MemoryDatabase, MemoryUnitOfWork
from dashcore_security import AesGcmVault, KeyRing

SENDER = "dashcore <no-reply@dashcore.test>"
T0 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
LINK = "https://app.dashcore.test/verify-email#token=abcdefghijklmnopqrstuvwxyz012345"


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives, or answers with a canned refusal."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    refuse_rcpt: str | None = None
    refuse_data: str | None = None

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.refuse_data:
            return self.refuse_data
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file)."""
    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@contextmanager
def running(inbox: Inbox, port: int, **kwargs: Any) -> Iterator[Controller]:
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def plain_server(inbox: Inbox) -> Iterator[int]:
    port = free_port()
    with running(inbox, port):
        yield port


def mailer(port: int, **kwargs: Any) -> SmtpMailer:
    settings = {"security": SmtpSecurity.NONE, "timeout": 5.0, **kwargs}
    return SmtpMailer(SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, **settings))


def message(to: str = "mike@example.org", html: str | None = None) -> MailMessage:
    body = MailBody(f"Confirm your address:\n{LINK}\n", html)
    return MailMessage(to, "Confirm your email address", body, "verification", T0)


async def test_a_message_arrives_with_its_headers_and_link(inbox: Inbox, plain_server: int) -> None:
    await mailer(plain_server).send(message(html=f"<a href='{LINK}'>Confirm</a>"))
    [(mail_from, rcpt_tos, received)] = inbox.messages
    assert mail_from == "no-reply@dashcore.test"
    assert rcpt_tos == ["mike@example.org"]
    assert received["To"] == "mike@example.org"
    assert received["From"] == SENDER
    assert received["Subject"] == "Confirm your email address"
    assert received["Date"] == "Thu, 01 Jan 2026 09:00:00 +0000"
    assert received["Message-ID"].endswith("@dashcore.test>")
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text is not None and LINK in text.get_content()
    assert html is not None and LINK in html.get_content()


async def test_a_refused_recipient_is_rejected_for_good(inbox: Inbox, plain_server: int) -> None:
    inbox.refuse_rcpt = "550 5.1.1 No such user"
    with pytest.raises(MailRejected, match="550"):
        await mailer(plain_server).send(message())


async def test_refused_content_is_rejected_for_good(inbox: Inbox, plain_server: int) -> None:
    inbox.refuse_data = "554 5.7.1 Message rejected as spam"
    with pytest.raises(MailRejected, match="554"):
        await mailer(plain_server).send(message())


@pytest.mark.parametrize("answer", ["451 4.3.0 Try again later", "452 4.2.2 Mailbox full"])
async def test_a_temporary_refusal_is_an_outage(
    inbox: Inbox, plain_server: int, answer: str
) -> None:
    inbox.refuse_rcpt = answer
    with pytest.raises(DependencyUnavailable) as raised:
        await mailer(plain_server).send(message())
    assert raised.value.dependency == "mail"


async def test_no_server_is_an_outage() -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        await mailer(free_port()).send(message())
    assert raised.value.dependency == "mail"


async def test_starttls_upgrades_before_sending(
    inbox: Inbox, certificate: tuple[Path, Path]
) -> None:
    port = free_port()
    with running(inbox, port, tls_context=server_context(certificate), require_starttls=True):
        smtp = mailer(port, security=SmtpSecurity.STARTTLS, tls_context=client_context(certificate))
        await smtp.send(message())
    assert len(inbox.messages) == 1


async def test_starttls_refuses_a_certificate_it_does_not_trust(
    inbox: Inbox, certificate: tuple[Path, Path]
) -> None:
    port = free_port()
    with (
        running(inbox, port, tls_context=server_context(certificate)),
        pytest.raises(DependencyUnavailable),
    ):
        await mailer(port, security=SmtpSecurity.STARTTLS).send(message())
    assert inbox.messages == []


async def test_starttls_is_required_never_skipped(inbox: Inbox, plain_server: int) -> None:
    with pytest.raises(DependencyUnavailable):
        await mailer(plain_server, security=SmtpSecurity.STARTTLS).send(message())
    assert inbox.messages == []


async def test_implicit_tls(inbox: Inbox, certificate: tuple[Path, Path]) -> None:
    port = free_port()
    with running(inbox, port, ssl_context=server_context(certificate)):
        smtp = mailer(port, security=SmtpSecurity.TLS, tls_context=client_context(certificate))
        await smtp.send(message())
    assert len(inbox.messages) == 1


def test_the_password_stays_out_of_reprs() -> None:
    settings = SmtpSettings("smtp.test", 587, SENDER, username="u", password="hunter2-secret")
    assert "hunter2" not in repr(settings)


async def test_the_outbox_rides_out_an_outage_and_loses_nothing(inbox: Inbox) -> None:
    database, clock, vault = MemoryDatabase(), FakeClock(T0), AesGcmVault(KeyRing.generate())
    ids = SequentialIds()
    port = free_port()

    async def enqueue(count: int) -> None:
        uow = MemoryUnitOfWork(database)
        queue = MailQueue(MemoryOutbox(uow), vault, ids)
        for n in range(count):
            await queue.add(message(to=f"user{n}@example.org"))
        await uow.commit()

    async def deliver() -> DeliveryReport:
        uow = MemoryUnitOfWork(database)
        use_case = DeliverOutbox(
            uow, MemoryOutbox(uow), mailer(port), vault, clock, random=lambda: 0.0
        )
        return await use_case()

    await enqueue(3)
    # the server is down: the first message is retried later, the other two are put back
    assert await deliver() == DeliveryReport(claimed=3, retrying=1, released=2)
    counts = await MemoryOutbox(MemoryUnitOfWork(database)).counts()
    assert (counts[OutboxStatus.FAILED], counts[OutboxStatus.PENDING]) == (1, 2)
    with running(inbox, port):
        assert await deliver() == DeliveryReport(claimed=2, sent=2)
        assert await deliver() == DeliveryReport()  # the first is not due yet
        clock.advance(seconds=15)
        assert await deliver() == DeliveryReport(claimed=1, sent=1)
    assert sorted(rcpt for _, [rcpt], _ in inbox.messages) == [
        "user0@example.org",
        "user1@example.org",
        "user2@example.org",
    ]
    counts = await MemoryOutbox(MemoryUnitOfWork(database)).counts()
    assert counts[OutboxStatus.SENT] == 3
