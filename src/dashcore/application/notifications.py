"""The mail dashcore sends to people, composed from plain-text templates and put in the outbox.

Rules (security.md NOTIF-1, ENUM-1, REG-2):
- mail goes to the address stored for the account (an ``Email`` the caller loaded), never to
  one typed into a form; an email change is announced to the OLD address;
- links are built from the configured public base URL, never from a request's ``Host``;
  tokens travel in the URL fragment (``#token=…``), which browsers do not send to servers or in
  ``Referer``, so they stay out of access logs;
- a body carries no secret but its one link or code; text from a request (a user agent) is
  flattened to one bounded line;
- every message ends with a "this wasn't me" line pointing to ``<base>/account/security``
  (revoke every session and reset the password);
- a message carrying a link token or code expires when that secret does (``expires_at``, the
  instant the caller's token or challenge stops working): the outbox never sends it later.
  Notifications carry no secret and never expire.

Every method works in the caller's unit of work and never commits.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from urllib.parse import urlsplit

from dashcore.application.outbox import MailQueue
from dashcore.domain.email import Email
from dashcore.domain.errors import InvalidInput
from dashcore.domain.mail import MailBody, MailMessage, OutboxEntry
from dashcore.domain.time import ensure_utc
from dashcore.ports.clock import Clock

__all__ = ["Notifications"]

_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,256}")
_CODE = re.compile(r"[0-9]{6}")
_MAX_DETAIL = 120

SECURITY_PATH = "/account/security"


def _base_url(url: str) -> str:
    """The public base URL, validated: absolute http(s), no credentials, query or fragment."""
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or any(unicodedata.category(char)[0] in "CZ" for char in url)
    ):
        raise ValueError("the public base URL must be an absolute http(s) URL like https://x.org")
    return url.rstrip("/")


def _token(token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise InvalidInput("A link token must be URL-safe base64.", field="token")
    return token


def _detail(text: str | None) -> str:
    """Request-supplied text (a user agent) as one printable, bounded line."""
    if not text:
        return "unknown"
    flat = "".join(char if char.isprintable() else " " for char in text)
    flat = " ".join(flat.split())
    return (flat[: _MAX_DETAIL - 1] + "…") if len(flat) > _MAX_DETAIL else flat or "unknown"


def _when(at: datetime) -> str:
    return ensure_utc(at, field="at").strftime("%Y-%m-%d %H:%M UTC")


def _masked(address: Email) -> str:
    """``mike@example.org`` → ``m***@example.org``: recognisable, not a full disclosure."""
    local, _, domain = address.value.rpartition("@")
    return f"{local[:1]}***@{domain}"


class Notifications:
    """Composes and enqueues each kind of mail; returns the outbox entry."""

    def __init__(self, queue: MailQueue, clock: Clock, public_base_url: str) -> None:
        self._queue = queue
        self._clock = clock
        self._base = _base_url(public_base_url)

    def link(self, path: str, token: str | None = None) -> str:
        """An absolute link under the public base URL; a token goes in the fragment."""
        fragment = "" if token is None else f"#token={_token(token)}"
        return f"{self._base}{path}{fragment}"

    async def verification(self, to: Email, token: str, *, expires_at: datetime) -> OutboxEntry:
        link = self.link("/verify-email", token)
        return await self._send(
            to,
            "verification",
            "Confirm your email address",
            "Welcome to dashcore.",
            "",
            "Open this link within an hour and enter the password you chose to confirm your",
            "email address:",
            link,
            "",
            "If the password you chose is not accepted, someone signed up with this address",
            "after you: sign up again to set your password and get a new link.",
            expires_at=expires_at,
        )

    async def confirm_new_email(
        self, to: Email, token: str, *, expires_at: datetime
    ) -> OutboxEntry:
        """To the address an account asked to move to: its link completes the change (at
        ``/verify-email``, which needs no password for it). Found by QA: the change sent the
        sign-up mail ("Welcome", "enter the password you chose")."""
        link = self.link("/verify-email", token)
        return await self._send(
            to,
            "confirm_new_email",
            "Confirm your new email address",
            "Someone, hopefully you, asked to make this the email address of a dashcore account.",
            "",
            "Open this link within an hour to confirm it:",
            link,
            "",
            "Until then the account keeps its old address. If you did not ask for this, ignore",
            "this mail: nothing changes.",
            expires_at=expires_at,
        )

    async def already_registered(self, to: Email) -> OutboxEntry:
        """Sent instead of creating a second account for a registered address (ENUM-1)."""
        return await self._send(
            to,
            "already_registered",
            "You already have a dashcore account",
            "Someone, hopefully you, tried to create a dashcore account with this address.",
            "You already have an account, so nothing was changed.",
            "",
            f"Sign in: {self.link('/login')}",
            f"Forgot your password? {self.link('/forgot-password')}",
        )

    async def password_reset(self, to: Email, token: str, *, expires_at: datetime) -> OutboxEntry:
        link = self.link("/reset-password", token)
        return await self._send(
            to,
            "password_reset",
            "Reset your dashcore password",
            "We received a request to reset your password.",
            "",
            "Open this link within 30 minutes to choose a new password:",
            link,
            "",
            "If you did not ask for this, ignore this message: your password stays as it is.",
            expires_at=expires_at,
        )

    async def login_code(self, to: Email, code: str, *, expires_at: datetime) -> OutboxEntry:
        if not _CODE.fullmatch(code):
            raise InvalidInput("A login code is six ASCII digits.", field="code")
        return await self._send(
            to,
            "login_code",
            "Your dashcore sign-in code",
            f"Your sign-in code is {code}",
            "",
            "It expires in 5 minutes and works once. Never share it with anyone.",
            expires_at=expires_at,
        )

    async def new_device_login(
        self, to: Email, *, at: datetime, device: str | None, ip: str | None
    ) -> OutboxEntry:
        return await self._send(
            to,
            "new_device_login",
            "New sign-in to your dashcore account",
            f"Your account was signed in to from a new device on {_when(at)}.",
            "",
            f"Device: {_detail(device)}",
            f"IP address: {_detail(ip)}",
        )

    async def password_changed(self, to: Email, *, at: datetime) -> OutboxEntry:
        return await self._send(
            to,
            "password_changed",
            "Your dashcore password was changed",
            f"The password of your account was changed on {_when(at)}.",
        )

    async def email_changed(self, old: Email, new: Email, *, at: datetime) -> OutboxEntry:
        """Sent to the OLD address, so the owner hears of a takeover that changed it."""
        return await self._send(
            old,
            "email_changed",
            "The email address of your dashcore account was changed",
            f"On {_when(at)} the email address of your account was changed to {_masked(new)}.",
            "From now on we write to the new address only.",
        )

    async def refresh_token_reuse(self, to: Email, *, at: datetime) -> OutboxEntry:
        """Sent when an old refresh token of a session comes back (RT-1): that session, and
        only that one, has been ended; the mail says so and what to do."""
        return await self._send(
            to,
            "refresh_token_reuse",
            "We signed you out of one of your dashcore sessions",
            f"On {_when(at)} an old sign-in token of one of your sessions was used again. This",
            "can mean that it was stolen, so we ended that session: sign in there again to go",
            "on. Your other sessions were not touched.",
        )

    async def account_disabled(self, to: Email, *, at: datetime) -> OutboxEntry:
        return await self._send(
            to,
            "account_disabled",
            "Your dashcore account was disabled",
            f"Your account was disabled on {_when(at)}. You can no longer sign in.",
        )

    async def totp_enabled(self, to: Email, *, at: datetime) -> OutboxEntry:
        return await self._send(
            to,
            "totp_enabled",
            "Two-step sign-in is on for your dashcore account",
            f"On {_when(at)} an authenticator app was set up as the second step of your sign-in.",
            "Keep your recovery codes somewhere safe: they are the way in if the phone is lost.",
        )

    async def totp_disabled(
        self, to: Email, *, at: datetime, by_administrator: bool
    ) -> OutboxEntry:
        who = "an administrator" if by_administrator else "you"
        return await self._send(
            to,
            "totp_disabled",
            "Two-step sign-in is off for your dashcore account",
            f"On {_when(at)} {who} turned off the authenticator app of your account.",
            "Your password alone now signs you in. Turn two-step sign-in on again soon.",
        )

    async def recovery_codes_replaced(self, to: Email, *, at: datetime) -> OutboxEntry:
        return await self._send(
            to,
            "recovery_codes_replaced",
            "New recovery codes for your dashcore account",
            f"On {_when(at)} a new set of recovery codes was made for your account.",
            "The codes you had before no longer work.",
        )

    async def recovery_code_used(self, to: Email, *, at: datetime, remaining: int) -> OutboxEntry:
        return await self._send(
            to,
            "recovery_code_used",
            "A recovery code of your dashcore account was used",
            f"On {_when(at)} one of your recovery codes was used to sign in or confirm an action.",
            f"Unused codes left: {remaining}. You can make a new set in your security settings.",
        )

    async def connection_reauth_due(
        self, to: Email, *, provider: str, connection: str, ends_at: datetime
    ) -> OutboxEntry:
        """Sent before a provider connection's credentials end (``connection`` is the alias
        or the provider's name)."""
        return await self._send(
            to,
            "connection_reauth_due",
            f"Your {provider} connection needs you to log in again",
            f'The connection "{_detail(connection)}" stops working on {_when(ends_at)}.',
            f"Log in to {provider} again before then so your data stays up to date:",
            self.link("/connections"),
        )

    async def connection_added(
        self, to: Email, *, provider: str, connection: str, at: datetime
    ) -> OutboxEntry:
        """Sent when a broker account is connected for the first time (NOTIF-1); a daily
        login again to the same connection is not news."""
        return await self._send(
            to,
            "connection_added",
            f"A {provider} account was connected to your dashcore account",
            f'On {_when(at)} the connection "{_detail(connection)}" was connected to {provider}.',
        )

    async def connection_disconnected(
        self, to: Email, *, provider: str, connection: str, at: datetime
    ) -> OutboxEntry:
        """Sent when a connection is disconnected or removed (NOTIF-1)."""
        return await self._send(
            to,
            "connection_disconnected",
            f"A {provider} account was disconnected from your dashcore account",
            f'On {_when(at)} the connection "{_detail(connection)}" to {provider} was '
            "disconnected: dashcore no longer holds its credentials.",
        )

    async def _send(
        self,
        to: Email,
        template: str,
        subject: str,
        *lines: str,
        expires_at: datetime | None = None,
    ) -> OutboxEntry:
        footer = (
            "",
            "If this wasn't you, secure your account now (sign out everywhere and reset your",
            f"password): {self.link(SECURITY_PATH)}",
            "",
            "— dashcore",
        )
        text = "\n".join((*lines, *footer)) + "\n"
        message = MailMessage(
            to.value, subject, MailBody(text), template, self._clock.now(), expires_at
        )
        return await self._queue.add(message)
