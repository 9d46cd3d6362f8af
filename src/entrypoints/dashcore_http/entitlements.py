"""Entitlement guards: routes that need a subscription plan.

    @get("/exports", guards=[requires_plan("pro", "premium")])

The plan is read from the account on each call (not from the token), so a plan an admin grants
or revokes applies at once. An admin passes every plan check. A caller without the plan gets
403 ``plan_required``.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.types import Guard

from dashcore.application.profile import GetProfile
from dashcore.domain.errors import Forbidden
from dashcore_http.authentication import principal
from dashcore_http.di import app_object

__all__ = ["requires_plan"]


def requires_plan(*plans: str) -> Guard:
    """A guard that lets through admins and users whose plan is one of ``plans``."""
    if not plans:
        raise ValueError("name at least one plan")
    allowed = frozenset(plans)

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        claims = principal(connection)
        if claims.is_admin:
            return
        profile = await app_object(connection, GetProfile)
        user = await profile(claims.subject)
        if user.plan not in allowed:
            raise Forbidden(
                f"This needs one of the plans: {', '.join(sorted(allowed))}.",
                code="plan_required",
            )

    return guard
