"""The zero-argument factory ASGI servers call: ``granian --interface asgi --factory
dashcore_http.asgi:app_from_env`` (or ``uvicorn --factory``).

It reads the ``DASHCORE_*`` environment once and, outside production, creates development vault
keys on first start so that a fresh checkout serves with nothing configured.

Once start-up is done, every object alive then (modules, the container, SQLAlchemy's and
Litestar's registries) is moved out of the cyclic garbage collector's reach with
``gc.freeze()``: they live as long as the process, and scanning them on every full collection is
pure overhead that grows with the size of the import graph, paid by requests.
"""

from __future__ import annotations

import gc

from litestar import Litestar

from dashcore_app.keys import ensure_development_keys
from dashcore_app.settings import Settings
from dashcore_http.app import create_app

__all__ = ["app_from_env"]


async def _freeze_startup_objects() -> None:
    gc.collect()
    gc.freeze()


def app_from_env() -> Litestar:
    settings = Settings.from_env()
    ensure_development_keys(settings)
    app = create_app(settings)
    app.on_startup.append(_freeze_startup_objects)
    return app
