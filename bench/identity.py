"""Identity benchmarks (issue 3), every figure a ratio against a baseline of the same run.

1. ``me_vs_bare``: authenticated ``GET /api/v1/auth/me`` on dashcore against the bare Litestar
   ``/health`` (target: at least 60 %). Both under granian with one worker, wrk alternating.
2. ``login_vs_argon2``: successful logins per second (wrk, 8 connections) against raw argon2id
   verifications per second on every core, measured before and after (target: at least 85 %),
   both with the production (recommended) argon2id profile; then, during a second login
   flood, a load-balancer-like probe times ``GET /health`` every 50 ms (target: p99 at most
   20 ms).
3. ``refresh_vs_sessions``: median latency of chained refreshes with 10 and with 100 000 other
   active sessions in the store (Redis), target: within ±20 %.

Rate limits are switched off on the measured servers (``DASHCORE_RATE_LIMITS=false``): the
default per-user budget of 100 requests a minute would otherwise be what is measured.
Exit status: 0 when every target is met, 1 otherwise. Results: ``bench/results/identity-*.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.machine import machine_facts, source_revision
from bench.servers import GRANIAN, RunningServer, running_server
from bench.wrk import WrkResult, ensure_wrk, run_wrk

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DASHCORE_TARGET = "dashcore_http.asgi:app_from_env"
BARE_TARGET = "bench.bare_app:app_from_env"
EMAIL = "bench@example.org"
PASSWORD = "a long benchmark passphrase"  # noqa: S105 (a throwaway account)
TARGETS = {
    "me_vs_bare": 0.60,
    "login_vs_argon2": 0.85,
    "health_p99_ms": 20.0,
    "refresh_drift": 0.20,
}


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    started = datetime.now(UTC)
    wrk = ensure_wrk()
    report: dict[str, Any] = {
        "benchmark": "identity",
        "started_at": started.isoformat(),
        "command": "python -m bench.identity " + " ".join(argv or sys.argv[1:]),
        "machine": machine_facts(wrk),
        "revision": source_revision(REPO),
        "targets": TARGETS,
        "notes": "rate limits off on the measured servers; one granian worker per server",
    }
    with tempfile.TemporaryDirectory(prefix="dashcore-bench-") as tmp:
        root = Path(tmp)
        report["me_vs_bare"] = _me_vs_bare(wrk, root / "me", args)
        report["login_vs_argon2"] = _login_vs_argon2(wrk, root / "login", args)
        if args.redis_url:
            report["refresh_vs_sessions"] = _refresh_vs_sessions(root / "refresh", args)
    _print(report)
    path = RESULTS / f"identity-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "identity-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"bench: wrote {path.relative_to(REPO)}")
    measured = [v for k, v in report.items() if isinstance(v, dict) and "passed" in v]
    return 0 if all(result["passed"] for result in measured) else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--refreshes", type=int, default=300)
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("DASHCORE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the session-count benchmark ('' skips it)",
    )
    return parser.parse_args(argv)


# -- servers -----------------------------------------------------------------------------
def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHCORE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _dashcore(root: Path, **extra: str) -> dict[str, str]:
    """A migrated embedded default with keys and one verified account."""
    root.mkdir(parents=True)
    env = {
        **_base_env(),
        "DASHCORE_DATA_DIR": str(root / "var"),
        "DASHCORE_LOG_LEVEL": "WARNING",
        "DASHCORE_RATE_LIMITS": "false",
        "DASHCORE_MAILER": "memory",
        **extra,
    }
    cli = str(Path(sys.executable).parent / "dashcore")
    for command in (
        ["keys", "generate", "--development"],
        ["keys", "signing", "generate", "--development"],
        ["migrate", "up"],
        ["users", "create-admin", "--email", EMAIL, "--password-stdin"],
    ):
        subprocess.run(
            [cli, *command], env=env, input=PASSWORD + "\n", text=True, check=True,
            capture_output=True, cwd=root,
        )  # fmt: skip
    return env


@contextmanager
def _server(name: str, target: str, env: dict[str, str], root: Path) -> Iterator[RunningServer]:
    with running_server(GRANIAN, name, target, "/health", env, root / f"{name}.log", REPO) as s:
        yield s


def _api(server: RunningServer) -> str:
    return server.url.removesuffix("/health") + "/api/v1"


def _login(server: RunningServer) -> dict[str, Any]:
    response = httpx.post(
        f"{_api(server)}/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def _wrk(
    wrk: str, url: str, args: argparse.Namespace, *, connections: int | None = None,
    header: str | None = None, script: Path | None = None, duration: int | None = None,
) -> WrkResult:  # fmt: skip
    command = [
        wrk,
        "--threads=1",
        f"--connections={connections or args.connections}",
        f"--duration={duration or args.duration}s",
        "--timeout=10s",
        "--latency",
    ]
    if header:
        command.append(f"--header={header}")
    if script:
        command.append(f"--script={script}")
    result, _ = run_wrk([*command, url])
    return result


# -- 1. authenticated GET /auth/me ------------------------------------------------------------
def _me_vs_bare(wrk: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = _dashcore(root, DASHCORE_HASH_PROFILE="test")
    me: list[WrkResult] = []
    bare: list[WrkResult] = []
    with _server("dashcore", DASHCORE_TARGET, env, root) as dashcore:
        token = _login(dashcore)["access_token"]
        header = f"Authorization: Bearer {token}"
        with _server("bare", BARE_TARGET, _base_env(), root) as baseline:
            _wrk(wrk, f"{_api(dashcore)}/auth/me", args, header=header, duration=3)
            _wrk(wrk, baseline.url, args, duration=3)
            targets = [(me, f"{_api(dashcore)}/auth/me", header), (bare, baseline.url, None)]
            for number in range(args.rounds):  # alternate the order: drift hits both alike
                for series, url, auth in targets if number % 2 == 0 else reversed(targets):
                    series.append(_wrk(wrk, url, args, header=auth))
    me_rps = statistics.median(r.requests_per_second for r in me)
    bare_rps = statistics.median(r.requests_per_second for r in bare)
    paired = [m.requests_per_second / b.requests_per_second for m, b in zip(me, bare, strict=True)]
    return {
        "per_round_ratios": [round(r, 3) for r in paired],
        "per_round_median": round(statistics.median(paired), 3),
        "me_rps": [r.requests_per_second for r in me],
        "bare_rps": [r.requests_per_second for r in bare],
        "me_p50_ms": statistics.median(r.latency_ms["p50"] for r in me),
        "errors": sum(r.socket_errors + r.non_2xx for r in me),
        "ratio": round(me_rps / bare_rps, 3),
        "target": TARGETS["me_vs_bare"],
        "passed": me_rps / bare_rps >= TARGETS["me_vs_bare"],
    }


# -- 2. login flood vs raw argon2id ------------------------------------------------------------
def _argon2_rate(seconds: float) -> float:
    """Raw verifications per second on every core, with the production profile."""
    from argon2 import PasswordHasher

    from dashcore_security.passwords import RECOMMENDED

    hasher = PasswordHasher(
        time_cost=RECOMMENDED.time_cost,
        memory_cost=RECOMMENDED.memory_kib,
        parallelism=RECOMMENDED.parallelism,
    )
    stored = hasher.hash(PASSWORD)
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work() -> None:
        nonlocal count
        while time.monotonic() < deadline:
            hasher.verify(stored, PASSWORD)
            with lock:
                count += 1

    threads = [threading.Thread(target=work) for _ in range(os.cpu_count() or 1)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.monotonic() - started)


def _health_probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    """A load balancer's view: one ``/health`` request every 50 ms, each one timed."""
    with httpx.Client(timeout=10) as client:
        while not stop.wait(0.05):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)


