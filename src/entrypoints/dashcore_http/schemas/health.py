"""Bodies of the liveness and readiness probes."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["Liveness", "Readiness"]


class Liveness(msgspec.Struct, frozen=True):
    status: Literal["ok"] = "ok"


class Readiness(msgspec.Struct, frozen=True, kw_only=True):
    """Each dependency's state by name: ``ok`` or ``unavailable``."""

    status: Literal["ready"] = "ready"
    checks: dict[str, str]
