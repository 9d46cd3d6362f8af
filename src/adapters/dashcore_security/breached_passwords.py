"""Breached-password counts from the Pwned Passwords range API (security.md PW-3, ASVS4 2.1.7).

k-anonymity: the service gets only the first 5 hex characters of the password's SHA-1
(``GET <base>/range/ABCDE``) and answers with every suffix it knows under that prefix, one
``SUFFIX:COUNT`` line each; the match is made here. ``Add-Padding: true`` asks it to pad the
answer with made-up suffixes of count 0, so that the size of the answer does not tell the
prefix either; those lines are ignored.

One call, no retry: at most ``timeout`` seconds (2) in all, connecting included, because a
person is waiting for their registration. A missed deadline, a transport error, any status but
200, an answer over :data:`MAX_ANSWER_BYTES` or a line that is not ``SUFFIX:COUNT`` is ``None``
(the service could not tell), logged as ``breached_password_check_failed`` with the reason only:
never the password, the hash, the prefix or the URL that holds it.

The suffix is looked up plainly in the parsed answer, not compared in constant time: the
answer is the same list anyone asking for this prefix gets, and the suffix belongs to a
password the caller has just sent us, so a timing difference has nothing to give away.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Final

import httpx
import structlog

from dashcore import __version__
from dashcore.ports.passwords import BreachedPasswords

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "HibpBreachedPasswords",
    "NoBreachCheck",
]

DEFAULT_TIMEOUT: Final = 2.0
MAX_ANSWER_BYTES: Final = 1024 * 1024
"""A padded answer is 30-40 KB; anything much larger is not the range API."""

_PREFIX_LENGTH: Final = 5
_LINE: Final = re.compile(r"([0-9A-F]{35}):([0-9]{1,12})")
_log = structlog.get_logger("dashcore_security.breached_passwords")


class _Unreadable(Exception):
    """The answer is not a range-API answer; ``reason`` says how."""

    def __init__(self, reason: str, **details: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class HibpBreachedPasswords(BreachedPasswords):
    """Asks the Pwned Passwords range API at ``base_url`` (the public service is
    ``https://api.pwnedpasswords.com``)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not timeout > 0:
            raise ValueError("the breach check needs a positive timeout")
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={
                "User-Agent": f"dashcore/{__version__} (breached-password check)",
                "Add-Padding": "true",
            },
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            # Proxies come from the settings, never from ambient environment variables.
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"HibpBreachedPasswords(base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def times_seen(self, password: str) -> int | None:
        digest = hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()
        prefix, suffix = digest[:_PREFIX_LENGTH], digest[_PREFIX_LENGTH:]
        try:
            async with asyncio.timeout(self._timeout):
                counts = await self._range(prefix)
        except TimeoutError:
            _failed("timeout", timeout_seconds=self._timeout)
        except httpx.HTTPError as exc:
            # Only the class: an httpx error's text carries the URL, and the URL the prefix.
            _failed("unreachable", error=type(exc).__name__)
        except _Unreadable as exc:
            _failed(exc.reason, **exc.details)
        else:
            return counts.get(suffix, 0)
        return None

    async def _range(self, prefix: str) -> dict[str, int]:
        async with self._client.stream("GET", f"/range/{prefix}") as response:
            if response.status_code != httpx.codes.OK:
                raise _Unreadable("status", status=response.status_code)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise _Unreadable("too_large")
        return _parse(bytes(body))


def _parse(body: bytes) -> dict[str, int]:
    """``SUFFIX:COUNT`` lines to counts; padding (count 0) left out. Every line must parse."""
    try:
        lines = body.decode("ascii").splitlines()
    except UnicodeDecodeError:
        raise _Unreadable("malformed") from None
    if not lines:
        raise _Unreadable("malformed")
    counts: dict[str, int] = {}
    for line in lines:
        match = _LINE.fullmatch(line.strip().upper())
        if match is None:
            raise _Unreadable("malformed")
        count = int(match.group(2))
        if count:
            counts[match.group(1)] = count
    return counts


def _failed(reason: str, **details: object) -> None:
    _log.warning("breached_password_check_failed", reason=reason, **details)


class NoBreachCheck(BreachedPasswords):
    """The check turned off (``DASHCORE_BREACHED_PASSWORDS_URL=off``, or unset outside
    production): nothing is sent and every password counts as never seen. Off is a choice
    made in the configuration, not an outage, so nothing is audited per password."""

    async def times_seen(self, password: str) -> int | None:
        return 0
