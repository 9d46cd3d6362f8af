"""``/api/v1/providers``: the brokerage connections of the signed-in user.

Every route is owner-checked (another user's connection is a 404). Adding a connection and
deleting one are sensitive (step-up). The callback is public — the provider sends the browser
there — and accepts a state only from whoever started the flow: the same user and session
(bearer token), or the browser that holds the state cookie set when the flow started (OAUTH-1).
Each provider has one fixed callback, ``/api/v1/providers/callback/{provider}`` (OAUTH-2).
"""

from __future__ import annotations

import html
from typing import Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.datastructures import Cookie
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_303_SEE_OTHER

from dashcore.application.connections import (
    AuthorizationStarted,
    ConnectionAuthorization,
    Connections,
    RefreshConnections,
)
from dashcore.application.step_up import StepUpGate
from dashcore.domain.connections import (
    ConnectionStatus,
    KeyCredentials,
    ProviderConnection,
    ProviderDescriptor,
)
from dashcore.domain.errors import AuthenticationFailed, DashcoreError
from dashcore.ports.providers import ProviderRegistry
from dashcore_http.authentication import (
    ANONYMOUS,
    CALLED_BY_PROVIDERS,
    principal,
    recently_authenticated,
)
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.middleware import served_over_https
from dashcore_http.openapi_problems import STEP_UP, problems
from dashcore_http.problems import domain_status
from dashcore_http.schemas.providers import (
    AuthorizationRequest,
    AuthorizationStart,
    AuthorizationStatus,
    ConnectionCreate,
    ConnectionUpdate,
    ConnectionView,
    ProblemSummary,
    ProviderView,
)

__all__ = ["CALLBACK_PATH", "STATE_COOKIE", "ProvidersController"]

CALLBACK_PATH = "/api/v1/providers/callback"
STATE_COOKIE = "dashcore_provider_state"


def _provider(descriptor: ProviderDescriptor) -> ProviderView:
    return ProviderView(
        key=descriptor.key,
        name=descriptor.name,
        login_style=descriptor.login_style.value,
        refreshable=descriptor.refreshable,
        revocable=descriptor.revocable,
        configured=descriptor.configured,
        sandbox=descriptor.sandbox,
    )


def _problem(connection: ProviderConnection) -> ProblemSummary | None:
    error = connection.last_error
    return None if error is None else ProblemSummary(error.code, error.message)


def connection_view(connection: ProviderConnection) -> ConnectionView:
    return ConnectionView(
        id=connection.id,
        provider=connection.provider,
        alias=connection.alias,
        status=connection.status.value,
        scopes=tuple(sorted(scope.value for scope in connection.scopes)),
        created_at=connection.created_at,
        connected_at=connection.connected_at,
        expires_at=connection.expires_at,
        refresh_expires_at=connection.refresh_expires_at,
        last_refreshed_at=connection.last_refreshed_at,
        needs_reauth=connection.status is ConnectionStatus.NEEDS_REAUTH,
        last_error=_problem(connection),
    )


def authorization_status(connection: ProviderConnection) -> AuthorizationStatus:
    return AuthorizationStatus(
        connection_id=connection.id,
        status=connection.status.value,
        connected=connection.status is ConnectionStatus.CONNECTED,
        needs_reauth=connection.status is ConnectionStatus.NEEDS_REAUTH,
        expires_at=connection.expires_at,
        refresh_expires_at=connection.refresh_expires_at,
        last_refreshed_at=connection.last_refreshed_at,
        last_error=_problem(connection),
    )


def _state_cookie(started: AuthorizationStarted, secure: bool) -> Cookie:
    return Cookie(
        key=STATE_COOKIE,
        value=started.state,
        max_age=started.expires_in,
        path=CALLBACK_PATH,
        httponly=True,
        secure=secure,
        samesite="lax",
    )


def _wants_html(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept


def _result_page(connection: ProviderConnection) -> str:
    if connection.status is ConnectionStatus.CONNECTED:
        title, line = "Connected", "Your account is connected. You can close this window."
    else:
        title, line = "Not connected", "The provider did not connect the account. Try again."
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)} · dashcore</title>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(line)}</p></html>"
    )


