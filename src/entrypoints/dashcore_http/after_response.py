"""Work that runs once the answer has gone out (security.md ENUM-1).

A route whose answer must not depend on what its work finds — asking for a reset link or a
new verification link for an address that may or may not have an account — answers at once
and does the work afterwards, in a REQUEST scope of its own (the handler's is closed by then).
Its status, body and timing are then the same for every address. The work runs in the server
process before the request is done (a graceful shutdown waits for it); if it fails, the
failure is logged, since the answer is already on its way: the person asks again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import structlog
from dishka import AsyncContainer
from litestar import Request, Response
from litestar.background_tasks import BackgroundTask
from litestar.status_codes import HTTP_202_ACCEPTED

from dashcore.domain.context import CallerContext
from dashcore.domain.email import Email
from dashcore_http.caller import caller_of
from dashcore_http.di import CONTAINER_STATE_KEY
from dashcore_http.schemas.auth import Accepted

__all__ = ["MailingUseCase", "accepted_for_any_address", "after_response"]

T = TypeVar("T")


class MailingUseCase(Protocol):
    """A use case that mails an address's account, or nothing, and tells the caller nothing."""

    async def __call__(self, email: Email, caller: CallerContext) -> None: ...


M = TypeVar("M", bound=MailingUseCase)

_log = structlog.get_logger("dashcore_http")


def accepted_for_any_address(
    request: Request[Any, Any, Any], address: str, kind: type[M]
) -> Response[Accepted]:
    """202 at once for any well-formed ``address`` (a malformed one is ``InvalidInput``); the
    use case ``kind`` runs on it after the answer."""
    email, caller = Email(address), caller_of(request)

    async def work(use_case: M) -> None:
        await use_case(email, caller)

    background = after_response(request, kind, work)
    return Response(Accepted(), status_code=HTTP_202_ACCEPTED, background=background)


def after_response(
    request: Request[Any, Any, Any], kind: type[T], work: Callable[[T], Awaitable[None]]
) -> BackgroundTask:
    """Run ``work`` on the use case ``kind`` after the response is sent (``Response(...,
    background=after_response(...))``)."""
    container: AsyncContainer = request.app.state[CONTAINER_STATE_KEY]
    return BackgroundTask(_run, container, request, kind, work)


async def _run(
    container: AsyncContainer,
    request: Request[Any, Any, Any],
    kind: type[T],
    work: Callable[[T], Awaitable[None]],
) -> None:
    try:
        async with container(context={Request: request}) as scope:
            await work(await scope.get(kind))
    except Exception as error:
        _log.warning("after_response_failed", work=kind.__name__, error=repr(error))
