"""RFC 6238 arithmetic with pyotp (security.md TOTP-1).

* **Secrets** are 32 base32 characters, 160 bits from the CSPRNG (pyotp draws them from
  ``secrets.SystemRandom``). 32 characters are a whole number of base32 blocks, so the text
  has no ``=`` padding for an authenticator app to stumble on.
* **Codes** are the HOTP value (RFC 4226) of the step counter the caller passes in. The caller
  computes it from the server clock with ``TotpPolicy.step_at``; this adapter never reads a
  clock, so the accepted window is decided in the domain alone.
* **Defaults** are TOTP-1's: SHA-1, 6 digits, 30-second steps. The other digests and lengths
  exist for the RFC 6238 Appendix B vectors and for importing factors made elsewhere; ``step``
  must equal the policy's step, as it only tells the authenticator app how often to roll.
* A **stored secret** that is not base32 or is shorter than 112 bits (NIST SP 800-63B-4
  §3.1.4.1; pyotp's floor) cannot produce codes: :class:`IntegrityError` with code
  ``totp_secret_unusable``, whose message never contains the secret.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Literal

import pyotp

from dashcore.domain.errors import IntegrityError
from dashcore.ports.mfa import TotpAlgorithm

__all__ = ["SECRET_LENGTH", "PyotpTotp", "TotpDigest"]

SECRET_LENGTH = 32
"""Base32 characters of a new secret: 32 × 5 = 160 bits (TOTP-1)."""

TotpDigest = Literal["sha1", "sha256", "sha512"]

_DIGESTS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
)
_MAX_STEP = timedelta(seconds=120)


class PyotpTotp(TotpAlgorithm):
    """TOTP codes, secrets and provisioning URIs; holds parameters only, never a secret."""

    def __init__(
        self,
        *,
        digits: int = 6,
        digest: TotpDigest = "sha1",
        step: timedelta = timedelta(seconds=30),
    ) -> None:
        if not 6 <= digits <= 8:
            raise ValueError("a TOTP code has 6, 7 or 8 digits (RFC 4226)")
        if digest not in _DIGESTS:
            raise ValueError(f"unsupported TOTP digest {digest!r}")
        if not timedelta(0) < step <= _MAX_STEP or step.microseconds:
            raise ValueError("the TOTP step is a whole number of seconds from 1 to 120")
        self.digits = digits
        self.digest = digest
        self.step = step

    def __repr__(self) -> str:
        seconds = int(self.step.total_seconds())
        return f"PyotpTotp(digits={self.digits}, digest={self.digest!r}, step={seconds}s)"

    def new_secret(self) -> str:
        return pyotp.random_base32(SECRET_LENGTH)

    def code_at(self, secret: str, step: int) -> str:
        if step < 0:
            raise ValueError("a TOTP step counter is not negative")
        return self._totp(secret).generate_otp(step)

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        """The ``otpauth://totp/<issuer>:<account>?secret=…&issuer=…`` URI, with ``algorithm``,
        ``digits`` and ``period`` present only when they differ from the app defaults (SHA1, 6,
        30). The Key URI format forbids a colon in the issuer, so one is refused; the account is
        percent-encoded as it stands."""
        if not account or not issuer:
            raise ValueError("an authenticator entry needs an account and an issuer")
        if ":" in issuer:
            raise ValueError("the issuer of an authenticator entry cannot contain ':'")
        return self._totp(secret).provisioning_uri(name=account, issuer_name=issuer)

    def _totp(self, secret: str) -> pyotp.TOTP:
        try:
            return pyotp.TOTP(
                secret,
                digits=self.digits,
                digest=_DIGESTS[self.digest],
                interval=int(self.step.total_seconds()),
            )
        except ValueError as exc:
            raise IntegrityError(
                "The stored TOTP secret cannot produce codes.", code="totp_secret_unusable"
            ) from exc
