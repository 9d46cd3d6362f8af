"""Loading the vault key ring the way the settings say, with production's refusals."""

from __future__ import annotations

from dashcore_app.settings import Settings, StartupError
from dashcore_security import KeyRing, KeyRingError

__all__ = ["StartupError", "ensure_development_keys", "load_key_ring"]


def load_key_ring(settings: Settings) -> KeyRing:
    """The ring from ``DASHCORE_VAULT_KEYS`` if set, else from ``<keys_dir>/vault.json``.

    Production refuses a ring generated as a development ring unless
    ``DASHCORE_ALLOW_DEVELOPMENT_KEYS=true`` says so explicitly.
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
        raise StartupError(f"vault keys are invalid: {exc}") from exc
    if ring.development and settings.is_production and not settings.allow_development_keys:
        raise StartupError(
            "production refuses development keys: generate real ones with "
            "`dashcore keys generate` (or set DASHCORE_ALLOW_DEVELOPMENT_KEYS=true knowingly)"
        )
    return ring


def ensure_development_keys(settings: Settings) -> bool:
    """On the embedded default, create a development ring on first start. True if created."""
    if settings.vault_keys or settings.vault_key_file.exists() or settings.is_production:
        return False
    KeyRing.generate(development=True).save(settings.vault_key_file)
    return True
