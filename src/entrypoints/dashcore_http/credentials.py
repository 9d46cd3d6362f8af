"""Turning credential bodies into use-case arguments and issued tokens into bodies; shared by
the login, MFA, step-up and password-reset endpoints."""

from __future__ import annotations

from dashcore.application.access import IssuedTokens
from dashcore.application.second_factor import SecondFactorProof
from dashcore.domain.errors import InvalidInput
from dashcore_http.schemas.auth import TokenResponse

__all__ = ["optional_second_factor", "second_factor_proof", "token_response"]


def token_response(issued: IssuedTokens) -> TokenResponse:
    return TokenResponse(
        access_token=issued.access_token,
        expires_in=issued.expires_in,
        refresh_token=issued.refresh_token,
        session_id=issued.session_id,
    )


def optional_second_factor(code: str | None, recovery_code: str | None) -> SecondFactorProof | None:
    """The proof a body carries, if any: ``code`` or ``recovery_code``, never both."""
    if code is not None and recovery_code is not None:
        raise InvalidInput("Give only one of code and recovery_code.", field="recovery_code")
    return SecondFactorProof.of(code=code, recovery_code=recovery_code)


def second_factor_proof(code: str | None, recovery_code: str | None) -> SecondFactorProof:
    """The one proof a body must carry: ``code`` or ``recovery_code``."""
    proof = optional_second_factor(code, recovery_code)
    if proof is None:
        raise InvalidInput("Give a code or a recovery_code.", field="code")
    return proof
