"""The control routes of every sandbox, for people and scripts (``/__sandbox__/…``).

- ``POST /__sandbox__/faults``: arm a fault (JSON :class:`FaultSpec`) → 201 with the rule;
- ``GET /__sandbox__/faults``: the armed rules; ``DELETE /__sandbox__/faults``: disarm all;
  ``DELETE /__sandbox__/faults/{id}``: disarm one;
- ``POST /__sandbox__/tokens/expire`` and ``/tokens/revoke``: ``{"token": "…"}`` for one
  credential, ``{}`` for every active one → ``{"changed": n}``;
- ``GET`` / ``PATCH /__sandbox__/settings``: consent mode and refresh-token rotation.

Errors here are plain ``{"error": "…"}`` bodies: these routes are the sandbox's, not the broker's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath, JSONBody

from dashcore_brokers.sandbox._wire import json_response
from dashcore_brokers.sandbox.faults import FaultKind, FaultRule
from dashcore_brokers.sandbox.settings import ConsentMode

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.core import BrokerSandbox

__all__ = [
    "CONTROL_PREFIX",
    "FaultSpec",
    "SettingsPatch",
    "TokenTarget",
    "control_error",
    "control_router",
]

CONTROL_PREFIX = "/__sandbox__"


class FaultSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A fault as sent over HTTP; see :class:`FaultRule` for the meaning of each field."""

    path: str
    kind: FaultKind
    method: str | None = None
    status: int = 503
    seconds: float = 30.0
    retry_after: int | None = None
    times: int | None = 1


class TokenTarget(msgspec.Struct, forbid_unknown_fields=True):
    """One credential to act on, or every active one when ``token`` is omitted."""

    token: str | None = None


class SettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    """The settings to change; omitted fields keep their value."""

    consent: ConsentMode | None = None
    rotate_refresh_tokens: bool | None = None


def _rule_view(rule: FaultRule) -> dict[str, object]:
    return {
        "id": rule.id,
        "path": rule.path,
        "method": rule.method,
        "kind": rule.kind.value,
        "status": rule.status,
        "seconds": rule.seconds,
        "retry_after": rule.retry_after,
        "times": rule.times,
        "remaining": rule.remaining,
    }


def control_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return json_response(exc.status_code, {"error": exc.detail})


def control_router(sandbox: BrokerSandbox) -> Router:
    """The ``/__sandbox__`` routes acting on ``sandbox``."""

    def settings_view() -> dict[str, object]:
        return {
            "consent": sandbox.settings.consent.value,
            "rotate_refresh_tokens": sandbox.settings.rotate_refresh_tokens,
        }

    @post("/faults", status_code=201)
    async def add_fault(data: JSONBody[FaultSpec]) -> dict[str, object]:
        try:
            rule = FaultRule(**msgspec.structs.asdict(data))
        except ValueError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from exc
        return _rule_view(sandbox.faults.add(rule))

    @get("/faults")
    async def list_faults() -> list[dict[str, object]]:
        return [_rule_view(rule) for rule in sandbox.faults.rules]

    @delete("/faults")
    async def clear_faults() -> None:
        sandbox.faults.clear()

    @delete("/faults/{fault_id:str}")
    async def remove_fault(fault_id: FromPath[str]) -> None:
        if not sandbox.faults.remove(fault_id):
            raise HTTPException(status_code=404, detail="no such fault")

    @post("/tokens/expire", status_code=200)
    async def expire_tokens(data: JSONBody[TokenTarget]) -> dict[str, int]:
        return {"changed": sandbox.tokens.expire(data.token)}

    @post("/tokens/revoke", status_code=200)
    async def revoke_tokens(data: JSONBody[TokenTarget]) -> dict[str, int]:
        return {"changed": sandbox.tokens.revoke(data.token)}

    @get("/settings")
    async def read_settings() -> dict[str, object]:
        return settings_view()

    @patch("/settings")
    async def change_settings(data: JSONBody[SettingsPatch]) -> dict[str, object]:
        if data.consent is not None:
            sandbox.settings.consent = data.consent
        if data.rotate_refresh_tokens is not None:
            sandbox.settings.rotate_refresh_tokens = data.rotate_refresh_tokens
        return settings_view()

    return Router(
        path=CONTROL_PREFIX,
        route_handlers=[
            add_fault,
            list_faults,
            clear_faults,
            remove_fault,
            expire_tokens,
            revoke_tokens,
            read_settings,
            change_settings,
        ],
        exception_handlers={HTTPException: control_error},
    )
