"""``dashcore serve``: the HTTP API under granian.

Outside production, serve prepares the embedded default on first start: it creates the data
directory, generates development vault keys there and migrates the database. Production does
none of that implicitly: keys and migrations are deliberate operator steps.
"""

from __future__ import annotations

import os
import socket
import ssl
from pathlib import Path

import click
from granian import Granian
from granian.constants import Interfaces, Loops
from sqlalchemy.ext.asyncio import AsyncEngine

from dashcore_app import Settings, StartupError, ensure_development_keys, load_key_ring
from dashcore_app.brokers import check_provider_settings
from dashcore_app.keys import load_signing_key_ring
from dashcore_cli.context import load_settings, require_database, require_extras, run, with_engine
from dashcore_cli.tls import ensure_self_signed
from dashcore_sql import migrate as migrations

__all__ = ["serve"]

APP_FACTORY = "dashcore_http.asgi:app_from_env"


async def _upgrade_to_head(engine: AsyncEngine) -> None:
    await migrations.upgrade(engine, "head")


def prepare_embedded_default(settings: Settings) -> None:
    """Data directory, development keys and schema, so a fresh checkout just runs."""
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if ensure_development_keys(settings):
        click.echo(f"generated development keys in {settings.keys_dir}")
    if not settings.uses_memory_database:
        run(with_engine(settings, _upgrade_to_head, command_timeout=None))


@click.command()
@click.option("--host", default=None, help="Interface to bind (default: DASHCORE_HOST).")
@click.option("--port", default=None, type=click.IntRange(1, 65535), help="Default: DASHCORE_PORT.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tls-self-signed", is_flag=True, help="Generate and use a development certificate.")
def serve(
    host: str | None,
    port: int | None,
    workers: int,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_self_signed: bool,
) -> None:
    """Start the API server."""
    settings = require_extras(load_settings())
    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    if tls_self_signed and tls_cert is not None:
        raise click.UsageError("--tls-self-signed replaces --tls-cert and --tls-key: give one")
    if workers > 1 and settings.redis_url is None:
        raise click.UsageError(
            "--workers above 1 needs DASHCORE_REDIS_URL: without Redis, sessions, revocations, "
            "rate limits and the schedules live in each process, so the processes would "
            "disagree about who is signed in and run every schedule once each"
        )
    bind_host, bind_port = host or settings.host, port or settings.port
    if tls_self_signed:
        if settings.is_production:
            raise click.UsageError("--tls-self-signed is for development, not production")
        tls_cert, tls_key = ensure_self_signed(settings.data_dir / "tls", host or settings.host)
    if settings.is_production:
        run_checks(settings)
        # Production never creates its database: `dashcore migrate up` does (found by QA: an
        # empty SQLite file was made, and every job then failed as not migrated).
        require_database(settings)
        _check_address(bind_host, bind_port, tls_cert, tls_key)
    else:
        # The address first: a serve that cannot listen must not make the data directory,
        # keys and a database on the way (found by QA).
        _check_address(bind_host, bind_port, tls_cert, tls_key)
        prepare_embedded_default(settings)
        run_checks(settings)
    scheme = "https" if tls_cert else "http"
    shown_host = "localhost" if bind_host in {"127.0.0.1", "0.0.0.0", "::"} else bind_host  # noqa: S104
    base = f"{scheme}://{shown_host}:{bind_port}"
    # Workers read their settings from the environment: links in mail follow this server
    # unless DASHCORE_PUBLIC_BASE_URL says otherwise.
    os.environ.setdefault("DASHCORE_PUBLIC_BASE_URL", base)
    click.echo(
        f"dashcore ({settings.env}) on {settings.database_url.split('://')[0]}\n"
        f"  API docs   {base}/docs\n  readiness  {base}/health/ready"
    )
    Granian(
        APP_FACTORY,
        factory=True,
        address=bind_host,
        port=bind_port,
        interface=Interfaces.ASGI,
        loop=Loops.auto,
        workers=workers,
        log_access=False,
        ssl_cert=tls_cert,
        ssl_key=tls_key,
    ).serve()


def _check_address(host: str, port: int, tls_cert: Path | None, tls_key: Path | None) -> None:
    """The certificate pair reads and matches, and the address is free to listen on."""
    if tls_cert is not None and tls_key is not None:
        check_tls(tls_cert, tls_key)
    check_listen(host, port)


def run_checks(settings: Settings) -> None:
    """Fail before binding a port if the keys are missing or refused (production rules) or a
    provider's settings are; in production, warn while development keys still decrypt."""
    try:
        ring = load_key_ring(settings)
        signing = load_signing_key_ring(settings)
        check_provider_settings(settings)
    except StartupError as exc:
        raise click.ClickException(str(exc)) from exc
    if not settings.is_production:
        return
    for kind, active in (("vault", ring), ("signing", signing)):
        if active.development:  # only with DASHCORE_ALLOW_DEVELOPMENT_KEYS=true
            click.echo(
                f"warning: the active {kind} key {active.active_id} is a development key, "
                "allowed by DASHCORE_ALLOW_DEVELOPMENT_KEYS: never with real data",
                err=True,
            )
    leftover = [kid for kid in ring.development_key_ids if kid != ring.active_id]
    if leftover:
        click.echo(
            f"warning: development vault key(s) {', '.join(leftover)} still decrypt; run "
            "`dashcore keys reencrypt`, then `dashcore keys remove` each of them",
            err=True,
        )


def check_listen(host: str, port: int) -> None:
    """Fail in one line if the address cannot be bound. granian binds with SO_REUSEPORT, so a
    port another dashcore serve holds would otherwise be shared with it silently."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def check_tls(cert: Path, key: Path) -> None:
    """Fail in one line if the certificate and key do not load as a pair."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise click.ClickException(
            f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate and its key: {exc}"
        ) from exc
