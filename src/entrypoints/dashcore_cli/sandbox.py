"""``dashcore sandbox``: run one broker simulator standalone over HTTP, or list them.

``dashcore sandbox serve zerodha`` serves the Kite sandbox on ``127.0.0.1:8302`` under granian
(one worker: a sandbox keeps its state in memory), on the system clock, with the one-click
consent page for browser logins, seeded with its market (see ``docs/sandboxes.md``). It prints
the base URL, the sandbox's public test credentials and the seeded account. Control routes
(faults, prices, end of day, deposits) are under ``/__sandbox__``.
"""

from __future__ import annotations

import os

import click
from granian import Granian
from granian.constants import Interfaces, Loops

from dashcore_brokers.sandbox import (
    SANDBOX_KEYS,
    BrokerSandbox,
    ConsentMode,
    create_sandboxes,
    first_id_at,
)
from dashcore_brokers.sandbox.control import CONTROL_PREFIX
from dashcore_brokers.sandbox.credentials import (
    GROWW_API_KEY,
    GROWW_API_SECRET,
    GROWW_TOTP_SEED,
    GROWW_TOTP_TOKEN,
    KITE_API_KEY,
    KITE_API_SECRET,
    KITE_REDIRECT_URI,
    SCHWAB_APP_KEY,
    SCHWAB_APP_SECRET,
    SCHWAB_REDIRECT_URI,
    UPSTOX_CLIENT_ID,
    UPSTOX_CLIENT_SECRET,
    UPSTOX_REDIRECT_URI,
)
from dashcore_cli.serve import check_listen
from dashcore_system.clock import SystemClock

__all__ = ["groww_app", "sandbox", "schwab_app", "upstox_app", "zerodha_app"]

DEFAULT_PORTS = {"schwab": 8301, "zerodha": 8302, "upstox": 8303, "groww": 8304}

# Public, fake credentials that are valid nowhere but in the sandboxes.
_CREDENTIALS: dict[str, tuple[tuple[str, str], ...]] = {
    "schwab": (
        ("app key", SCHWAB_APP_KEY),
        ("app secret", SCHWAB_APP_SECRET),
        ("redirect URI", SCHWAB_REDIRECT_URI),
    ),
    "zerodha": (
        ("api_key", KITE_API_KEY),
        ("api_secret", KITE_API_SECRET),
        ("redirect URL", KITE_REDIRECT_URI),
    ),
    "upstox": (
        ("client_id", UPSTOX_CLIENT_ID),
        ("client_secret", UPSTOX_CLIENT_SECRET),
        ("redirect_uri", UPSTOX_REDIRECT_URI),
    ),
    "groww": (
        ("API key", GROWW_API_KEY),
        ("API secret", GROWW_API_SECRET),
        ("TOTP token", GROWW_TOTP_TOKEN),
        ("TOTP seed", GROWW_TOTP_SEED),
    ),
}


REDIRECT_URI_ENV = "DASHCORE_SANDBOX_REDIRECT_URI"
"""How ``serve --redirect-uri`` reaches the factory in granian's worker process."""
_REDIRECTED = ("schwab", "zerodha", "upstox")
"""The sandboxes whose login sends the browser back to a registered redirect URI."""


def _standalone(key: str) -> BrokerSandbox:
    """One broker's sandbox as people use it: system clock, consent page, seeded market, and
    the redirect URI ``serve --redirect-uri`` registered (else the documented default)."""
    uri = os.environ.get(REDIRECT_URI_ENV) if key in _REDIRECTED else None
    clock = SystemClock()
    return create_sandboxes(
        clock,
        consent=ConsentMode.PAGE,
        redirect_uris={key: uri} if uri else None,
        first_id=first_id_at(clock.now()),
    )[key]


def schwab_app() -> BrokerSandbox:
    """Granian factory: the Schwab sandbox."""
    return _standalone("schwab")


def zerodha_app() -> BrokerSandbox:
    """Granian factory: the Kite sandbox."""
    return _standalone("zerodha")


def upstox_app() -> BrokerSandbox:
    """Granian factory: the Upstox sandbox."""
    return _standalone("upstox")


def groww_app() -> BrokerSandbox:
    """Granian factory: the Groww sandbox."""
    return _standalone("groww")


def _describe(sandbox: BrokerSandbox) -> list[str]:
    exchange = sandbox.exchange
    venues = sorted({listing.exchange for listing in exchange.list_instruments()})
    lines = [f"  market        {exchange.currency} on {', '.join(venues)}"]
    for account in exchange.accounts():
        lines.append(
            f"  account       {account.id} (number {account.number}, {account.kind}): "
            f"{account.cash} {account.currency} cash"
        )
    return lines


@click.group()
def sandbox() -> None:
    """Broker simulators: wire-faithful, seeded, with fault controls."""


@sandbox.command(name="list")
def list_sandboxes() -> None:
    """The available sandboxes, their markets and default ports."""
    for key, built in create_sandboxes(SystemClock()).items():
        click.echo(f"{key} (default port {DEFAULT_PORTS[key]})")
        click.echo("\n".join(_describe(built)))


@sandbox.command()
@click.argument("broker", type=click.Choice(SANDBOX_KEYS))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=None,
    type=click.IntRange(1, 65535),
    help="Default: schwab 8301, zerodha 8302, upstox 8303, groww 8304.",
)
@click.option(
    "--redirect-uri",
    default=None,
    help="The redirect URI the sandbox's app registers (schwab, zerodha, upstox): a dashcore "
    "deployment's callback, <base>/api/v1/providers/callback/<broker>.",
)
def serve(broker: str, host: str, port: int | None, redirect_uri: str | None) -> None:
    """Serve one broker's sandbox over HTTP until interrupted."""
    if redirect_uri is not None:
        if broker not in _REDIRECTED:
            raise click.UsageError(f"{broker} has no redirect URI: its login needs no browser.")
        os.environ[REDIRECT_URI_ENV] = redirect_uri
    bind_port = port or DEFAULT_PORTS[broker]
    check_listen(host, bind_port)
    shown_host = "localhost" if host in {"0.0.0.0", "::"} else host  # noqa: S104
    base = f"http://{shown_host}:{bind_port}"
    click.echo(f"{broker} sandbox on {base}")
    credentials = [
        (label, redirect_uri if redirect_uri and label.startswith("redirect") else value)
        for label, value in _CREDENTIALS[broker]
    ]
    click.echo("\n".join(f"  {label:<13} {value}" for label, value in credentials))
    click.echo("\n".join(_describe(_standalone(broker))))
    click.echo(f"  controls      {base}{CONTROL_PREFIX}/faults, /prices, /end-of-day, /settings")
    Granian(
        f"{__name__}:{broker}_app",
        factory=True,
        address=host,
        port=bind_port,
        interface=Interfaces.ASGI,
        loop=Loops.auto,
        workers=1,
        log_access=False,
    ).serve()
