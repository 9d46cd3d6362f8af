"""`dashcore serve` as a newcomer runs it: a fresh data directory, no services, one command."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dashcore_app import Settings
from dashcore_cli.serve import run_checks
from dashcore_security import KeyRing
from dashcore_security.signing import SigningKeyRing

DASHCORE = [sys.executable, "-m", "dashcore_cli"]
Starter = Callable[..., "subprocess.Popen[str]"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[str], seconds: float = 30) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"server exited early:\n{process.communicate()[0]}")
        try:
            return httpx.get(url, timeout=1, verify=False)  # noqa: S501 (self-signed dev cert)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("server did not answer in time")


@pytest.fixture
def server_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHCORE_")}
    return {**env, "DASHCORE_DATA_DIR": str(tmp_path / "var"), "DASHCORE_LOG_LEVEL": "WARNING"}


@pytest.fixture
def serve(server_env: dict[str, str], tmp_path: Path) -> Iterator[Starter]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [*DASHCORE, "serve", *args],
            env=env or server_env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


# The libraries that only the extras install (postgres, redis, mail, worker).
EXTRAS_ONLY = ("asyncpg", "redis", "aiosmtplib", "boto3", "taskiq_redis")


def test_the_base_install_serves_the_embedded_default(
    serve: Starter, server_env: dict[str, str], tmp_path: Path
) -> None:
    """Found by QA: ``pip install dashcore`` (no extras) could not even run ``dashcore --help``:
    the app imported pyotp (then in an extra) and the rate limiter imported redis. Each
    extra-only library is shadowed here by a package that fails to import."""
    shadows = tmp_path / "not-installed"
    for module in EXTRAS_ONLY:
        (shadows / module).mkdir(parents=True)
        (shadows / module / "__init__.py").write_text(
            f"raise ImportError('{module} comes with an extra, not the base install')\n"
        )
    path = [str(shadows), *filter(None, [server_env.get("PYTHONPATH")])]
    port = free_port()
    process = serve("--port", str(port), env={**server_env, "PYTHONPATH": os.pathsep.join(path)})
    ready = wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}


def test_first_start_creates_keys_migrates_and_is_ready(serve: Starter, tmp_path: Path) -> None:
    port = free_port()
    process = serve("--port", str(port))
    ready = wait_ready(f"http://127.0.0.1:{port}/health/ready", process)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok"}
    assert (tmp_path / "var" / "keys" / "vault.json").exists()
    assert (tmp_path / "var" / "dashcore.db").exists()
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    database_files = list((tmp_path / "var").glob("dashcore.db*"))  # with -wal, -shm
    assert {stat.S_IMODE(path.stat().st_mode) for path in database_files} == {0o600}


def test_tls_self_signed_serves_https(serve: Starter, tmp_path: Path) -> None:
    port = free_port()
    process = serve("--port", str(port), "--tls-self-signed")
    assert wait_ready(f"https://127.0.0.1:{port}/health", process).status_code == 200
    assert (tmp_path / "var" / "tls" / "dev-cert.pem").exists()


def test_production_refuses_development_keys(server_env: dict[str, str], tmp_path: Path) -> None:
    keys = tmp_path / "var" / "keys" / "vault.json"
    KeyRing.generate(development=True).save(keys)
    completed = subprocess.run(
        [*DASHCORE, "serve", "--port", str(free_port())],
        env={**server_env, "DASHCORE_ENV": "production", "DASHCORE_MAILER": "smtp"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "production refuses development keys" in completed.stderr


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (
            [],
            {
                "DASHCORE_BROKER_SANDBOXES": "false",
                "DASHCORE_PROVIDER_SCHWAB_API_BASE_URL": "http://broker.example.com",
            },
            "DASHCORE_PROVIDER_SCHWAB_API_BASE_URL: api_base_url must be an https URL",
        ),
        (["--workers", "2"], {}, "--workers above 1 needs DASHCORE_REDIS_URL"),
        (
            ["--tls-self-signed", "--tls-cert", __file__, "--tls-key", __file__],
            {},
            "--tls-self-signed replaces --tls-cert and --tls-key",
        ),
    ],
)
def test_serve_refuses_what_would_fail_later_before_it_listens(
    server_env: dict[str, str], tmp_path: Path, args: list[str], env: dict[str, str], said: str
) -> None:
    """Found by QA: each of these started, then failed every job (a broker URL), ran the
    schedules once per process (workers without Redis) or ignored the certificate given."""
    completed = subprocess.run(
        [*DASHCORE, "serve", "--port", str(free_port()), *args],
        env={**server_env, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert said in completed.stderr


def test_production_serve_creates_no_database(server_env: dict[str, str], tmp_path: Path) -> None:
    """Found by QA: production serve on SQLite made an empty database file and listened,
    every job then failing as not migrated; only `dashcore migrate up` creates it there."""
    keys = tmp_path / "var" / "keys"
    KeyRing.generate().save(keys / "vault.json")
    SigningKeyRing.generate().save(keys / "signing.json")
    completed = subprocess.run(
        [*DASHCORE, "serve", "--port", str(free_port())],
        env={
            **server_env,
            "DASHCORE_ENV": "production",
            "DASHCORE_MAILER": "smtp",
            "DASHCORE_BROKER_SANDBOXES": "false",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "dashcore migrate up" in completed.stderr
    assert list((tmp_path / "var").glob("dashcore.db*")) == []


def test_serve_that_cannot_listen_prepares_nothing(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    """Found by QA: the data directory, development keys and the database were made before
    the port was found busy."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        completed = subprocess.run(
            [*DASHCORE, "serve", "--port", str(port)],
            env=server_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert completed.returncode != 0
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(
    ("env", "extra"),
    [
        ({"DASHCORE_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}, "postgres"),
        ({"DASHCORE_REDIS_URL": "redis://127.0.0.1:1/0"}, "redis"),
        ({"DASHCORE_MAILER": "smtp"}, "mail"),
    ],
)
def test_a_configured_adapter_without_its_extra_is_refused_with_the_fix(
    server_env: dict[str, str], tmp_path: Path, env: dict[str, str], extra: str
) -> None:
    """Found by QA: a base install configured for PostgreSQL or Redis died with a traceback
    (Redis: in the server's worker, after start-up), and one configured for SMTP started and
    could send no mail."""
    # The extras' libraries are installed here: hide them from the start-up check.
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, importlib.util, runpy\n"
            f"hidden = {EXTRAS_ONLY!r}\n"
            "real = importlib.util.find_spec\n"
            "importlib.util.find_spec = lambda name, package=None: (\n"
            "    None if name.split('.')[0] in hidden else real(name, package))\n"
            "sys.argv = ['dashcore', 'serve', '--port', sys.argv[1]]\n"
            "runpy.run_module('dashcore_cli', run_name='__main__')\n",
            str(free_port()),
        ],
        env={**server_env, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1, completed.stderr
    assert f"pip install 'dashcore[{extra}]'" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_production_warns_while_an_allowed_development_key_is_active(
    server_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by QA: DASHCORE_ALLOW_DEVELOPMENT_KEYS=true let production start on development
    keys without a word."""
    keys = tmp_path / "var" / "keys"
    KeyRing.generate(development=True).save(keys / "vault.json")
    SigningKeyRing.generate(development=True).save(keys / "signing.json")
    settings = Settings.from_env(
        {
            **server_env,
            "DASHCORE_ENV": "production",
            "DASHCORE_MAILER": "smtp",
            "DASHCORE_ALLOW_DEVELOPMENT_KEYS": "true",
        }
    )
    run_checks(settings)
    warned = capsys.readouterr().err
    assert "warning: the active vault key" in warned
    assert "warning: the active signing key" in warned


@pytest.fixture
async def fresh_postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A brand-new PostgreSQL database for a server process, dropped afterwards."""
    import asyncpg

    name = f"dashcore_serve_{uuid.uuid4().hex[:12]}"
    admin_dsn = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_the_same_server_runs_on_postgresql_and_redis(
    serve: Starter,
    server_env: dict[str, str],
    fresh_postgres_database: str,
    redis_server_url: str,
) -> None:
    port = free_port()
    env = {
        **server_env,
        "DASHCORE_DATABASE_URL": fresh_postgres_database,
        "DASHCORE_REDIS_URL": redis_server_url,
    }
    process = serve("--port", str(port), env=env)
    ready = await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/health/ready", process)
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "revocations": "ok"}


async def test_a_revoked_session_is_refused_by_another_process_within_a_second(
    serve: Starter,
    server_env: dict[str, str],
    fresh_postgres_database: str,
    redis_server_url: str,
    redis_prefix: str,
) -> None:
    """JWT-3 across processes: log out on server A, and server B refuses the access token
    within one second (revocations travel through Redis pub/sub)."""
    env = {
        **server_env,
        "DASHCORE_DATABASE_URL": fresh_postgres_database,
        "DASHCORE_REDIS_URL": redis_server_url,
        "DASHCORE_REDIS_PREFIX": redis_prefix,
        "DASHCORE_HASH_PROFILE": "test",
    }
    first, second = free_port(), free_port()
    process_a = serve("--port", str(first), env=env)
    await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{first}/health/ready", process_a)
    process_b = serve("--port", str(second), env=env)
    await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{second}/health/ready", process_b)
    password = "a passphrase for two servers"
    created = await asyncio.to_thread(
        subprocess.run,
        [*DASHCORE, "users", "create-admin", "--email", "two@example.org", "--password-stdin"],
        env=env,
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    api_a, api_b = f"http://127.0.0.1:{first}/api/v1", f"http://127.0.0.1:{second}/api/v1"
    async with httpx.AsyncClient(timeout=5) as client:
        login = await client.post(
            f"{api_a}/auth/login", json={"email": "two@example.org", "password": password}
        )
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert (await client.get(f"{api_b}/auth/me", headers=headers)).status_code == 200
        assert (await client.post(f"{api_a}/auth/logout", headers=headers)).status_code == 204
        logged_out = time.monotonic()
        while (await client.get(f"{api_b}/auth/me", headers=headers)).status_code != 401:
            assert time.monotonic() - logged_out < 1.0, "server B still accepts the token"
            await asyncio.sleep(0.02)
