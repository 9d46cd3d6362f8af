"""Development mailer: prints each message to the terminal instead of sending it."""

from __future__ import annotations

import sys
from typing import TextIO

from dashcore.domain.mail import MailMessage
from dashcore.ports.mail import Mailer

__all__ = ["BEGIN", "END", "ConsoleMailer"]

BEGIN = "=" * 30 + " dashcore mail " + "=" * 27
END = "=" * 30 + " end of mail " + "=" * 29


class ConsoleMailer(Mailer):
    """Writes the whole message, links included, between the ``BEGIN`` and ``END`` lines, so a
    newcomer (or a test) can copy the verification link. It prints secrets by design:
    production refuses to start with it unless told explicitly."""

    def __init__(self, sender: str, stream: TextIO | None = None) -> None:
        self._sender = sender
        self._stream = stream

    async def send(self, message: MailMessage) -> None:
        block = "\n".join(
            (
                BEGIN,
                f"From: {self._sender}",
                f"To: {message.to}",
                f"Subject: {message.subject}",
                f"Template: {message.template}",
                f"Date: {message.created_at.isoformat()}",
                "",
                message.text.rstrip("\n"),
                END,
                "",
            )
        )
        stream = self._stream or sys.stdout
        stream.write(block)
        stream.flush()
