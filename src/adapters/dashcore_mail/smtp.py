"""Sending through an SMTP server with aiosmtplib (one connection per message)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from enum import StrEnum

import aiosmtplib

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.mail import MailMessage, MailRejected
from dashcore.ports.mail import MAIL, Mailer

__all__ = ["SmtpMailer", "SmtpSecurity", "SmtpSettings", "build_email"]


class SmtpSecurity(StrEnum):
    NONE = "none"
    """Plain text: only for a relay on the same host or a test server."""
    STARTTLS = "starttls"
    """Connect in plain text, then upgrade (usually port 587). The upgrade is required."""
    TLS = "tls"
    """TLS from the first byte (usually port 465)."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    """Trust for the server's certificate; ``None`` means the system's CA store."""


def build_email(message: MailMessage, sender: str) -> EmailMessage:
    """The MIME message: text, plus an HTML alternative when there is one."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    email["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    email.set_content(message.text)
    if message.html is not None:
        email.add_alternative(message.html, subtype="html")
    return email


class SmtpMailer(Mailer):
    """Maps the server's answers onto the ``Mailer`` contract:

    - a 5xx refusal of the recipient or of the message content → ``MailRejected`` (retrying
      cannot help);
    - everything else — no connection, timeout, TLS failure, 4xx "try later", and refusals that
      are our configuration's fault (authentication, sender) → ``DependencyUnavailable``, so the
      outbox keeps the message until the server or the configuration is fixed.
    """

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def send(self, message: MailMessage) -> None:
        settings = self._settings
        try:
            await aiosmtplib.send(
                build_email(message, settings.sender),
                sender=settings.sender,
                recipients=[message.to],
                hostname=settings.host,
                port=settings.port,
                username=settings.username,
                password=settings.password,
                timeout=settings.timeout,
                use_tls=settings.security is SmtpSecurity.TLS,
                start_tls=settings.security is SmtpSecurity.STARTTLS,
                tls_context=settings.tls_context,
            )
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            raise _refusal(exc.code, exc.message) from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code, text = (refused.code, refused.message) if refused else (451, "refused")
            raise _refusal(code, text) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise _unavailable(f"SMTP {exc.code}: {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise _unavailable(f"SMTP: {type(exc).__name__}") from exc


def _refusal(code: int, text: str) -> Exception:
    if 500 <= code < 600:
        return MailRejected(f"SMTP {code}: {text}")
    return _unavailable(f"SMTP {code}: {text}")


def _unavailable(detail: str) -> DependencyUnavailable:
    return DependencyUnavailable(detail, dependency=MAIL, retry_after=None)
