"""Credentials a sandbox issues: authorization codes, request tokens, access and refresh tokens.

Every value is minted from :mod:`secrets` and is opaque. The store keeps only a SHA-256 digest
of each value, so neither the store nor its ``repr`` can leak a token, and nothing here logs.
A grant is *active* while it is neither expired (by the injected clock), revoked, nor consumed.
Single-use credentials (authorization codes, Kite request tokens) are consumed on the first
exchange attempt that names them, whether or not that exchange then succeeds.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from dashcore.ports.clock import Clock

__all__ = ["Grant", "GrantKind", "TokenStore"]


class GrantKind(StrEnum):
    """What a credential lets its holder do."""

    CODE = "code"
    ACCESS = "access"
    REFRESH = "refresh"
    EXTENDED = "extended"
    IDENTITY = "identity"


@dataclass(frozen=True, slots=True)
class Grant:
    """What the sandbox knows about one issued credential (never the credential itself).

    ``login_id`` names the consent the credential descends from: revoking a login revokes every
    credential of it, and ``login_at`` anchors lifetimes that a refresh must not extend.
    """

    kind: GrantKind
    client_id: str
    user_id: str
    login_id: str
    login_at: datetime
    issued_at: datetime
    expires_at: datetime
    redirect_uri: str | None = None
    revoked: bool = False
    consumed: bool = False


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Issued credentials of one sandbox, judged against an injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._grants: dict[str, Grant] = {}

    def __repr__(self) -> str:
        return f"TokenStore(grants={len(self._grants)})"

    def mint(self, grant: Grant, *, prefix: str = "", suffix: str = "", nbytes: int = 32) -> str:
        """Issue a new opaque credential described by ``grant`` and return its value."""
        token = f"{prefix}{secrets.token_urlsafe(nbytes)}{suffix}"
        self._grants[_digest(token)] = grant
        return token

    @staticmethod
    def new_login_id() -> str:
        """An identifier tying the credentials of one consent together."""
        return secrets.token_hex(8)

    def active(self, token: str, *kinds: GrantKind) -> Grant | None:
        """The grant behind ``token`` if it is of one of ``kinds`` and still usable."""
        grant = self._grants.get(_digest(token))
        if grant is None or grant.kind not in kinds or not self._usable(grant):
            return None
        return grant

    def consume(self, token: str, kind: GrantKind) -> Grant | None:
        """Spend a single-use credential: the grant if it was usable, else ``None``.

        The credential is spent either way, so a replay of the same value always fails.
        """
        key = _digest(token)
        grant = self._grants.get(key)
        if grant is None or grant.kind is not kind:
            return None
        self._grants[key] = replace(grant, consumed=True)
        return grant if self._usable(grant) else None

    def expire(self, token: str | None = None) -> int:
        """Make one credential (or, with no argument, every active one) expire now."""
        now = self._clock.now()
        return self._update(token, lambda grant: replace(grant, expires_at=now))

    def revoke(self, token: str | None = None) -> int:
        """Revoke one credential (or, with no argument, every active one)."""
        return self._update(token, lambda grant: replace(grant, revoked=True))

    def revoke_login(self, login_id: str) -> int:
        """Revoke every credential descending from one consent (a logout)."""
        keys = [key for key, grant in self._grants.items() if grant.login_id == login_id]
        for key in keys:
            self._grants[key] = replace(self._grants[key], revoked=True)
        return len(keys)

    def _usable(self, grant: Grant) -> bool:
        return not grant.revoked and not grant.consumed and self._clock.now() < grant.expires_at

    def _update(self, token: str | None, change: Callable[[Grant], Grant]) -> int:
        keys = list(self._grants) if token is None else [_digest(token)]
        changed = 0
        for key in keys:
            grant = self._grants.get(key)
            if grant is not None and self._usable(grant):
                self._grants[key] = change(grant)
                changed += 1
        return changed
