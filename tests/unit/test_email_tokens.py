"""Email tokens (REG-1, RESET-1): hashed, single use, time-limited, bound to one address."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.application.email_tokens import EmailTokens, IssuedEmailToken
from dashcore.domain.email import Email
from dashcore.domain.email_tokens import TokenPurpose, hash_token
from dashcore.domain.errors import InvalidInput
from dashcore.domain.users import User
from dashcore.testing import FakeClock, SequentialIds
from dashcore_memory import MemoryDatabase, MemoryUnitOfWork
from dashcore_memory.users import MemoryEmailTokenRepository, MemoryUserRepository


async def setup() -> tuple[FakeClock, EmailTokens, MemoryUserRepository, User]:
    clock = FakeClock()
    uow = MemoryUnitOfWork(MemoryDatabase())
    users = MemoryUserRepository(uow)
    user = User(
        id=UUID(int=7),
        email=Email("ada@example.org"),
        password_hash="$argon2id$x",
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    await users.add(user)
    return clock, EmailTokens(MemoryEmailTokenRepository(uow), clock, SequentialIds()), users, user


@pytest.mark.parametrize(
    ("purpose", "ttl"),
    [
        (TokenPurpose.VERIFY_EMAIL, timedelta(hours=1)),  # REG-1
        (TokenPurpose.CHANGE_EMAIL, timedelta(hours=1)),
        (TokenPurpose.PASSWORD_RESET, timedelta(minutes=30)),  # RESET-1
    ],
)
async def test_a_token_works_until_its_ttl_and_only_once(
    purpose: TokenPurpose, ttl: timedelta
) -> None:
    clock, tokens, users, user = await setup()
    if purpose is TokenPurpose.CHANGE_EMAIL:
        user.request_email_change(Email("new@example.org"), clock.now())
        await users.save(user)
    late = await tokens.issue(user, purpose)
    assert late.expires_at == clock.now() + ttl
    clock.advance(ttl)
    with pytest.raises(InvalidInput):
        await tokens.peek(late.secret, purpose, users)
    fresh = await tokens.issue(user, purpose)
    clock.advance(ttl - timedelta(seconds=1))
    assert (await tokens.redeem(fresh.secret, purpose, users)).id == user.id
    with pytest.raises(InvalidInput):
        await tokens.redeem(fresh.secret, purpose, users)


async def test_tokens_of_one_purpose_never_serve_another() -> None:
    _, tokens, users, user = await setup()
    secret = (await tokens.issue(user, TokenPurpose.VERIFY_EMAIL)).secret
    with pytest.raises(InvalidInput):
        await tokens.redeem(secret, TokenPurpose.PASSWORD_RESET, users)
    assert (await tokens.redeem(secret, TokenPurpose.VERIFY_EMAIL, users)).id == user.id


async def test_a_new_token_voids_the_previous_one_and_an_email_change_voids_both() -> None:
    clock, tokens, users, user = await setup()
    first = (await tokens.issue(user, TokenPurpose.PASSWORD_RESET)).secret
    second = (await tokens.issue(user, TokenPurpose.PASSWORD_RESET)).secret
    with pytest.raises(InvalidInput):
        await tokens.peek(first, TokenPurpose.PASSWORD_RESET, users)
    user.request_email_change(Email("new@example.org"), clock.now())
    user.confirm_email_change(clock.now())
    await users.save(user)
    with pytest.raises(InvalidInput):
        await tokens.peek(second, TokenPurpose.PASSWORD_RESET, users)


def test_an_issued_token_keeps_its_secret_out_of_reprs() -> None:
    issued = IssuedEmailToken("SECRETSECRETSECRET", FakeClock().now())
    assert "SECRET" not in repr(issued)


@given(st.text(max_size=300))
def test_garbage_never_reaches_storage_and_real_tokens_hash(text: str) -> None:
    digest = hash_token(text)
    if not text or len(text) > 128 or not text.isascii():
        assert digest is None
    else:
        assert digest is not None
        assert len(digest) == 32
