"""Sending through Amazon SES (API v2) with boto3, off the event loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.mail import MailMessage, MailRejected
from dashcore.ports.mail import MAIL, Mailer

__all__ = ["PERMANENT_ERROR_CODES", "SesMailer", "SesSettings"]

PERMANENT_ERROR_CODES = frozenset({"MessageRejected", "BadRequestException"})
"""SES error codes that refuse this message for good. Every other error (throttling, a paused
or suspended account, an unverified sending domain, no credentials, no network) is the
service's or our configuration's state, so the outbox retries."""


@dataclass(frozen=True, slots=True)
class SesSettings:
    """``access_key_id``/``secret_access_key`` left out: the standard AWS credential chain
    (environment, shared files, instance or task role) is used."""

    region: str
    sender: str
    endpoint_url: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    configuration_set: str | None = None
    timeout: float = 30.0


class SesMailer(Mailer):
    """One boto3 ``sesv2`` client per mailer (clients are thread-safe); each ``send_email``
    runs in a worker thread. botocore retries once; the outbox does the rest."""

    def __init__(self, settings: SesSettings) -> None:
        self._settings = settings
        self._client: Any = boto3.session.Session().client(
            "sesv2",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            aws_session_token=settings.session_token,
            config=Config(
                connect_timeout=settings.timeout,
                read_timeout=settings.timeout,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        )

    async def send(self, message: MailMessage) -> None:
        try:
            await asyncio.to_thread(self._client.send_email, **self._request(message))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
            if code in PERMANENT_ERROR_CODES:
                raise MailRejected(f"SES {code}") from exc
            raise _unavailable(f"SES {code}") from exc
        except (BotoCoreError, OSError) as exc:
            raise _unavailable(f"SES: {type(exc).__name__}") from exc

    def _request(self, message: MailMessage) -> dict[str, Any]:
        body: dict[str, Any] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
        if message.html is not None:
            body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
        request: dict[str, Any] = {
            "FromEmailAddress": self._settings.sender,
            "Destination": {"ToAddresses": [message.to]},
            "Content": {
                "Simple": {"Subject": {"Data": message.subject, "Charset": "UTF-8"}, "Body": body}
            },
        }
        if self._settings.configuration_set:
            request["ConfigurationSetName"] = self._settings.configuration_set
        return request


def _unavailable(detail: str) -> DependencyUnavailable:
    return DependencyUnavailable(detail, dependency=MAIL, retry_after=None)
