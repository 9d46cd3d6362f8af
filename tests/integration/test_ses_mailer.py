"""The SES mailer against moto's SES server on loopback."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.ses.models import ses_backends

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.mail import MailBody, MailMessage, MailRejected
from dashcore_mail.ses import SesMailer, SesSettings

REGION = "eu-west-1"
SENDER = "no-reply@dashcore.test"
CREDENTIALS = {"access_key_id": "testing", "secret_access_key": "testing-secret"}
LINK = "https://app.dashcore.test/reset-password#token=abcdefghijklmnopqrstuvwxyz012345"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client: Any = boto3.client(
        "sesv2",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=CREDENTIALS["access_key_id"],
        aws_secret_access_key=CREDENTIALS["secret_access_key"],
    )
    client.create_email_identity(EmailIdentity=SENDER)
    try:
        yield url
    finally:
        server.stop()


def mailer(endpoint: str, sender: str = SENDER) -> SesMailer:
    settings = SesSettings(
        region=REGION, sender=sender, endpoint_url=endpoint, timeout=5.0, **CREDENTIALS
    )
    return SesMailer(settings)


def message(subject: str, html: str | None = None) -> MailMessage:
    body = MailBody(f"Reset your password:\n{LINK}\n", html)
    created = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    return MailMessage("mike@example.org", subject, body, "password_reset", created)


def sent_with(subject: str) -> list[Any]:
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [m for m in backend.sent_messages if getattr(m, "subject", None) == subject]


async def test_a_message_reaches_ses(endpoint: str) -> None:
    subject = f"Reset your password {uuid.uuid4().hex[:8]}"
    await mailer(endpoint).send(message(subject))
    [sent] = sent_with(subject)
    assert sent.source == SENDER
    assert sent.destinations == {"ToAddresses": ["mike@example.org"]}
    assert LINK in sent.body


async def test_the_html_version_is_sent_when_there_is_one(endpoint: str) -> None:
    subject = f"Reset {uuid.uuid4().hex[:8]}"
    await mailer(endpoint).send(message(subject, html=f"<a href='{LINK}'>Reset</a>"))
    [sent] = sent_with(subject)
    assert sent.body == f"<a href='{LINK}'>Reset</a>"


async def test_a_message_ses_rejects_is_rejected_for_good(endpoint: str) -> None:
    subject = f"Unverified {uuid.uuid4().hex[:8]}"
    with pytest.raises(MailRejected, match="MessageRejected"):
        await mailer(endpoint, sender="someone@unverified.test").send(message(subject))
    assert sent_with(subject) == []


async def test_an_unreachable_endpoint_is_an_outage() -> None:
    with pytest.raises(DependencyUnavailable) as raised:
        await mailer(f"http://127.0.0.1:{free_port()}").send(message("Nobody listens"))
    assert raised.value.dependency == "mail"


def test_secrets_stay_out_of_reprs() -> None:
    settings = SesSettings(REGION, SENDER, secret_access_key="s3cr3t", session_token="t0k3n")
    assert "s3cr3t" not in repr(settings) and "t0k3n" not in repr(settings)
