"""What the key rings share: unpadded base64url text and private, atomic JSON files."""

from __future__ import annotations

import base64
import binascii
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["b64url", "from_b64url", "write_private_json"]


def b64url(data: bytes) -> str:
    """Unpadded base64url (RFC 7515's encoding)."""
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def from_b64url(text: str) -> bytes:
    """The bytes of unpadded base64url text; ``ValueError`` if it is not base64url."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("not valid base64url") from exc


def write_private_json(path: Path, document: Any) -> None:
    """Write ``document`` to ``path`` with mode 0600 (directory 0700), atomically: a crash
    leaves the old file, never half a new one."""
    _private_directories(path.parent)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _private_directories(directory: Path) -> None:
    """``directory`` and each missing ancestor, every one made 0700. (``mkdir(parents=True,
    mode=0o700)`` gives the ancestors it makes the default mode: found by QA, ``dashcore keys
    generate`` on a new data directory made ``var/`` 0755 around its 0700 ``var/keys``.)"""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        made.mkdir(mode=0o700, exist_ok=True)
