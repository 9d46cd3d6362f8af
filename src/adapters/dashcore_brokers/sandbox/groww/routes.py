"""Groww routes: ``POST /v1/token/api/access`` (mint) and ``GET /v1/user/detail`` (profile).

Business rules (``reference/brokers.md`` §4.2-4.3, §4.7):
- the mint authenticates the key with ``Authorization: Bearer <api key>``; an approval key sends
  ``{"key_type": "approval", "checksum", "timestamp"}`` with
  ``checksum = sha256(api_secret + str(timestamp))`` and a timestamp (int or digit string, epoch
  seconds) within 10 minutes of now; a TOTP key sends ``{"key_type": "totp", "totp": "123456"}``;
- the answer is flat: ``token``, ``tokenRefId``, ``sessionName``, ``expiry`` (ISO 8601, India
  time), ``isActive``; mint errors carry ``error.displayMessage``;
- a minted token dies at the next 06:00 Asia/Kolkata; there is no refresh and no revoke API;
- API calls carry ``Authorization: Bearer <token>`` and ``X-API-VERSION: 1.0``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, get, post

from dashcore_brokers.sandbox._wire import bearer_token, json_response
from dashcore_brokers.sandbox.groww.keys import GrowwKey, KeyType
from dashcore_brokers.sandbox.groww.totp import verify_totp
from dashcore_brokers.sandbox.groww.wire import fail, require_headers, success
from dashcore_brokers.sandbox.lifetimes import GROWW_DAILY_RESET, KOLKATA, next_wall_clock
from dashcore_brokers.sandbox.settings import ConsentMode
from dashcore_brokers.sandbox.tokens import Grant, GrantKind

if TYPE_CHECKING:
    from dashcore_brokers.sandbox.groww.sandbox import GrowwSandbox

__all__ = ["CHECKSUM_WINDOW", "groww_checksum", "token_router", "user_router"]

CHECKSUM_WINDOW = timedelta(minutes=10)


def groww_checksum(api_secret: str, timestamp: int | str) -> str:
    """Groww's approval checksum: hex SHA-256 of the secret followed by the epoch seconds."""
    return hashlib.sha256(f"{api_secret}{timestamp}".encode()).hexdigest()


def _mint_error(status: int, message: str) -> Exception:
    return fail(status, message, display=True)


def _check_approval(sandbox: GrowwSandbox, key: GrowwKey, body: dict[str, Any]) -> None:
    if sandbox.settings.consent is ConsentMode.DENY:
        raise _mint_error(403, "API key is not approved for today")
    checksum, timestamp = body.get("checksum"), body.get("timestamp")
    if not isinstance(checksum, str) or not checksum:
        raise _mint_error(400, "checksum is required")
    if isinstance(timestamp, bool) or not (
        isinstance(timestamp, int) or (isinstance(timestamp, str) and timestamp.isdigit())
    ):
        raise _mint_error(400, "timestamp must be epoch seconds")
    sent_at = datetime.fromtimestamp(int(timestamp), tz=sandbox.clock.now().tzinfo)
    if abs(sandbox.clock.now() - sent_at) > CHECKSUM_WINDOW:
        raise _mint_error(400, "timestamp is outside the allowed window")
    if not hmac.compare_digest(groww_checksum(key.secret, timestamp), checksum.lower()):
        raise _mint_error(400, "Invalid checksum")


def _check_totp(sandbox: GrowwSandbox, key: GrowwKey, body: dict[str, Any]) -> None:
    code = body.get("totp")
    if not isinstance(code, str) or not code.isdigit() or len(code) != 6:
        raise _mint_error(400, "totp must be a 6-digit code")
    if not verify_totp(key.secret, code, sandbox.clock.now()):
        raise _mint_error(400, "Invalid TOTP")


def token_router(sandbox: GrowwSandbox) -> Router:
    """The token-mint route of the Groww sandbox."""

    @post("/access", status_code=200)
    async def mint(request: Request[Any, Any, Any]) -> Response[Any]:
        api_key = bearer_token(request)
        key = sandbox.keys.get(api_key) if api_key else None
        if key is None:
            raise _mint_error(401, "Invalid API key")
        try:
            body = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as exc:
            raise _mint_error(400, "Request body must be JSON") from exc
        if not isinstance(body, dict) or body.get("key_type") != key.key_type.value:
            raise _mint_error(400, f"key_type must be {key.key_type.value!r} for this key")
        if key.key_type is KeyType.APPROVAL:
            _check_approval(sandbox, key, body)
        else:
            _check_totp(sandbox, key, body)
        now = sandbox.clock.now()
        expires_at = next_wall_clock(now, GROWW_DAILY_RESET)
        grant = Grant(
            kind=GrantKind.ACCESS,
            client_id=key.api_key,
            user_id=sandbox.user.user_id,
            login_id=sandbox.tokens.new_login_id(),
            login_at=now,
            issued_at=now,
            expires_at=expires_at,
        )
        token = sandbox.tokens.mint(grant)
        answer = {
            "token": token,
            "tokenRefId": secrets.token_hex(8),
            "sessionName": "dashcore",
            "expiry": expires_at.astimezone(KOLKATA).isoformat(),
            "isActive": True,
        }
        return json_response(200, answer, {"Cache-Control": "no-store"})

    return Router(path="/v1/token/api", route_handlers=[mint])


def user_router(sandbox: GrowwSandbox) -> Router:
    """The user routes of the Groww sandbox."""

    @get("/detail")
    async def detail(request: Request[Any, Any, Any]) -> Response[Any]:
        require_headers(request)
        token = bearer_token(request)
        if token is None or sandbox.tokens.active(token, GrantKind.ACCESS) is None:
            raise fail(401, "Access token is invalid or expired")
        user = sandbox.user
        return success(
            {
                "vendor_user_id": user.user_id,
                "ucc": "SBX0001",
                "nse_enabled": True,
                "bse_enabled": True,
                "ddpi_enabled": False,
                "active_segments": ["CASH", "FNO"],
            }
        )

    return Router(path="/v1/user", route_handlers=[detail])
