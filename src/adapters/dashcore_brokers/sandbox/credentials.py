"""Default test credentials of the sandboxes: public, fake, valid nowhere but here.

Adapter tests import these instead of inventing their own. Redirect URIs are the defaults each
sandbox accepts; change them with ``sandbox.apps.set_redirect_uri(...)`` or ``create_sandboxes``.
"""

from __future__ import annotations

__all__ = [
    "GROWW_API_KEY",
    "GROWW_API_SECRET",
    "GROWW_TOTP_SEED",
    "GROWW_TOTP_TOKEN",
    "KITE_API_KEY",
    "KITE_API_SECRET",
    "KITE_REDIRECT_URI",
    "SCHWAB_APP_KEY",
    "SCHWAB_APP_SECRET",
    "SCHWAB_REDIRECT_URI",
    "UPSTOX_CLIENT_ID",
    "UPSTOX_CLIENT_SECRET",
    "UPSTOX_REDIRECT_URI",
]

# Schwab: a 32-character app key and a 16-character secret, like the portal issues.
SCHWAB_APP_KEY = "SandboxSchwabAppKey0000000000001"
SCHWAB_APP_SECRET = "SandboxSecret001"  # noqa: S105
SCHWAB_REDIRECT_URI = "https://127.0.0.1:8182/callback/schwab"

KITE_API_KEY = "sandboxkiteapikey"
KITE_API_SECRET = "sandboxkiteapisecret00000000001"  # noqa: S105
KITE_REDIRECT_URI = "https://127.0.0.1:8182/callback/zerodha"

UPSTOX_CLIENT_ID = "sandbox-upstox-client-0001"
UPSTOX_CLIENT_SECRET = "sandboxupstoxsecret"  # noqa: S105
UPSTOX_REDIRECT_URI = "https://127.0.0.1:8182/callback/upstox"

# Groww: an API key approved for key/secret (checksum) minting, and a TOTP token with its seed.
GROWW_API_KEY = "sandbox-groww-api-key-0001"
GROWW_API_SECRET = "sandboxgrowwapisecret"  # noqa: S105
GROWW_TOTP_TOKEN = "sandbox-groww-totp-token-0001"  # noqa: S105
GROWW_TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
