"""`dashcore sandbox`: a broker simulator served standalone over HTTP, and the list of them."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from dashcore_brokers.sandbox.credentials import GROWW_API_KEY, KITE_API_KEY, SCHWAB_APP_KEY
from dashcore_cli import cli
from dashcore_cli.sandbox import REDIRECT_URI_ENV, groww_app, schwab_app
from tests.integration.test_serve import free_port, wait_ready

DASHCORE = [sys.executable, "-m", "dashcore_cli"]


def test_list_names_every_sandbox_with_its_market() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "list"], catch_exceptions=False)

    assert result.exit_code == 0
    for key, port in (("schwab", 8301), ("zerodha", 8302), ("upstox", 8303), ("groww", 8304)):
        assert f"{key} (default port {port})" in result.output
    assert "USD on NASDAQ, NYSE Arca" in result.output
    assert "sandbox-in (number SB0001, CASH): 500000.00 INR cash" in result.output


def test_serve_refuses_an_unknown_broker() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "serve", "fidelity"])

    assert result.exit_code == 2
    assert "'fidelity' is not one of" in result.output


def test_serve_on_a_port_in_use_stops_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(cli, ["sandbox", "serve", "groww", "--port", port])
    assert result.exit_code == 1
    assert f"Error: cannot listen on 127.0.0.1:{port}: " in result.output


def test_serve_runs_one_sandbox_over_http_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*DASHCORE, "sandbox", "serve", "zerodha", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        prices = wait_ready(f"{base}/__sandbox__/prices", process)
        assert prices.status_code == 200
        assert {"symbol": "INFY", "price": "1500.00"} in prices.json()

        moved = httpx.post(
            f"{base}/__sandbox__/prices", json={"symbol": "INFY", "price": "1510.05"}
        )
        assert moved.json()["price"] == "1510.05"
        login = httpx.get(f"{base}/connect/login", params={"api_key": KITE_API_KEY, "v": "3"})
        assert login.status_code == 200  # the consent page, for people
        assert "Approve" in login.text
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)

    assert process.returncode == 0
    assert f"zerodha sandbox on http://127.0.0.1:{port}" in output
    assert KITE_API_KEY in output
    assert GROWW_API_KEY not in output
    assert "sandbox-in (number SB0001, CASH)" in output


def test_serve_takes_the_redirect_uri_of_a_dashcore_deployment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment whose workers reach one shared sandbox registers its own callback."""
    callback = "http://localhost:8000/api/v1/providers/callback/schwab"
    monkeypatch.setenv(REDIRECT_URI_ENV, callback)
    assert schwab_app().apps.get(SCHWAB_APP_KEY).redirect_uri == callback  # type: ignore[union-attr]
    assert groww_app() is not None  # Groww has no redirect: the setting does not reach it
    refused = CliRunner().invoke(
        cli, ["sandbox", "serve", "groww", "--redirect-uri", callback], env={REDIRECT_URI_ENV: ""}
    )
    assert refused.exit_code == 2
    assert "groww has no redirect URI" in refused.output
