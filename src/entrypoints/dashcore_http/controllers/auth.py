"""``/api/v1/auth``: registration, verification, login, tokens, sessions and the profile.

Controllers translate HTTP to use-case calls and back; the rules live in
``dashcore.application``. Endpoints that must not reveal whether an account exists answer
with the same status and body either way.
"""

from __future__ import annotations

from typing import Any

import msgspec
from dishka import FromDishka
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from dashcore.application.login import Login, LoginAttempt
from dashcore.application.otp_login import OtpLogin, OtpLoginAttempt, RequestLoginCode
from dashcore.application.profile import ChangeEmail, GetProfile, UpdateProfile
from dashcore.application.registration import (
    RegisterUser,
    Registration,
    ResendVerification,
    VerifyEmail,
)
from dashcore.application.sessions import Sessions
from dashcore.application.sign_in import LoginResult, MfaRequired
from dashcore.application.step_up import StepUp, StepUpGate, StepUpProof
from dashcore.application.token_refresh import RefreshTokens
from dashcore.domain.errors import InvalidInput
from dashcore.domain.sessions import RevocationReason, Session
from dashcore.domain.users import User
from dashcore_http.after_response import accepted_for_any_address
from dashcore_http.authentication import ANONYMOUS, PUBLIC, principal, recently_authenticated
from dashcore_http.caller import caller_of
from dashcore_http.credentials import optional_second_factor, token_response
from dashcore_http.di import app_object, inject
from dashcore_http.openapi_problems import STEP_UP, problems
from dashcore_http.responses import json_body
from dashcore_http.schemas.auth import (
    Accepted,
    EmailRequest,
    LoginRequest,
    Profile,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    SessionView,
    TokenResponse,
    VerifiedResponse,
    VerifyEmailRequest,
)
from dashcore_http.schemas.mfa import LoginCodeChallenge, MfaRequiredResponse, StepUpRequest

__all__ = ["AuthController"]


def _login_response(result: LoginResult) -> Response[TokenResponse | MfaRequiredResponse]:
    if isinstance(result, MfaRequired):
        body = MfaRequiredResponse(
            mfa_token=result.mfa_token, expires_in=result.expires_in, methods=result.methods
        )
        return Response(body, status_code=HTTP_202_ACCEPTED)
    return Response(token_response(result), status_code=HTTP_200_OK)


def _profile(user: User) -> Profile:
    return Profile(
        id=user.id,
        email=user.email.value,
        pending_email=None if user.pending_email is None else user.pending_email.value,
        display_name=user.display_name,
        verified=user.verified,
        role=user.role.value,
        plan=user.plan,
        created_at=user.created_at,
    )


def _session(session: Session, current: str) -> SessionView:
    return SessionView(
        id=session.id,
        device_label=session.device_label,
        user_agent=session.user_agent,
        ip=session.ip,
        created_at=session.created_at,
        last_seen_at=session.last_seen_at,
        expires_at=session.expires_at,
        current=session.id == current,
    )


