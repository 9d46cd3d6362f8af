"""Bodies of the administration endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec

__all__ = ["PlanGrant", "UserPage", "UserView"]


class UserView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    display_name: str | None
    verified: bool
    role: str
    status: str
    plan: str | None
    locked: bool
    created_at: datetime
    updated_at: datetime


class UserPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[UserView]
    next_after: UUID | None
    """Pass as ``after`` to read the next page; ``null`` on the last one."""


class PlanGrant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    plan: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")]
