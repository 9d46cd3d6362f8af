"""``/api/v1/auth/mfa``: the authenticator app and recovery codes of the signed-in account,
and ``POST /auth/mfa/verify``, the second step of a login.

Turning the app on or off and making new recovery codes are sensitive (STEP-1): they need a
sign-in no older than ``DASHCORE_STEP_UP_MAX_AGE`` (with the app itself once it is on), else
401 ``step_up_required``.
"""

from __future__ import annotations

from typing import Any

from dishka import FromDishka
from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from dashcore.application.mfa import TotpEnrolment
from dashcore.application.sign_in import CompleteMfaLogin
from dashcore.application.step_up import StepUpGate
from dashcore_http.authentication import ANONYMOUS, PUBLIC, principal, recently_authenticated
from dashcore_http.caller import caller_of
from dashcore_http.credentials import second_factor_proof, token_response
from dashcore_http.di import inject
from dashcore_http.openapi_problems import STEP_UP, problems
from dashcore_http.schemas.auth import TokenResponse
from dashcore_http.schemas.mfa import (
    MfaStatus,
    MfaVerifyRequest,
    RecoveryCodes,
    TotpConfirmRequest,
    TotpSetupResponse,
)

__all__ = ["MfaController"]

_NOT_ENABLED = problems(STEP_UP | {404: "`mfa_not_enabled`: the account has no authenticator app"})


class MfaController(Controller):
    path = "/auth/mfa"
    tags = ("mfa",)

    @post(
        "/verify",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Finish a login: second step",
        responses=problems({401: "`invalid_mfa_token` (unknown, expired, used), `invalid_code`"}),
    )
    @inject
    async def verify(
        self,
        data: JSONBody[MfaVerifyRequest],
        request: Request[Any, Any, Any],
        complete: FromDishka[CompleteMfaLogin],
    ) -> TokenResponse:
        """The ``mfa_token`` of ``POST /auth/login`` with a code from the authenticator app or a
        recovery code. 5 attempts per token; a wrong code also counts against the factor."""
        proof = second_factor_proof(data.code, data.recovery_code)
        return token_response(await complete(data.mfa_token, proof, caller_of(request)))

    @get("/", summary="Second factors of this account")
    @inject
    async def status(
        self, request: Request[Any, Any, Any], enrolment: FromDishka[TotpEnrolment]
    ) -> MfaStatus:
        state = await enrolment.state(principal(request).subject)
        return MfaStatus(
            totp="off" if state.totp is None else state.totp.value,
            confirmed_at=state.confirmed_at,
            recovery_codes_remaining=state.recovery_codes_remaining,
        )

    @post(
        "/totp",
        status_code=HTTP_201_CREATED,
        summary="Set up an authenticator app (step-up)",
        responses=problems(STEP_UP | {409: "`mfa_already_enabled`"}),
    )
    @inject
    async def enrol(
        self,
        request: Request[Any, Any, Any],
        enrolment: FromDishka[TotpEnrolment],
        gate: FromDishka[StepUpGate],
    ) -> TotpSetupResponse:
        """The secret is shown this once; two-step sign-in stays off until a code confirms it.
        Calling again before confirming replaces the secret."""
        claims = await recently_authenticated(request, gate)
        setup = await enrolment.start(claims.subject, caller_of(request))
        return TotpSetupResponse(secret=setup.secret, provisioning_uri=setup.provisioning_uri)

    @post(
        "/totp/confirm",
        status_code=HTTP_200_OK,
        summary="Turn the authenticator app on",
        responses=problems(
            {403: "`wrong_code`", 409: "`no_pending_enrolment`, `mfa_already_enabled`"}
        ),
    )
    @inject
    async def confirm(
        self,
        data: JSONBody[TotpConfirmRequest],
        request: Request[Any, Any, Any],
        enrolment: FromDishka[TotpEnrolment],
    ) -> RecoveryCodes:
        """A first valid code turns two-step sign-in on and ends every other session of the
        account; the 10 recovery codes are shown once."""
        claims = principal(request)
        codes = await enrolment.confirm(
            claims.subject, claims.session_id, data.code, caller_of(request)
        )
        return RecoveryCodes(codes)

    @delete(
        "/totp",
        status_code=204,
        summary="Turn the authenticator app off (step-up)",
        responses=_NOT_ENABLED,
    )
    @inject
    async def disable(
        self,
        request: Request[Any, Any, Any],
        enrolment: FromDishka[TotpEnrolment],
        gate: FromDishka[StepUpGate],
    ) -> None:
        claims = await recently_authenticated(request, gate)
        await enrolment.disable(claims.subject, caller_of(request))

    @post(
        "/recovery-codes",
        status_code=HTTP_201_CREATED,
        summary="Make new recovery codes (step-up)",
        responses=_NOT_ENABLED,
    )
    @inject
    async def regenerate(
        self,
        request: Request[Any, Any, Any],
        enrolment: FromDishka[TotpEnrolment],
        gate: FromDishka[StepUpGate],
    ) -> RecoveryCodes:
        """The old codes, used or not, stop working."""
        claims = await recently_authenticated(request, gate)
        return RecoveryCodes(
            await enrolment.regenerate_recovery_codes(claims.subject, caller_of(request))
        )