def _failure_page(error: DashcoreError) -> str:
    """What a browser shows when a callback fails: the reason (messages are safe to show),
    its code for support, and what to do."""
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        "<title>Not connected · dashcore</title><h1>Not connected</h1>"
        f"<p>{html.escape(error.message)}</p>"
        f"<p>Start connecting again from the app. (Code: {html.escape(error.code)})</p></html>"
    )


class ProvidersController(Controller):
    path = "/providers"
    tags = ("providers",)

    @get("/available", summary="Providers this installation knows")
    @inject
    async def available(
        self, request: Request[Any, Any, Any], registry: FromDishka[ProviderRegistry]
    ) -> list[ProviderView]:
        return [_provider(d) for d in registry.available()]

    @get("/configured", summary="Providers ready to connect (credentials present)")
    @inject
    async def configured(
        self, request: Request[Any, Any, Any], registry: FromDishka[ProviderRegistry]
    ) -> list[ProviderView]:
        return [_provider(d) for d in registry.configured()]

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Add a connection (step-up)",
        responses=problems(
            STEP_UP
            | {
                404: "`provider_not_found`: no installed provider has this key",
                409: "`provider_not_configured`: no app credentials on this server",
            }
        ),
    )
    @inject
    async def create(
        self,
        data: JSONBody[ConnectionCreate],
        request: Request[Any, Any, Any],
        connections: FromDishka[Connections],
        gate: FromDishka[StepUpGate],
    ) -> ConnectionView:
        """A pending connection; authorize it next (``POST /providers/{id}/authorization``)."""
        claims = await recently_authenticated(request, gate)
        connection = await connections.create(
            claims.subject, data.provider, caller_of(request), alias=data.alias, trade=data.trade
        )
        return connection_view(connection)

    @get("/", summary="This account's connections")
    @inject
    async def list_connections(
        self, request: Request[Any, Any, Any], connections: FromDishka[Connections]
    ) -> list[ConnectionView]:
        return [connection_view(c) for c in await connections.list(principal(request).subject)]

    @get("/{connection_id:uuid}", summary="One connection")
    @inject
    async def get_connection(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        connections: FromDishka[Connections],
    ) -> ConnectionView:
        return connection_view(await connections.get(principal(request).subject, connection_id))

    @patch("/{connection_id:uuid}", summary="Rename a connection")
    @inject
    async def rename(
        self,
        connection_id: FromPath[UUID],
        data: JSONBody[ConnectionUpdate],
        request: Request[Any, Any, Any],
        connections: FromDishka[Connections],
    ) -> ConnectionView:
        user_id = principal(request).subject
        renamed = await connections.rename(user_id, connection_id, data.alias, caller_of(request))
        return connection_view(renamed)

    @delete(
        "/{connection_id:uuid}",
        status_code=204,
        summary="Remove a connection (step-up)",
        responses=problems(STEP_UP),
    )
    @inject
    async def remove(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        authorization: FromDishka[ConnectionAuthorization],
        gate: FromDishka[StepUpGate],
    ) -> None:
        """Revokes at the provider where it can, deletes the credentials and the connection."""
        claims = await recently_authenticated(request, gate)
        await authorization.disconnect(
            claims.subject, connection_id, caller_of(request), delete=True
        )

    @post(
        "/{connection_id:uuid}/authorization",
        status_code=HTTP_200_OK,
        summary="Authorize: a login link, or key credentials (step-up)",
        responses=problems(
            STEP_UP
            | {
                409: "`credentials_required` (a key provider), `redirect_required` (a redirect "
                "provider), `connection_disconnected`, `key_not_approved` (Groww)"
            }
        ),
    )
    @inject
    async def authorize(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        data: JSONBody[AuthorizationRequest],
        authorization: FromDishka[ConnectionAuthorization],
        gate: FromDishka[StepUpGate],
    ) -> Response[AuthorizationStart | AuthorizationStatus]:
        """Redirect providers (body ``{}`` or ``{"return_to": "/path"}``): 200
        ``{authorization_url, expires_in}`` and a state cookie for the callback; the provider's
        own login proves the credentials, so no step-up (a daily reconnect stays one login).
        Key providers: the credentials connect at once (200 status), nothing else proves them,
        so they need a recent sign-in (step-up) as adding a connection does."""
        claims, caller = principal(request), caller_of(request)
        body = data
        if any(given is not None for given in (body.api_key, body.api_secret, body.totp_code)):
            await recently_authenticated(request, gate)
            key = KeyCredentials(body.api_key or "", body.api_secret, body.totp_code)
            connected = await authorization.submit_key_credentials(
                claims.subject, connection_id, key, caller
            )
            return Response(authorization_status(connected))
        started = await authorization.start(
            claims.subject, claims.session_id, connection_id, caller, return_to=body.return_to
        )
        assert started.authorization_url is not None
        view = AuthorizationStart(
            authorization_url=started.authorization_url, expires_in=started.expires_in
        )
        secure = served_over_https(request.scope)
        return Response(view, cookies=[_state_cookie(started, secure)])

    @get("/{connection_id:uuid}/authorization", summary="Authorization status")
    @inject
    async def status(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        authorization: FromDishka[ConnectionAuthorization],
    ) -> AuthorizationStatus:
        connection = await authorization.status(principal(request).subject, connection_id)
        return authorization_status(connection)

    @post(
        "/{connection_id:uuid}/authorization/refresh",
        status_code=HTTP_200_OK,
        summary="Refresh the provider credentials now",
        responses=problems({409: "`refresh_not_supported`, `not_connected`"}),
    )
    @inject
    async def refresh(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        refresh: FromDishka[RefreshConnections],
    ) -> AuthorizationStatus:
        connection = await refresh.for_user(
            principal(request).subject, connection_id, caller_of(request)
        )
        return authorization_status(connection)

    @delete(
        "/{connection_id:uuid}/authorization",
        status_code=204,
        summary="Disconnect: revoke at the provider, delete the credentials (step-up)",
        responses=problems(STEP_UP),
    )
    @inject
    async def disconnect(
        self,
        connection_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        authorization: FromDishka[ConnectionAuthorization],
        gate: FromDishka[StepUpGate],
    ) -> None:
        """Like removing the connection, it cuts the account off its broker: a recent sign-in
        (step-up) is needed."""
        claims = await recently_authenticated(request, gate)
        await authorization.disconnect(claims.subject, connection_id, caller_of(request))

    @get(
        "/callback/{provider:str}",
        opt=CALLED_BY_PROVIDERS,
        security=ANONYMOUS,
        summary="Where providers send the browser back",
        responses={
            HTTP_303_SEE_OTHER: ResponseSpec(None, description="A browser, to its `return_to`"),
            **problems(
                {409: "`authorization_code_rejected` (start again), `connection_disconnected`"}
            ),
        },
    )
    @inject
    async def callback(
        self,
        provider: FromPath[str],
        request: Request[Any, Any, Any],
        authorization: FromDishka[ConnectionAuthorization],
    ) -> Response[Any]:
        """OAuth providers send ``code`` and ``state`` (or ``error``); Kite sends
        ``request_token``, ``status`` and our ``state`` through ``redirect_params``. Browsers get
        a small page (or a redirect to the ``return_to`` given at start), API clients JSON. A
        callback that fails is a problem document for API clients, and for browsers a page saying
        what went wrong, with the state cookie cleared (the state is spent)."""
        query = request.query_params
        bound_user, bound_session = None, None
        try:
            claims = principal(request)
            bound_user, bound_session = claims.subject, claims.session_id
        except AuthenticationFailed:
            pass  # a browser: the state cookie proves the binding
        denied = query.get("error") is not None or query.get("status") not in (None, "success")
        clear = Cookie(key=STATE_COOKIE, value="", max_age=0, path=CALLBACK_PATH)
        headers = {"Cache-Control": "no-store"}
        try:
            outcome = await authorization.callback(
                provider,
                caller_of(request),
                state=query.get("state"),
                code=query.get("code") or query.get("request_token"),
                error="denied" if denied else None,
                bound_user=bound_user,
                bound_session=bound_session,
                browser_state=request.cookies.get(STATE_COOKIE),
            )
        except DashcoreError as error:
            if not _wants_html(request):
                raise
            return Response(
                _failure_page(error),
                status_code=domain_status(error),
                media_type="text/html",
                cookies=[clear],
                headers=headers,
            )
        if not _wants_html(request):
            return Response(
                authorization_status(outcome.connection), cookies=[clear], headers=headers
            )
        if outcome.return_to is not None:
            return Redirect(
                outcome.return_to,
                status_code=HTTP_303_SEE_OTHER,
                cookies=[clear],
                headers=headers,
            )
        return Response(
            _result_page(outcome.connection),
            media_type="text/html",
            cookies=[clear],
            headers=headers,
        )