def _login_vs_argon2(wrk: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    env = _dashcore(root, DASHCORE_HASH_PROFILE="recommended")
    script = root / "login.lua"
    body = json.dumps({"email": EMAIL, "password": PASSWORD})
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    raw_before = _argon2_rate(args.duration)
    with _server("dashcore", DASHCORE_TARGET, env, root) as dashcore:
        _login(dashcore)
        login_url = f"{_api(dashcore)}/auth/login"
        flood = _wrk(wrk, login_url, args, connections=8, script=script)
        latencies: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=_health_probe, args=(dashcore.url, stop, latencies))
        prober.start()
        probed_flood = _wrk(wrk, login_url, args, connections=8, script=script)
        stop.set()
        prober.join()
    raw = statistics.median([raw_before, _argon2_rate(args.duration)])
    ratio = flood.requests_per_second / raw
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return {
        "argon2_verifies_per_second": round(raw, 2),
        "logins_per_second": flood.requests_per_second,
        "login_errors": flood.socket_errors + flood.non_2xx + probed_flood.non_2xx,
        "login_p50_ms": flood.latency_ms["p50"],
        "ratio": round(ratio, 3),
        "health_probes_during_flood": len(latencies),
        "health_p99_ms_during_flood": round(p99, 2),
        "health_p50_ms_during_flood": round(statistics.median(latencies), 2),
        "passed": ratio >= TARGETS["login_vs_argon2"] and p99 <= TARGETS["health_p99_ms"],
    }


