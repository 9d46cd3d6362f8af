"""Bodies of the one-time-code, second-factor and step-up endpoints.

Codes are bounded strings here; their exact shape (six ASCII digits, a recovery code) is
checked by the domain, which answers 422 ``invalid_code`` / ``invalid_recovery_code`` naming the
field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from dashcore_http.schemas.auth import CodeText, HandleText, PasswordText

__all__ = [
    "LoginCodeChallenge",
    "MfaRequiredResponse",
    "MfaStatus",
    "MfaVerifyRequest",
    "RecoveryCodes",
    "StepUpRequest",
    "TotpConfirmRequest",
    "TotpSetupResponse",
]


class LoginCodeChallenge(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to every ``POST /auth/otp-challenges``, whether or not a mail went out."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If the address can sign in, a code is on its way."
    challenge_id: str
    expires_in: int


class MfaRequiredResponse(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /auth/login`` with the right first factor when the account has an authenticator
    app: send ``mfa_token`` with a code to ``POST /auth/mfa/verify`` within ``expires_in``."""

    status: Literal["mfa_required"] = "mfa_required"
    mfa_token: str
    expires_in: int
    methods: tuple[str, ...]


class MfaVerifyRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of ``code`` (authenticator app) and ``recovery_code``."""

    mfa_token: HandleText
    code: CodeText | None = None
    recovery_code: CodeText | None = None


class StepUpRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of ``password`` (accounts without an authenticator app), ``code`` or
    ``recovery_code`` (accounts with one)."""

    password: PasswordText | None = None
    code: CodeText | None = None
    recovery_code: CodeText | None = None


class TotpSetupResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Shown once: put it in an authenticator app (scan the URI as a QR code), then confirm."""

    secret: str
    provisioning_uri: str
    status: Literal["pending"] = "pending"


class TotpConfirmRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: CodeText


class RecoveryCodes(msgspec.Struct, frozen=True):
    """Shown once. Each works one time, in place of an authenticator code."""

    recovery_codes: tuple[str, ...]


class MfaStatus(msgspec.Struct, frozen=True, kw_only=True):
    totp: Literal["off", "pending", "active"]
    confirmed_at: datetime | None
    recovery_codes_remaining: int
