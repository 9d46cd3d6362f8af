"""Password hashing (security.md PW-1, ENUM-1, DOS-1) and breached passwords (PW-3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["BreachedPasswords", "PasswordCheck", "PasswordHasher"]


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of a verification.

    ``needs_update`` is true only for a *valid* password whose stored hash uses another scheme
    or other parameters than new hashes do: the caller then stores ``hash(password)`` in its
    place (transparent upgrade on login).
    """

    valid: bool
    needs_update: bool


class PasswordHasher(Protocol):
    """One-way password hashes.

    Passwords are taken in their NFKC form (``dashcore.domain.passwords``): an implementation
    applies ``normalise_password`` itself, so it refuses oversized input with ``InvalidInput``
    before any hashing. Hashing runs off the event loop and with bounded concurrency; an
    implementation may refuse work when too many calls are already waiting
    (``DependencyUnavailable``).
    """

    async def hash(self, password: str) -> str:
        """A new salted hash of ``password`` with the current scheme and parameters."""
        ...

    async def verify(self, password: str, stored_hash: str) -> PasswordCheck:
        """Check ``password`` against ``stored_hash``; a wrong password is not an error.

        Raises ``IntegrityError`` when ``stored_hash`` is not a hash this implementation knows,
        ``DependencyUnavailable`` when its scheme cannot be computed here.
        """
        ...

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of a real ``verify`` and learn nothing: used for unknown accounts so
        that they cannot be told apart from known ones by timing (ENUM-1)."""
        ...


class BreachedPasswords(Protocol):
    """How often a password is known to have leaked in data breaches (security.md PW-3).

    Asked only about a new password, never at login. An implementation sends neither the
    password nor its full hash anywhere, logs neither (nor any part of the hash), and never
    raises for the service's sake: a service that does not answer in time, answers an error
    or answers something unreadable is ``None``, so that the caller can fall back on the
    local list and say so.
    """

    async def times_seen(self, password: str) -> int | None:
        """How many times ``password`` (its NFKC form) appears in breached data, 0 if never;
        ``None`` when the service could not tell."""
        ...
