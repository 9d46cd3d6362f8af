"""The zero-argument factory ASGI servers call: ``granian --interface asgi --factory
dashcore_http.asgi:app_from_env`` (or ``uvicorn --factory``).

It reads the ``DASHCORE_*`` environment once and, outside production, creates development vault
keys on first start so that a fresh checkout serves with nothing configured.
"""

from __future__ import annotations

from litestar import Litestar

from dashcore_app.keys import ensure_development_keys
from dashcore_app.settings import Settings
from dashcore_http.app import create_app

__all__ = ["app_from_env"]


def app_from_env() -> Litestar:
    settings = Settings.from_env()
    ensure_development_keys(settings)
    return create_app(settings)
