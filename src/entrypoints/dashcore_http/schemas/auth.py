"""Bodies of the authentication, session and profile endpoints.

Input strings are bounded here so that nothing oversized reaches a use case (a password above
512 characters is refused before any hashing: security.md DOS-1; the policy's own limit is 128
code points). Unknown fields are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

__all__ = [
    "Accepted",
    "EmailRequest",
    "LoginRequest",
    "PasswordChange",
    "PasswordChanged",
    "Profile",
    "ProfileUpdate",
    "RefreshRequest",
    "RegisterRequest",
    "ResetCompletion",
    "ResetToken",
    "ResetTokenState",
    "SessionView",
    "TokenResponse",
    "VerifiedResponse",
    "VerifyEmailRequest",
]

EmailText = Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
PasswordText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
TokenText = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
ShortText = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
CodeText = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
"""A one-time, authenticator or recovery code (its exact shape is the domain's to check)."""
HandleText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
"""A challenge id or MFA token."""


class RegisterRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    email: EmailText
    password: PasswordText
    display_name: ShortText | None = None


class EmailRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: EmailText


class VerifyEmailRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``password`` is the one chosen at sign-up: required to confirm a registration, not
    needed for an email change's link."""

    token: TokenText
    password: PasswordText | None = None


class LoginRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Either ``password``, or ``otp`` with the ``challenge_id`` of ``POST
    /auth/otp-challenges`` (a code sent by email)."""

    email: EmailText
    password: PasswordText | None = None
    otp: CodeText | None = None
    challenge_id: HandleText | None = None
    remember_me: bool = False
    device_label: ShortText | None = None


class RefreshRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Any text (the body limit bounds it): a malformed refresh token is refused like every
    other one, 401 ``invalid_refresh_token``, not as a schema violation."""

    refresh_token: str


class Accepted(msgspec.Struct, frozen=True):
    """The one answer of endpoints that must not reveal whether an account exists."""

    status: Literal["accepted"] = "accepted"
    detail: str = "If the address can receive it, a message is on its way."


class VerifiedResponse(msgspec.Struct, frozen=True):
    status: Literal["verified"] = "verified"


class TokenResponse(msgspec.Struct, frozen=True, kw_only=True):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 (the RFC 6750 type name)
    expires_in: int
    refresh_token: str
    session_id: str


class SessionView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    device_label: str | None
    user_agent: str | None
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    current: bool


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    pending_email: str | None
    display_name: str | None
    verified: bool
    role: str
    plan: str | None
    created_at: datetime


class ProfileUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields left out stay as they are (``display_name: null`` clears the name). A new
    ``email`` needs ``current_password`` and only takes effect once the link mailed to it is
    opened."""

    display_name: ShortText | msgspec.UnsetType | None = msgspec.UNSET
    email: EmailText | None = None
    current_password: PasswordText | None = None


class PasswordChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    current_password: PasswordText
    new_password: PasswordText


class ResetToken(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A mailed reset token, in the body: a token in the URL would be written to every proxy's
    and load balancer's access log on the way."""

    token: TokenText


class ResetCompletion(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """With an authenticator app on the account, also ``code`` or ``recovery_code``."""

    token: TokenText
    password: PasswordText
    code: CodeText | None = None
    recovery_code: CodeText | None = None


class ResetTokenState(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["valid"] = "valid"
    second_factor_required: bool


class PasswordChanged(msgspec.Struct, frozen=True):
    status: Literal["password_changed"] = "password_changed"