class AuthController(Controller):
    path = "/auth"
    tags = ("auth",)

    @post(
        "/register",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_201_CREATED,
        summary="Create an account",
    )
    @inject
    async def register(
        self,
        data: JSONBody[RegisterRequest],
        request: Request[Any, Any, Any],
        register: FromDishka[RegisterUser],
    ) -> Accepted:
        """Always 201 with the same body: an address that already has an account gets a mail
        saying so instead of a second account (no enumeration oracle)."""
        await register(
            Registration(data.email, data.password, data.display_name), caller_of(request)
        )
        return Accepted()

    @post(
        "/verify-email",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Prove an address",
        responses=problems(
            {
                403: "`wrong_password`: not the password of the sign-up this link confirms "
                "(the link stays usable)",
                409: "`email_taken`: another account took the new address; the change is dropped",
                429: "`account_locked` (too many wrong passwords; see `Retry-After`), or too "
                "many requests",
            }
        ),
    )
    @inject
    async def verify_email(
        self,
        data: JSONBody[VerifyEmailRequest],
        request: Request[Any, Any, Any],
        verify: FromDishka[VerifyEmail],
    ) -> VerifiedResponse:
        """A registration's link needs the password chosen at sign-up; an email change's link
        needs no password."""
        await verify(data.token, caller_of(request), data.password)
        return VerifiedResponse()

    @post(
        "/verification-emails",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_202_ACCEPTED,
        summary="Send the verification link again",
    )
    async def resend_verification(
        self, data: JSONBody[EmailRequest], request: Request[Any, Any, Any]
    ) -> Response[Accepted]:
        """202 at once for any address; the work runs after the answer (ENUM-1)."""
        return accepted_for_any_address(request, data.email, ResendVerification)

    @post(
        "/login",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Log in with a password or an emailed code",
        responses={
            200: ResponseSpec(TokenResponse, description="Signed in"),
            202: ResponseSpec(
                MfaRequiredResponse, description="Right first factor: the second is due"
            ),
            **problems(
                {401: "`invalid_credentials` (one answer for every refusal), `invalid_code`"}
            ),
        },
    )
    @inject
    async def login(
        self,
        data: JSONBody[LoginRequest],
        request: Request[Any, Any, Any],
        login: FromDishka[Login],
        otp_login: FromDishka[OtpLogin],
    ) -> Response[TokenResponse | MfaRequiredResponse]:
        """``{email, password}``, or ``{email, otp, challenge_id}`` after ``POST
        /auth/otp-challenges``. 200 with tokens, or 202 with an ``mfa_token`` when the account
        has an authenticator app (finish with ``POST /auth/mfa/verify``)."""
        caller = caller_of(request)
        by_code = data.otp is not None or data.challenge_id is not None
        if data.password is not None and not by_code:
            attempt = LoginAttempt(data.email, data.password, data.remember_me, data.device_label)
            return _login_response(await login(attempt, caller))
        if data.password is None and data.otp is not None and data.challenge_id is not None:
            code_attempt = OtpLoginAttempt(
                data.email, data.otp, data.challenge_id, data.remember_me, data.device_label
            )
            return _login_response(await otp_login(code_attempt, caller))
        raise InvalidInput(
            "Give either password, or otp together with challenge_id.", field="password"
        )

    @post(
        "/otp-challenges",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_202_ACCEPTED,
        summary="Email a sign-in code",
    )
    @inject
    async def request_login_code(
        self,
        data: JSONBody[EmailRequest],
        request: Request[Any, Any, Any],
        request_code: FromDishka[RequestLoginCode],
    ) -> LoginCodeChallenge:
        """Always 202 with a challenge id, whether or not the address can sign in (only then is
        a code mailed). Codes last 5 minutes; at most one a minute and five an hour per address."""
        sent = await request_code(data.email, caller_of(request))
        return LoginCodeChallenge(challenge_id=sent.challenge_id, expires_in=sent.expires_in)

    @post(
        "/step-up",
        status_code=HTTP_200_OK,
        summary="Confirm it's you (re-authenticate)",
        responses=problems(
            {
                403: "`wrong_password`, `wrong_code`, `second_factor_required`",
                429: "`account_locked` (five wrong passwords; see `Retry-After`), or too many "
                "requests",
            }
        ),
    )
    @inject
    async def step_up(
        self,
        data: JSONBody[StepUpRequest],
        request: Request[Any, Any, Any],
        step_up: FromDishka[StepUp],
    ) -> TokenResponse:
        """With the authenticator app's ``code`` (or a ``recovery_code``) when the account has
        one, else the ``password``. Answers with a new session's tokens; this session ends."""
        claims = principal(request)
        proof = StepUpProof(
            password=data.password,
            second_factor=optional_second_factor(data.code, data.recovery_code),
        )
        issued = await step_up(claims.subject, claims.session_id, proof, caller_of(request))
        return token_response(issued)

    @post(
        "/refresh",
        opt=PUBLIC,
        security=ANONYMOUS,
        status_code=HTTP_200_OK,
        summary="Rotate the refresh token",
        responses=problems({401: "`invalid_refresh_token` (unknown, expired, revoked or reused)"}),
    )
    @inject
    async def refresh(
        self,
        data: JSONBody[RefreshRequest],
        request: Request[Any, Any, Any],
        refresh: FromDishka[RefreshTokens],
    ) -> TokenResponse:
        return token_response(await refresh(data.refresh_token, caller_of(request)))

    @post("/logout", status_code=204, summary="End this session")
    @inject
    async def logout(self, request: Request[Any, Any, Any], sessions: FromDishka[Sessions]) -> None:
        claims = principal(request)
        await sessions.revoke(
            claims.subject,
            claims.session_id,
            caller=caller_of(request),
            reason=RevocationReason.LOGOUT,
        )

    @post("/logout-all", status_code=204, summary="End every session of this account")
    @inject
    async def logout_all(
        self, request: Request[Any, Any, Any], sessions: FromDishka[Sessions]
    ) -> None:
        claims = principal(request)
        await sessions.revoke_all(claims.subject, caller=caller_of(request))

    @get("/sessions", summary="This account's active sessions")
    @inject
    async def list_sessions(
        self, request: Request[Any, Any, Any], sessions: FromDishka[Sessions]
    ) -> list[SessionView]:
        claims = principal(request)
        return [_session(s, claims.session_id) for s in await sessions.list_active(claims.subject)]

    @delete("/sessions/{session_id:str}", status_code=204, summary="End one session")
    @inject
    async def revoke_session(
        self,
        session_id: FromPath[str],
        request: Request[Any, Any, Any],
        sessions: FromDishka[Sessions],
    ) -> None:
        """Another user's session id is a 404, exactly like one that does not exist."""
        claims = principal(request)
        await sessions.revoke(claims.subject, session_id, caller=caller_of(request))

    @get(
        "/me",
        summary="The signed-in account",
        responses={200: ResponseSpec(Profile, description="The account")},
    )
    async def me(self, request: Request[Any, Any, Any]) -> ASGIResponse:
        """Served from the profile snapshot (no request scope, no database on a hit) and
        encoded straight to bytes: it is read on every page load of a front end."""
        profile = await app_object(request, GetProfile)
        return json_body(_profile(await profile(principal(request).subject)))

    @patch(
        "/me",
        summary="Change the profile",
        responses=problems(
            STEP_UP
            | {
                403: "`wrong_password`: the `current_password` of an email change is wrong",
                409: "`email_unchanged`: that is already the account's address",
            }
        ),
    )
    @inject
    async def update_me(
        self,
        data: JSONBody[ProfileUpdate],
        request: Request[Any, Any, Any],
        update: FromDishka[UpdateProfile],
        change_email: FromDishka[ChangeEmail],
        profile: FromDishka[GetProfile],
        gate: FromDishka[StepUpGate],
    ) -> Profile:
        """Changing ``email`` is sensitive: it needs a recent sign-in (step-up) as well as
        ``current_password``."""
        user_id, caller = principal(request).subject, caller_of(request)
        if data.email is not None:
            await recently_authenticated(request, gate)
            if data.current_password is None:
                raise InvalidInput(
                    "Changing the email needs the current password.", field="current_password"
                )
            await change_email(
                user_id,
                new_email=data.email,
                current_password=data.current_password,
                caller=caller,
            )
        if data.display_name is not msgspec.UNSET:
            await update(user_id, display_name=data.display_name, caller=caller)
        return _profile(await profile(user_id))
