"""Provider credentials are sealed to their own connection (security.md CRYPTO-1): user A's
ciphertext copied into user B's row does not open there, so using B fails closed — it never
refreshes (or reads) with A's tokens."""

from __future__ import annotations

from uuid import UUID

import pytest

from dashcore.application.connections import CREDENTIALS_PURPOSE, CredentialStore
from dashcore.domain.errors import DecryptionFailed
from dashcore.ports.clock import Clock
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.vault import SealedSecretRepository
from dashcore_app.brokers import BrokerSandboxes
from tests.integration.accounts_support import request_sync, run_sync
from tests.integration.identity.conftest import Served
from tests.integration.identity.support import Mailbox, audit_actions
from tests.integration.providers.support import (
    TokenCalls,
    connect_redirect,
    refresh,
    signed_up,
    status,
    stored_credentials,
)


async def _move_ciphertext(served: Served, source: str, target: str) -> None:
    """Overwrite ``target``'s sealed credentials with ``source``'s, as a row-level attacker
    (or a bad migration) would."""
    async with served.core() as scope:
        secrets = await scope.get(SealedSecretRepository)
        uow = await scope.get(UnitOfWork)
        clock = await scope.get(Clock)
        taken = await secrets.get(CredentialStore.owner(UUID(source)), CREDENTIALS_PURPOSE)
        victim = await secrets.get(CredentialStore.owner(UUID(target)), CREDENTIALS_PURPOSE)
        assert taken is not None and victim is not None
        swapped = await secrets.replace_ciphertext(
            victim.id,
            expected=victim.ciphertext,
            ciphertext=taken.ciphertext,
            key_id=taken.key_id,
            updated_at=clock.now(),
        )
        assert swapped
        await uow.commit()


async def test_a_ciphertext_moved_to_another_connection_fails_to_decrypt(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    client = served.client
    alice = await signed_up(served, mailbox, "alice@example.com")
    bob = await signed_up(served, mailbox, "bob@example.com")
    alices = await connect_redirect(client, alice, "schwab")
    bobs = await connect_redirect(client, bob, "schwab")
    alice_credentials = await stored_credentials(served.core, alices)
    await _move_ciphertext(served, alices, bobs)
    calls = TokenCalls.watch(sandboxes.apps["schwab"], "schwab")

    with pytest.raises(DecryptionFailed):
        await stored_credentials(served.core, bobs)
    answered = await refresh(client, bob, bobs)

    assert answered.status_code == 500, answered.text
    assert "Traceback" not in answered.text
    assert alice_credentials.access_token not in answered.text
    assert calls.count == 0  # nothing reached the broker with Alice's refresh token
    failed_closed = await status(client, bob, bobs)
    assert failed_closed["last_refreshed_at"] is None
    assert failed_closed["status"] == "error"
    assert failed_closed["last_error"]["code"] == "credentials_unreadable"
    assert (await audit_actions(served.core)).count("provider_credentials_unreadable") == 1
    assert await stored_credentials(served.core, alices) == alice_credentials


async def test_a_sync_on_credentials_that_fail_to_open_fails_the_connection_closed(
    served: Served, mailbox: Mailbox, sandboxes: BrokerSandboxes
) -> None:
    """Found by QA (a vault key lost): syncs failed with decryption_failed while the
    connection still read `connected`. It now reads `error`, as after a refresh, and is
    audited."""
    alice = await signed_up(served, mailbox, "alice@example.com")
    bob = await signed_up(served, mailbox, "bob@example.com")
    alices = await connect_redirect(served.client, alice, "schwab")
    bobs = await connect_redirect(served.client, bob, "schwab")
    await _move_ciphertext(served, alices, bobs)

    run = await request_sync(served, bob, bobs)
    finished = await run_sync(served, bob, run["id"])

    assert (finished["status"], finished["error"]["code"]) == ("failed", "decryption_failed")
    failed_closed = await status(served.client, bob, bobs)
    assert failed_closed["status"] == "error"
    assert failed_closed["last_error"]["code"] == "credentials_unreadable"
    assert (await audit_actions(served.core)).count("provider_credentials_unreadable") == 1
