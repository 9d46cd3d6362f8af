"""Loading the vault and signing key rings the way the settings say, with production's refusals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from dashcore_app.settings import Settings, StartupError
from dashcore_security import KeyRing, KeyRingError
from dashcore_security.signing import SigningKeyError, SigningKeyRing

__all__ = [
    "StartupError",
    "ensure_development_keys",
    "ensure_development_signing_keys",
    "load_key_ring",
    "load_signing_key_ring",
    "load_signing_keys",
]


def load_key_ring(settings: Settings) -> KeyRing:
    """The ring from ``DASHCORE_VAULT_KEYS`` if set, else from ``<keys_dir>/vault.json``.

    Production refuses a ring whose active key was made for development unless
    ``DASHCORE_ALLOW_DEVELOPMENT_KEYS=true`` says so explicitly. Decrypt-only development keys
    are accepted, so that ``keys rotate`` → ``keys reencrypt`` → ``keys remove`` can take a
    production database off them.
    """
    try:
        if settings.vault_keys:
            ring = KeyRing.from_env_value(settings.vault_keys)
        else:
            ring = KeyRing.load(settings.vault_key_file)
    except FileNotFoundError as exc:
        raise StartupError(
            f"no vault keys: {settings.vault_key_file} does not exist and DASHCORE_VAULT_KEYS "
            "is not set; run `dashcore keys generate`"
        ) from exc
    except KeyRingError as exc:
        source = "DASHCORE_VAULT_KEYS" if settings.vault_keys else str(settings.vault_key_file)
        raise StartupError(f"vault keys are invalid ({source}): {exc}") from exc
    if ring.development and settings.is_production and not settings.allow_development_keys:
        raise StartupError(
            f"production refuses development keys: the active vault key {ring.active_id} was "
            "made for development. Run `dashcore keys rotate`, then `dashcore keys reencrypt` "
            f"and `dashcore keys remove {ring.active_id}` (or set "
            "DASHCORE_ALLOW_DEVELOPMENT_KEYS=true knowingly)"
        )
    return ring


def load_signing_keys(
    env_value: str | None,
    path: Path,
    *,
    production: bool,
    allow_development: bool,
    now: datetime | None = None,
) -> SigningKeyRing:
    """The access-token signing ring from ``env_value`` (``DASHCORE_SIGNING_KEYS``) if set,
    else from the file at ``path``; keys retired by ``now`` are left out.

    Production refuses a ring whose active key was made for development unless
    ``allow_development`` (``DASHCORE_ALLOW_DEVELOPMENT_KEYS=true``) says so explicitly. A
    verify-only development key is accepted until it retires, so ``keys signing rotate`` takes
    production off it.
    """
    try:
        if env_value:
            ring = SigningKeyRing.from_env_value(env_value, now=now)
        else:
            ring = SigningKeyRing.load(path, now=now)
    except FileNotFoundError as exc:
        raise StartupError(
            f"no signing keys: {path} does not exist and DASHCORE_SIGNING_KEYS is not set; "
            "run `dashcore keys signing generate`"
        ) from exc
    except SigningKeyError as exc:
        source = "DASHCORE_SIGNING_KEYS" if env_value else str(path)
        raise StartupError(f"signing keys are invalid ({source}): {exc}") from exc
    if ring.development and production and not allow_development:
        raise StartupError(
            f"production refuses development signing keys: the active signing key "
            f"{ring.active_id} was made for development. Run `dashcore keys signing rotate` (or "
            "set DASHCORE_ALLOW_DEVELOPMENT_KEYS=true knowingly)"
        )
    return ring


def load_signing_key_ring(settings: Settings) -> SigningKeyRing:
    """``load_signing_keys`` with the values the settings carry."""
    return load_signing_keys(
        settings.signing_keys,
        settings.signing_key_file,
        production=settings.is_production,
        allow_development=settings.allow_development_keys,
    )


def ensure_development_signing_keys(env_value: str | None, path: Path, *, production: bool) -> bool:
    """Outside production, with no keys configured, create a development signing ring at
    ``path``. True if created.
    """
    if env_value or path.exists() or production:
        return False
    SigningKeyRing.generate(development=True).save(path)
    return True


def ensure_development_keys(settings: Settings) -> bool:
    """On the embedded default, create development vault and signing rings on first start.

    True if either was created.
    """
    signing = ensure_development_signing_keys(
        settings.signing_keys, settings.signing_key_file, production=settings.is_production
    )
    if settings.vault_keys or settings.vault_key_file.exists() or settings.is_production:
        return signing
    KeyRing.generate(development=True).save(settings.vault_key_file)
    return True
