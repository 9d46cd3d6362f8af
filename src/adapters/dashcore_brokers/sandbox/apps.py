"""The client applications registered with a sandbox and the user who signs in to it."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AppRegistry", "RegisteredApp", "SandboxUser"]


@dataclass(slots=True)
class RegisteredApp:
    """A developer app as the broker registered it: exact redirect URI, secret kept out of repr.

    ``refresh_enabled`` is Kite's "approved platform" flag (only such apps get refresh tokens);
    the OAuth brokers ignore it.
    """

    client_id: str
    secret: str = field(repr=False)
    redirect_uri: str
    name: str = "dashcore"
    refresh_enabled: bool = False


@dataclass(frozen=True, slots=True)
class SandboxUser:
    """The account holder who signs in on the sandbox's consent page."""

    user_id: str
    user_name: str
    short_name: str
    email: str


class AppRegistry:
    """Registered apps keyed by client id (Schwab app key, Kite/Groww api key, Upstox client id)."""

    def __init__(self, *apps: RegisteredApp) -> None:
        self._apps = {app.client_id: app for app in apps}

    def __repr__(self) -> str:
        return f"AppRegistry({sorted(self._apps)})"

    def register(self, app: RegisteredApp) -> None:
        """Add or replace an app."""
        self._apps[app.client_id] = app

    def get(self, client_id: str | None) -> RegisteredApp | None:
        """The app with that client id, if registered."""
        return self._apps.get(client_id) if client_id else None

    def set_redirect_uri(self, client_id: str, redirect_uri: str) -> None:
        """Change the one redirect URI an app accepts (it must match exactly)."""
        app = self._apps.get(client_id)
        if app is None:
            raise KeyError(client_id)
        app.redirect_uri = redirect_uri
