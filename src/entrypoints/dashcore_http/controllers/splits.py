"""``/api/v1/splits``: the stock splits the signed-in user records for their portfolio.

A split applies to the user's own trades, in every account, from its instant on (see
:mod:`dashcore.application.splits` for the rules). Every route is owner-checked: another user's
split is a 404 ``split_not_found``, as an unknown one is.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from dishka import FromDishka
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from dashcore.application.splits import SplitDetails, Splits
from dashcore.domain.trades import RecordedSplit
from dashcore_http.authentication import principal
from dashcore_http.caller import caller_of
from dashcore_http.di import inject
from dashcore_http.openapi_problems import problems
from dashcore_http.schemas.splits import SplitCreate, SplitList, SplitView

__all__ = ["SplitsController"]


def _view(recorded: RecordedSplit) -> SplitView:
    split = recorded.split
    return SplitView(
        id=recorded.id,
        symbol=split.instrument.symbol,
        exchange=split.instrument.exchange,
        numerator=split.numerator,
        denominator=split.denominator,
        effective_at=split.effective_at,
        recorded_at=recorded.recorded_at,
    )


class SplitsController(Controller):
    path = "/splits"
    tags = ("portfolio",)

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="Record a stock split",
        responses=problems(
            {409: "`split_already_recorded` (that instrument and instant), `split_limit_reached`"}
        ),
    )
    @inject
    async def record(
        self,
        data: JSONBody[SplitCreate],
        request: Request[Any, Any, Any],
        splits: FromDishka[Splits],
    ) -> SplitView:
        details = SplitDetails(
            symbol=data.symbol,
            exchange=data.exchange,
            numerator=data.numerator,
            denominator=data.denominator,
            effective_at=data.effective_at,
        )
        user_id = principal(request).subject
        return _view(await splits.record(user_id, details, caller_of(request)))

    @get("/", summary="This account's splits, oldest effective first")
    @inject
    async def list_splits(
        self, request: Request[Any, Any, Any], splits: FromDishka[Splits]
    ) -> SplitList:
        return SplitList(items=[_view(s) for s in await splits.list(principal(request).subject)])

    @get("/{split_id:uuid}", summary="One split")
    @inject
    async def get_split(
        self, split_id: FromPath[UUID], request: Request[Any, Any, Any], splits: FromDishka[Splits]
    ) -> SplitView:
        return _view(await splits.get(principal(request).subject, split_id))

    @delete("/{split_id:uuid}", status_code=204, summary="Delete a split")
    @inject
    async def delete_split(
        self, split_id: FromPath[UUID], request: Request[Any, Any, Any], splits: FromDishka[Splits]
    ) -> None:
        await splits.delete(principal(request).subject, split_id, caller_of(request))