# -- 3. refresh latency vs number of sessions --------------------------------------------------
async def _seed_sessions(redis_url: str, prefix: str, count: int) -> None:
    from redis.asyncio import Redis

    from dashcore.domain.sessions import (
        Session,
        SessionPolicy,
        hash_refresh_secret,
        new_refresh_secret,
        new_session_id,
    )
    from dashcore_redis.sessions import RedisSessionStore
    from dashcore_system import SystemClock

    client = Redis.from_url(redis_url)
    store = RedisSessionStore(client, SystemClock(), prefix=prefix)
    now = datetime.now(UTC) - timedelta(seconds=1)

    async def one() -> None:
        session = Session.open(
            session_id=new_session_id(),
            user_id=uuid.uuid4(),
            first_secret_hash=hash_refresh_secret(new_refresh_secret()),
            now=now,
            policy=SessionPolicy(),
            auth_time=now,
            amr=("pwd",),
        )
        await store.create(session, max_active=10)

    for start in range(0, count, 20):
        await asyncio.gather(*(one() for _ in range(min(20, count - start))))
    await client.aclose()


async def _clear(redis_url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    async for key in client.scan_iter(match=f"{prefix}*", count=5000):
        await client.delete(key)
    await client.aclose()


def _refresh_p50(server: RunningServer, count: int) -> float:
    token = _login(server)["refresh_token"]
    timings = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.post(f"{_api(server)}/auth/refresh", json={"refresh_token": token})
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
            token = response.json()["refresh_token"]
    return statistics.median(timings)


def _refresh_vs_sessions(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    env = _dashcore(
        root,
        DASHCORE_HASH_PROFILE="test",
        DASHCORE_REDIS_URL=args.redis_url,
        DASHCORE_REDIS_PREFIX=prefix,
    )
    try:
        asyncio.run(_seed_sessions(args.redis_url, prefix, 10))
        with _server("dashcore", DASHCORE_TARGET, env, root) as dashcore:
            _refresh_p50(dashcore, 50)
            few = _refresh_p50(dashcore, args.refreshes)
            seeding = time.monotonic()
            asyncio.run(_seed_sessions(args.redis_url, prefix, args.sessions - 10))
            seeded_in = time.monotonic() - seeding
            many = _refresh_p50(dashcore, args.refreshes)
            few_again = _refresh_p50(dashcore, args.refreshes)
    finally:
        asyncio.run(_clear(args.redis_url, prefix))
    baseline = statistics.median([few, few_again])
    drift = many / baseline - 1
    return {
        "sessions": [10, args.sessions],
        "refresh_p50_ms_10": round(few, 3),
        "refresh_p50_ms_10_after": round(few_again, 3),
        "refresh_p50_ms_many": round(many, 3),
        "seeded_in_seconds": round(seeded_in, 1),
        "drift": round(drift, 3),
        "passed": abs(drift) <= TARGETS["refresh_drift"],
    }


def _print(report: dict[str, Any]) -> None:
    me = report["me_vs_bare"]
    print(
        f"GET /auth/me vs bare: ratio {me['ratio']} (per-round median {me['per_round_median']}; "
        f"target >= {me['target']})"
    )
    login = report["login_vs_argon2"]
    print(
        f"login {login['logins_per_second']}/s vs argon2id {login['argon2_verifies_per_second']}/s:"
        f" ratio {login['ratio']} (target >= 0.85); /health p99 during flood "
        f"{login['health_p99_ms_during_flood']} ms (target <= 20)"
    )
    if "refresh_vs_sessions" in report:
        refresh = report["refresh_vs_sessions"]
        print(
            f"refresh p50 {refresh['refresh_p50_ms_10']} ms (10 sessions) vs "
            f"{refresh['refresh_p50_ms_many']} ms ({refresh['sessions'][1]}): drift "
            f"{refresh['drift']:+.1%} (target within ±20 %)"
        )


if __name__ == "__main__":
    raise SystemExit(main())
