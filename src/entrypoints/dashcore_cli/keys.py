"""``dashcore keys``: the vault key ring and the access-token signing ring (CRYPTO-2, JWT-1).

Vault rotation is: ``keys rotate`` (new active key; old keys stay for decryption) → ``keys
reencrypt`` (moves every sealed secret to the active key; resumable) → ``keys remove KID``
(refused while any ciphertext still uses the key).

Signing rotation is one step, ``keys signing rotate``: the new key signs from the next start of
each API process; the old one keeps verifying for the access-token lifetime + leeway (so no
issued token is cut short), then retires by itself and the next change drops it from the file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import partial
from typing import TypeVar

import click

from dashcore.application.audit_trail import AuditTrail
from dashcore.application.key_rotation import (
    ReencryptProgress,
    ReencryptSecrets,
    check_key_unused,
)
from dashcore.domain.context import CallerContext
from dashcore.ports.uow import UnitOfWork
from dashcore.ports.vault import SealedSecretRepository
from dashcore_app import Dashcore, DashcoreScope, Settings
from dashcore_cli.context import load_settings, require_database, run
from dashcore_security import KeyRing, KeyRingError
from dashcore_security.jwt import DEFAULT_LEEWAY
from dashcore_security.signing import SigningKeyError, SigningKeyRing

__all__ = ["keys"]

T = TypeVar("T")
OPERATOR = CallerContext(actor="operator:cli")


def _file_ring(settings: Settings) -> KeyRing:
    if settings.vault_keys:
        raise click.ClickException(
            "keys come from DASHCORE_VAULT_KEYS; change that value instead "
            "(`dashcore keys generate --print` makes one)"
        )
    try:
        return KeyRing.load(settings.vault_key_file)
    except FileNotFoundError as exc:
        raise click.ClickException(
            f"{settings.vault_key_file} does not exist; run `dashcore keys generate`"
        ) from exc
    except KeyRingError as exc:
        raise click.ClickException(str(exc)) from exc


def _env_ring(value: str) -> KeyRing:
    """The ring of DASHCORE_VAULT_KEYS (its keys carry no creation date)."""
    try:
        return KeyRing.from_env_value(value)
    except KeyRingError as exc:
        raise click.ClickException(f"DASHCORE_VAULT_KEYS is invalid: {exc}") from exc


async def _in_scope(settings: Settings, work: Callable[[DashcoreScope], Awaitable[T]]) -> T:
    async with Dashcore.open(require_database(settings)) as core, core.scope() as scope:
        return await work(scope)


async def _audited(
    scope: DashcoreScope, action: str, key_id: str, write: Callable[[], None]
) -> None:
    """Record ``action``, then ``write`` the ring file, then commit: a database that cannot take
    the audit event stops the change before the file is touched, and a file that cannot be
    written leaves no event behind."""
    trail = await scope.get(AuditTrail)
    await trail.record(action, caller=OPERATOR, target=f"key:{key_id}")
    write()
    await (await scope.get(UnitOfWork)).commit()


@click.group()
def keys() -> None:
    """Vault keys (generate, rotate, reencrypt, remove) and access-token keys (signing)."""


@keys.command()
@click.option("--development", is_flag=True, help="Mark the key as development-only.")
@click.option("--force", is_flag=True, help="Replace an existing key file (its secrets are lost).")
@click.option("--print", "to_stdout", is_flag=True, help="Print a DASHCORE_VAULT_KEYS value.")
def generate(development: bool, force: bool, to_stdout: bool) -> None:
    """Create a new key ring."""
    ring = KeyRing.generate(development=development)
    if to_stdout:
        click.echo(ring.to_env_value())
        return
    settings = load_settings()
    if settings.vault_keys:
        raise click.ClickException(
            "keys come from DASHCORE_VAULT_KEYS, so a file would not be read; use --print and "
            "change that value instead"
        )
    path = settings.vault_key_file
    if not path.exists():
        ring.save(path)
    elif not force:
        raise click.ClickException(f"{path} exists; use `keys rotate`, or --force to replace it")
    else:
        run(_in_scope(settings, partial(_replace_ring, settings, ring)))
    click.echo(f"wrote {path} (active key {ring.active_id})")


async def _replace_ring(settings: Settings, ring: KeyRing, scope: DashcoreScope) -> None:
    """``--force``: the old ring's secrets can no longer be opened. Say how many, and audit the
    replacement with that count before the file is written."""
    old = _file_ring(settings)
    usage = await (await scope.get(SealedSecretRepository)).count_by_key()
    lost = sum(count for key_id, count in usage.items() if key_id in old.keys)
    if lost:
        click.echo(
            f"warning: {lost} sealed secret(s) under {', '.join(old.keys)} can no longer be "
            "opened: their broker connections and authenticator apps must be set up again",
            err=True,
        )
    trail = await scope.get(AuditTrail)
    await trail.record(
        "vault_key_ring_replaced",
        caller=OPERATOR,
        target=f"key:{ring.active_id}",
        metadata={"replaced_kids": ",".join(old.keys), "sealed_lost": lost},
    )
    ring.save(settings.vault_key_file)
    await (await scope.get(UnitOfWork)).commit()


@keys.command("list")
def list_keys() -> None:
    """Show the keys and how many secrets each one seals."""
    settings = load_settings()
    env_value = settings.vault_keys
    ring = _env_ring(env_value) if env_value else _file_ring(settings)

    async def counts(scope: DashcoreScope) -> dict[str, int]:
        return await (await scope.get(SealedSecretRepository)).count_by_key()

    usage = run(_in_scope(settings, counts))
    for key_id, key in ring.keys.items():
        role = "active" if key_id == ring.active_id else "decrypt-only"
        created = "" if env_value else f"created {key.created_at:%Y-%m-%d}  "
        made_for = "  (development key)" if key.development else ""
        click.echo(f"{key_id}  {role:12}  {created}seals {usage.get(key_id, 0)}{made_for}")
    missing = {key_id: count for key_id, count in usage.items() if key_id not in ring.keys}
    for key_id, count in missing.items():
        click.echo(f"{key_id}  {'not in ring':12}  seals {count}")
    if missing:
        click.echo(
            f"warning: {sum(missing.values())} sealed secret(s) are under keys this ring does "
            "not hold and cannot be opened: restore those keys to the ring (from a backup of "
            "vault.json or the secret manager's earlier value)",
            err=True,
        )


@keys.command()
def rotate() -> None:
    """Add a new active key; old keys stay for decryption until re-encryption."""
    settings = load_settings()
    ring = _file_ring(settings).rotate()

    async def record(scope: DashcoreScope) -> None:
        await _audited(
            scope, "key_rotated", ring.active_id, partial(ring.save, settings.vault_key_file)
        )

    run(_in_scope(settings, record))
    click.echo(f"active key is now {ring.active_id}; run `dashcore keys reencrypt`")


@keys.command()
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def reencrypt(batch_size: int) -> None:
    """Move every sealed secret to the active key (safe to interrupt and run again)."""
    settings = load_settings()

    def report(progress: ReencryptProgress) -> None:
        click.echo(f"re-encrypted {progress.reencrypted}, {progress.remaining} remaining")

    async def work(scope: DashcoreScope) -> ReencryptProgress:
        job = await scope.get(ReencryptSecrets)
        return await job(batch_size=batch_size, caller=OPERATOR, on_progress=report)

    result = run(_in_scope(settings, work))
    click.echo(f"done: {result.reencrypted} secret(s) now under {result.active_key_id}")


@keys.command()
@click.argument("key_id")
def remove(key_id: str) -> None:
    """Remove a decrypt-only key once no secret uses it."""
    settings = load_settings()
    ring = _file_ring(settings)
    try:
        smaller = ring.without(key_id)
    except KeyRingError as exc:
        raise click.ClickException(str(exc)) from exc

    async def guard_and_record(scope: DashcoreScope) -> None:
        await check_key_unused(await scope.get(SealedSecretRepository), key_id)
        await _audited(scope, "key_removed", key_id, partial(smaller.save, settings.vault_key_file))

    run(_in_scope(settings, guard_and_record))
    click.echo(f"removed key {key_id}")


# -- the access-token signing ring -----------------------------------------------------------
def _signing_file_ring(settings: Settings) -> SigningKeyRing:
    if settings.signing_keys:
        raise click.ClickException(
            "signing keys come from DASHCORE_SIGNING_KEYS; change that value instead "
            "(`dashcore keys signing generate --print` makes one)"
        )
    try:
        return SigningKeyRing.load(settings.signing_key_file)
    except FileNotFoundError as exc:
        raise click.ClickException(
            f"{settings.signing_key_file} does not exist; run `dashcore keys signing generate`"
        ) from exc
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc


@keys.group()
def signing() -> None:
    """Generate, rotate and list the Ed25519 keys that sign access tokens."""


@signing.command("generate")
@click.option("--development", is_flag=True, help="Mark the key as development-only.")
@click.option("--force", is_flag=True, help="Replace an existing file (its tokens stop verifying).")
@click.option("--print", "to_stdout", is_flag=True, help="Print a DASHCORE_SIGNING_KEYS value.")
def signing_generate(development: bool, force: bool, to_stdout: bool) -> None:
    """Create a new signing key ring."""
    ring = SigningKeyRing.generate(development=development)
    if to_stdout:
        click.echo(ring.to_env_value())
        return
    settings = load_settings()
    if settings.signing_keys:
        raise click.ClickException(
            "signing keys come from DASHCORE_SIGNING_KEYS, so a file would not be read; use "
            "--print and change that value instead"
        )
    path = settings.signing_key_file
    if path.exists() and not force:
        raise click.ClickException(
            f"{path} exists; use `keys signing rotate`, or --force to replace it"
        )
    ring.save(path)
    click.echo(f"wrote {path} (active key {ring.active_id})")


@signing.command("rotate")
@click.option(
    "--overlap",
    type=click.IntRange(0, 86_400),
    default=None,
    help="Seconds the old key keeps verifying. Default: DASHCORE_ACCESS_TOKEN_TTL + 30 s leeway.",
)
def signing_rotate(overlap: int | None) -> None:
    """Make a new key active; the old one verifies until its tokens have expired."""
    settings = load_settings()
    lifetime = timedelta(seconds=settings.access_token_ttl) + DEFAULT_LEEWAY
    keep = lifetime if overlap is None else timedelta(seconds=overlap)
    old = _signing_file_ring(settings)
    ring = old.rotate(overlap=keep)

    async def record(scope: DashcoreScope) -> None:
        await _audited(
            scope,
            "signing_key_rotated",
            ring.active_id,
            partial(ring.save, settings.signing_key_file),
        )

    run(_in_scope(settings, record))
    retired_at = ring.keys[old.active_id].retire_after
    click.echo(
        f"active signing key is now {ring.active_id}; {old.active_id} verifies until "
        f"{retired_at:%Y-%m-%d %H:%M:%S}Z. Restart the API processes to sign with the new key."
    )


@signing.command("list")
def signing_list() -> None:
    """Show the signing keys and until when each one verifies."""
    settings = load_settings()
    if settings.signing_keys:
        try:
            ring = SigningKeyRing.from_env_value(settings.signing_keys)
        except SigningKeyError as exc:
            raise click.ClickException(f"DASHCORE_SIGNING_KEYS is invalid: {exc}") from exc
    else:
        ring = _signing_file_ring(settings)
    for key in ring.keys.values():
        if key.id == ring.active_id:
            role = "active"
        elif key.retire_after is None:
            role = "verify-only"
        else:
            role = f"verify-only until {key.retire_after:%Y-%m-%d %H:%M:%S}Z"
        made_for = "  (development key)" if key.development else ""
        created = "" if settings.signing_keys else f"created {key.created_at:%Y-%m-%d}  "
        click.echo(f"{key.id}  {created}{role}{made_for}")


@signing.command("prune")
def signing_prune() -> None:
    """Rewrite the file without retired keys (they no longer verify anything)."""
    settings = load_settings()
    ring = _signing_file_ring(settings)  # loading leaves retired keys out
    ring.save(settings.signing_key_file)
    click.echo(f"kept {len(ring.keys)} signing key(s): {', '.join(ring.keys)}")
