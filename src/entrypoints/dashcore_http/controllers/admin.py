"""``/api/v1/admin/users``: administrators list accounts, disable/enable them, manage plans and
order limits, and reset a second factor.

Every route needs an access token with the ``admin`` role; anyone else gets 403.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from dashcore.application.admin import MAX_PAGE, ListUsers, ManageUser
from dashcore.application.mfa import TotpEnrolment
from dashcore.application.order_limits import ManageOrderLimits
from dashcore.application.step_up import StepUpGate
from dashcore.domain.users import User
from dashcore_http.authentication import recently_authenticated, require_admin
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.openapi_problems import ADMIN_ONLY, problems
from dashcore_http.schemas.admin import PlanGrant, UserPage, UserView
from dashcore_http.schemas.order_limits import (
    OrderLimitsUpdate,
    OrderLimitsView,
    order_limits_of,
    order_limits_view,
)

__all__ = ["AdminUsersController"]

_ADMIN = problems(ADMIN_ONLY)


def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    require_admin(connection)


def user_view(user: User, now_locked: bool) -> UserView:
    return UserView(
        id=user.id,
        email=user.email.value,
        display_name=user.display_name,
        verified=user.verified,
        role=user.role.value,
        status=user.status.value,
        plan=user.plan,
        locked=now_locked,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _view(user: User) -> UserView:
    return user_view(
        user, user.throttle.password_login_disabled or user.throttle.locked_until is not None
    )


class AdminUsersController(Controller):
    path = "/admin/users"
    tags = ("admin",)
    guards = [admins_only]  # noqa: RUF012 (Litestar reads a list)

    @get("/", summary="List accounts, oldest first", responses=_ADMIN)
    @inject
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        users: FromDishka[ListUsers],
        after: FromQuery[UUID | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
    ) -> UserPage:
        page = await users(after=after, limit=limit)
        items = [_view(user) for user in page]
        return UserPage(items=items, next_after=page[-1].id if len(page) == limit else None)

    @get("/{user_id:uuid}", summary="One account", responses=_ADMIN)
    @inject
    async def get_user(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manage: FromDishka[ManageUser],
    ) -> UserView:
        return _view(await manage.get(user_id))

    @post(
        "/{user_id:uuid}/disable",
        status_code=200,
        summary="Disable (ends every session)",
        responses=problems(ADMIN_ONLY | {409: "`cannot_disable_self`"}),
    )
    @inject
    async def disable(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manage: FromDishka[ManageUser],
    ) -> UserView:
        return _view(await manage.disable(user_id, caller_of(request)))

    @post("/{user_id:uuid}/enable", status_code=200, summary="Enable again", responses=_ADMIN)
    @inject
    async def enable(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manage: FromDishka[ManageUser],
    ) -> UserView:
        return _view(await manage.enable(user_id, caller_of(request)))

    @put("/{user_id:uuid}/plan", summary="Grant a subscription plan", responses=_ADMIN)
    @inject
    async def grant_plan(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[PlanGrant],
        request: Request[Any, Any, Any],
        manage: FromDishka[ManageUser],
    ) -> UserView:
        return _view(await manage.grant_plan(user_id, data.plan, caller_of(request)))

    @delete(
        "/{user_id:uuid}/plan",
        status_code=200,
        summary="Revoke the subscription plan",
        responses=_ADMIN,
    )
    @inject
    async def revoke_plan(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        manage: FromDishka[ManageUser],
    ) -> UserView:
        return _view(await manage.revoke_plan(user_id, caller_of(request)))

    @delete(
        "/{user_id:uuid}/mfa",
        status_code=204,
        summary="Reset the account's second factor (lost phone)",
        responses=problems(
            ADMIN_ONLY
            | {
                401: "`step_up_required`: the administrator authenticated too long ago",
                404: "`user_not_found`, `mfa_not_enabled`: the account has no app",
                409: "`cannot_reset_own_mfa`: an administrator's own app goes off as its owner",
            }
        ),
    )
    @inject
    async def reset_mfa(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        enrolment: FromDishka[TotpEnrolment],
        gate: FromDishka[StepUpGate],
    ) -> None:
        """Turns the authenticator app off and voids the recovery codes; audited
        (``admin_mfa_reset``) and mailed to the owner. Removing a second factor is sensitive
        (STEP-1): the administrator steps up first, as for their own. 404 ``mfa_not_enabled``
        if there is none; 409 ``cannot_reset_own_mfa`` for the administrator's own account."""
        await recently_authenticated(request, gate)
        await enrolment.disable(user_id, caller_of(request), by_administrator=True)

    @get(
        "/{user_id:uuid}/order-limits",
        summary="The account's own order limits and those in force",
        responses=_ADMIN,
    )
    @inject
    async def get_order_limits(
        self,
        user_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        limits: FromDishka[ManageOrderLimits],
    ) -> OrderLimitsView:
        return order_limits_view(await limits.get(user_id))

    @put(
        "/{user_id:uuid}/order-limits",
        summary="Set the account's own order limits (security.md ORD-3)",
        responses=_ADMIN,
    )
    @inject
    async def set_order_limits(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[OrderLimitsUpdate],
        request: Request[Any, Any, Any],
        limits: FromDishka[ManageOrderLimits],
    ) -> OrderLimitsView:
        """Replaces the account's own limits, all of them: a currency or a limit left out falls
        back to the deployment's default (``{"limits": []}`` clears them). Audited
        (``admin_order_limits_set``) with the limits before and after."""
        return order_limits_view(
            await limits.set(user_id, order_limits_of(data), caller_of(request))
        )
