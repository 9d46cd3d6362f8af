"""Single-use tokens sent by email, issued and redeemed for one purpose (REG-1, RESET-1).

The rules are in :mod:`dashcore.domain.email_tokens`; this module stores and checks them in
the caller's unit of work (it never commits).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dashcore.domain.email_tokens import EmailToken, TokenPurpose, hash_token, new_token_secret
from dashcore.domain.errors import InvalidInput
from dashcore.domain.users import User, UserStatus
from dashcore.ports.clock import Clock
from dashcore.ports.ids import IdGenerator
from dashcore.ports.users import EmailTokenRepository, UserRepository

__all__ = ["EmailTokens", "IssuedEmailToken"]


@dataclass(frozen=True, slots=True)
class IssuedEmailToken:
    """A token just issued: the secret to mail, and the instant it stops working (the mail
    carrying it is not sent after that)."""

    secret: str = field(repr=False)
    expires_at: datetime


class EmailTokens:
    """Issues and redeems single-use email tokens of one purpose, in the caller's unit of work."""

    def __init__(
        self,
        tokens: EmailTokenRepository,
        clock: Clock,
        ids: IdGenerator,
        *,
        ttls: Mapping[TokenPurpose, timedelta] | None = None,
    ) -> None:
        self._tokens = tokens
        self._clock = clock
        self._ids = ids
        self._ttls = {purpose: purpose.default_ttl for purpose in TokenPurpose} | dict(ttls or {})

    async def issue(self, user: User, purpose: TokenPurpose) -> IssuedEmailToken:
        """A fresh token for ``user``'s current address (the pending one for an email
        change), valid for the purpose's TTL; earlier unused ones of the purpose are voided."""
        await self._tokens.void_for_user(user.id, purpose)
        secret = new_token_secret()
        digest = hash_token(secret)
        assert digest is not None
        now = self._clock.now()
        token = EmailToken(
            id=self._ids.new_id(),
            user_id=user.id,
            purpose=purpose,
            token_hash=digest,
            email_key=_bound_address(user, purpose),
            created_at=now,
            expires_at=now + self._ttls[purpose],
        )
        await self._tokens.add(token)
        return IssuedEmailToken(secret, token.expires_at)

    async def peek(
        self, secret: str, purpose: TokenPurpose, users: UserRepository
    ) -> tuple[EmailToken, User]:
        """The token and its user if the token is usable now; ``InvalidInput`` with code
        ``invalid_token`` for one that is unknown, used, expired, of another purpose, issued
        for an address the user no longer has, or of a disabled account (disabling freezes
        an account: nothing mailed to it acts on it)."""
        digest = hash_token(secret)
        token = None if digest is None else await self._tokens.find(digest, purpose)
        user = None if token is None else await users.get(token.user_id)
        if token is None or user is None or user.status is not UserStatus.ACTIVE:
            raise _invalid_token()
        if not token.usable(self._clock.now(), _bound_address(user, purpose)):
            raise _invalid_token()
        return token, user

    async def redeem(self, secret: str, purpose: TokenPurpose, users: UserRepository) -> User:
        """Like :meth:`peek`, and consume the token (exactly once, even under a race)."""
        token, user = await self.peek(secret, purpose, users)
        if not await self._tokens.consume(token.id, self._clock.now()):
            raise _invalid_token()
        return user

    async def void(self, user: User, purpose: TokenPurpose) -> None:
        """Void the user's outstanding tokens of ``purpose`` (e.g. resets after any password
        change)."""
        await self._tokens.void_for_user(user.id, purpose)


def _bound_address(user: User, purpose: TokenPurpose) -> str:
    """The canonical address a token of ``purpose`` is (or must be) bound to."""
    if purpose is TokenPurpose.CHANGE_EMAIL:
        return "" if user.pending_email is None else user.pending_email.key
    return user.email.key


def _invalid_token() -> InvalidInput:
    return InvalidInput(
        "The link is invalid or has expired; ask for a new one.",
        code="invalid_token",
        field="token",
    )
