"""``/api/v1/password-resets`` and ``/api/v1/auth/me/password``.

Asking for a reset always answers 202 with the same body, at once: the work runs after the
answer (:mod:`dashcore_http.after_response`), so its timing tells nothing either (ENUM-1); a
malformed address is a 422 before anything. The mailed token travels in request bodies
(``check``, ``complete``), never in a URL: found by QA, ``/password-resets/{token}`` put live
tokens into every proxy's and load balancer's access log, and into problem bodies'
``instance`` (SESS-2: tokens never go into URLs). Every dashcore response sends
``Referrer-Policy: no-referrer``.
"""

from __future__ import annotations

from typing import Any

from dishka import FromDishka
from litestar import Controller, Request, Response, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from dashcore.application.passwords import (
    ChangePassword,
    CheckPasswordReset,
    CompletePasswordReset,
    RequestPasswordReset,
)
from dashcore.application.step_up import StepUpGate
from dashcore_http.after_response import accepted_for_any_address
from dashcore_http.authentication import ANONYMOUS, PUBLIC, recently_authenticated
from dashcore_http.caller import caller_of
from dashcore_http.credentials import optional_second_factor
from dashcore_http.di import inject
from dashcore_http.openapi_problems import STEP_UP, problems
from dashcore_http.schemas.auth import (
    Accepted,
    EmailRequest,
    PasswordChange,
    PasswordChanged,
    ResetCompletion,
    ResetToken,
    ResetTokenState,
)

__all__ = ["PasswordChangeController", "PasswordResetController"]


class PasswordResetController(Controller):
    path = "/password-resets"
    tags = ("auth",)

    @post(
        "/",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_202_ACCEPTED,
        summary="Mail a reset link",
    )
    async def request_reset(
        self, data: JSONBody[EmailRequest], request: Request[Any, Any, Any]
    ) -> Response[Accepted]:
        return accepted_for_any_address(request, data.email, RequestPasswordReset)

    @post(
        "/check",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Is this reset link still valid?",
    )
    @inject
    async def check_reset(
        self,
        data: JSONBody[ResetToken],
        request: Request[Any, Any, Any],
        check: FromDishka[CheckPasswordReset],
    ) -> ResetTokenState:
        """Does not use the token up. ``second_factor_required``: completing needs the
        authenticator app's code (or a recovery code) too."""
        return ResetTokenState(second_factor_required=await check(data.token))

    @post(
        "/complete",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Set a new password with a reset link",
        responses=problems({403: "`second_factor_required`, `wrong_code`"}),
    )
    @inject
    async def complete_reset(
        self,
        data: JSONBody[ResetCompletion],
        request: Request[Any, Any, Any],
        complete: FromDishka[CompletePasswordReset],
    ) -> PasswordChanged:
        """Ends every session and logs nobody in: sign in again with the new password. An
        account with an authenticator app also needs ``code`` or ``recovery_code`` (RESET-2)."""
        await complete(
            data.token,
            data.password,
            caller_of(request),
            second_factor=optional_second_factor(data.code, data.recovery_code),
        )
        return PasswordChanged()


class PasswordChangeController(Controller):
    path = "/auth/me/password"
    tags = ("auth",)

    @post(
        "/",
        status_code=204,
        summary="Change the password (current one + step-up)",
        responses=problems(STEP_UP | {403: "`wrong_password`: the `current_password` is wrong"}),
    )
    @inject
    async def change_password(
        self,
        data: JSONBody[PasswordChange],
        request: Request[Any, Any, Any],
        change: FromDishka[ChangePassword],
        gate: FromDishka[StepUpGate],
    ) -> None:
        """Needs a recent sign-in (step-up) as well as the current password. Every other
        session of the account ends; this one stays."""
        claims = await recently_authenticated(request, gate)
        await change(
            claims.subject,
            claims.session_id,
            current_password=data.current_password,
            new_password=data.new_password,
            caller=caller_of(request),
        )
