"""A mailer that keeps what it is given: for tests and for embedding without mail."""

from __future__ import annotations

from dashcore.domain.errors import DashcoreError
from dashcore.domain.mail import MailMessage
from dashcore.ports.mail import Mailer

__all__ = ["MemoryMailer"]


class MemoryMailer(Mailer):
    """Records accepted messages in ``sent``, oldest first.

    ``fail_next(error, times)`` makes the next ``times`` sends raise ``error`` instead (a
    ``DependencyUnavailable`` to play an outage, a ``MailRejected`` to play a bounce); failed
    sends are not recorded.
    """

    def __init__(self) -> None:
        self.sent: list[MailMessage] = []
        self._failures: list[DashcoreError] = []

    def fail_next(self, error: DashcoreError, times: int = 1) -> None:
        self._failures.extend([error] * times)

    async def send(self, message: MailMessage) -> None:
        if self._failures:
            raise self._failures.pop(0)
        self.sent.append(message)

    def to(self, address: str) -> list[MailMessage]:
        """The messages sent to ``address``."""
        return [message for message in self.sent if message.to == address]
