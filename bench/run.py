"""The /health benchmark: dashcore against a bare Litestar app, under granian and uvicorn.

Every server runs one worker on a fresh loopback port; wrk (one thread) drives one server at a
time. After a discarded warm-up per server, the measurement rounds alternate dashcore and bare
(in reversed order every other round), so drift on a noisy machine hits both alike. Figures are
medians over the rounds; the verdicts are ratios of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import machine_facts, source_revision
from bench.servers import SERVERS, RunningServer, ServerStartError, cpu_seconds, running_server
from bench.wrk import WrkError, WrkResult, ensure_wrk, run_wrk, wrk_command

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
PATH = "/health"
TARGET_RATIO = 0.85  # dashcore /health must reach 85 % of the bare app's throughput
DASHCORE_TARGET = "dashcore_http.asgi:app_from_env"


@dataclass(frozen=True, slots=True)
class AppSpec:
    """One application under test: its factory and the extra environment it runs with."""

    name: str
    target: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Series:
    """The measurements of one (server, app) pair."""

    server: RunningServer
    warmup: WrkResult | None = None
    rounds: list[WrkResult] = field(default_factory=list)
    loadavg: list[float] = field(default_factory=list)  # 1-min load right after each round
    cpu_us: list[float] = field(default_factory=list)  # server CPU time per request, each round

    def median(self, metric: str) -> float:
        if metric == "rps":
            return statistics.median(r.requests_per_second for r in self.rounds)
        if metric == "cpu_us":
            return statistics.median(self.cpu_us)
        return statistics.median(r.latency_ms[metric] for r in self.rounds)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: stop the servers
    try:
        return _run(args)
    except (ServerStartError, WrkError) as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nbench: interrupted; servers stopped", file=sys.stderr)
        return 130


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--servers", default="granian,uvicorn", help="comma list: %(default)s")
    parser.add_argument(
        "--apps",
        default="dashcore,bare",
        help="comma list of dashcore, bare, dashcore-quiet (WARNING logs): %(default)s",
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="seconds, discarded, per server")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--database", choices=("sqlite", "memory"), default="sqlite", help="dashcore's database"
    )
    parser.add_argument("--no-save", action="store_true", help="print only, write no results")
    return parser.parse_args(argv)


def _run(args: argparse.Namespace) -> int:
    wrk = ensure_wrk()
    servers = [SERVERS[name] for name in args.servers.split(",")]
    with tempfile.TemporaryDirectory(prefix="dashcore-bench-") as tmp:
        apps = _apps(args.apps.split(","), Path(tmp), args.database)
        base_env = _base_env()
        started = datetime.now(UTC)
        facts = machine_facts(wrk)
        revision = source_revision(REPO)
        series: dict[tuple[str, str], Series] = {}
        with ExitStack() as stack:
            for kind in servers:
                for app in apps:
                    log = Path(tmp) / f"{kind.name}-{app.name}.log"
                    env = {**base_env, **app.env}
                    server = stack.enter_context(
                        running_server(kind, app.name, app.target, PATH, env, log, REPO)
                    )
                    print(f"bench: {kind.name}/{app.name} up at {server.url}", flush=True)
                    print(f"       first response: {server.first_response}", flush=True)
                    series[(kind.name, app.name)] = Series(server)
            for (name, app_name), one in series.items():
                command = wrk_command(
                    wrk, one.server.url, args.threads, args.connections, args.warmup
                )
                one.warmup, _ = run_wrk(command)
                print(f"bench: warm-up {name}/{app_name}: {_line(one.warmup)}", flush=True)
            order = list(series)
            for index in range(args.rounds):
                for key in order if index % 2 == 0 else reversed(order):
                    one = series[key]
                    command = wrk_command(
                        wrk, one.server.url, args.threads, args.connections, args.duration
                    )
                    cpu_before = cpu_seconds(one.server.pid)
                    result, _ = run_wrk(command)
                    cpu = cpu_seconds(one.server.pid) - cpu_before
                    one.rounds.append(result)
                    one.cpu_us.append(round(cpu / max(result.requests, 1) * 1e6, 1))
                    one.loadavg.append(round(os.getloadavg()[0], 2))
                    where = f"round {index + 1} {key[0]}/{key[1]}"
                    cpu_text = f"cpu {one.cpu_us[-1]:.0f} us/req"
                    print(f"bench: {where}: {_line(result)}  {cpu_text}", flush=True)
                    time.sleep(1.0)
        report = _report(args, apps, facts, started, series, wrk)
        report["source"] = revision
    _print_summary(report)
    if not args.no_save:
        _save(report, started)
    return 0 if report["verdict"] == "pass" else 1


def _apps(names: list[str], tmp: Path, database: str) -> list[AppSpec]:
    known = {"dashcore", "bare", "dashcore-quiet"}
    unknown = set(names) - known
    if unknown:
        raise SystemExit(f"bench: unknown app(s) {sorted(unknown)}; choose from {sorted(known)}")
    apps: list[AppSpec] = []
    if any(name.startswith("dashcore") for name in names):
        dashcore_env = _dashcore_env(tmp, database)
        if "dashcore" in names:
            apps.append(AppSpec("dashcore", DASHCORE_TARGET, dashcore_env))
        if "dashcore-quiet" in names:
            quiet_env = {**dashcore_env, "DASHCORE_LOG_LEVEL": "WARNING"}
            apps.append(AppSpec("dashcore-quiet", DASHCORE_TARGET, quiet_env))
    if "bare" in names:
        apps.append(AppSpec("bare", "bench.bare_app:app_from_env"))
    return apps


def _base_env() -> dict[str, str]:
    """The parent's environment without DASHCORE_*, with the repository importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHCORE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def _dashcore_env(tmp: Path, database: str) -> dict[str, str]:
    check = subprocess.run(
        [sys.executable, "-c", f"import {DASHCORE_TARGET.partition(':')[0]}"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
    )
    if check.returncode != 0:
        raise ServerStartError(
            f"cannot import {DASHCORE_TARGET} (run with --apps bare to measure the baseline "
            f"alone):\n{check.stderr.strip().splitlines()[-1] if check.stderr else ''}"
        )
    from dashcore_security import KeyRing  # the harness needs it only when dashcore runs

    data_dir = tmp / "data"
    data_dir.mkdir()
    env = {
        "DASHCORE_DATA_DIR": str(data_dir),
        "DASHCORE_VAULT_KEYS": KeyRing.generate().to_env_value(),
        # The production defaults: INFO, JSON lines (stdout is not a terminal here anyway).
        "DASHCORE_LOG_LEVEL": "INFO",
        "DASHCORE_LOG_FORMAT": "json",
    }
    if database == "memory":
        env["DASHCORE_DATABASE_URL"] = "memory://"
    else:  # the embedded default: SQLite under the data dir, migrated like `dashcore serve` does
        migrate = [str(Path(sys.executable).parent / "dashcore"), "migrate", "up"]
        done = subprocess.run(
            migrate, env={**_base_env(), **env}, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise ServerStartError(
                f"{' '.join(migrate)} failed (try --database memory):\n{done.stderr.strip()}"
            )
    return env


def _line(result: WrkResult) -> str:
    flag = "" if result.clean else f"  ERRORS socket={result.socket_errors} non2xx={result.non_2xx}"
    lat = result.latency_ms
    rps = result.requests_per_second
    return f"{rps:9.0f} req/s  p50 {lat['p50']:6.2f} ms  p99 {lat['p99']:7.2f} ms{flag}"


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4)


def _report(
    args: argparse.Namespace,
    apps: list[AppSpec],
    facts: dict[str, Any],
    started: datetime,
    series: dict[tuple[str, str], Series],
    wrk: str,
) -> dict[str, Any]:
    servers = list(dict.fromkeys(server for server, _ in series))
    app_names = [app.name for app in apps]
    measurements = {f"{server}/{app}": _series_json(one) for (server, app), one in series.items()}

    # Which server wins, per app: ratio of medians (and per round, same round's pair).
    server_ratios: dict[str, Any] = {}
    if len(servers) == 2:
        first, second = servers
        for app in app_names:
            a, b = series[(first, app)], series[(second, app)]
            server_ratios[app] = {
                "ratio": f"{first}/{second}",
                "rps_ratio_of_medians": _ratio(a.median("rps"), b.median("rps")),
                "per_round": [
                    _ratio(x.requests_per_second, y.requests_per_second)
                    for x, y in zip(a.rounds, b.rounds, strict=True)
                ],
            }
    deciding_app = "dashcore" if "dashcore" in app_names else app_names[0]
    winner = max(servers, key=lambda s: series[(s, deciding_app)].median("rps"))

    # dashcore against bare on each server.
    app_ratios: dict[str, Any] = {}
    for server in servers:
        for app in app_names:
            if app == "bare" or "bare" not in app_names:
                continue
            a, b = series[(server, app)], series[(server, "bare")]
            app_ratios[f"{server}/{app}"] = {
                "ratio": f"{app}/bare",
                "rps_ratio_of_medians": _ratio(a.median("rps"), b.median("rps")),
                "median_of_per_round_ratios": statistics.median(
                    _ratio(x.requests_per_second, y.requests_per_second)
                    for x, y in zip(a.rounds, b.rounds, strict=True)
                ),
                "server_cpu_per_request_ratio_of_medians": _ratio(
                    a.median("cpu_us"), b.median("cpu_us")
                ),
                "p50_latency_ratio_of_medians": _ratio(a.median("p50"), b.median("p50")),
                "p99_latency_ratio_of_medians": _ratio(a.median("p99"), b.median("p99")),
            }

    dirty = [key for key, one in measurements.items() if one["errors"]]
    decisive = app_ratios.get(f"{winner}/dashcore")
    if dirty:
        verdict = "invalid"
        reason = f"socket errors or non-2xx responses in {dirty}"
    elif decisive is None:
        verdict = "n/a"
        reason = "dashcore and bare were not both measured"
    else:
        ratio = decisive["rps_ratio_of_medians"]
        verdict = "pass" if ratio >= TARGET_RATIO else "fail"
        reason = f"{winner}: dashcore/bare = {ratio:.1%} (target >= {TARGET_RATIO:.0%})"

    example = next(iter(series.values())).server.url
    return {
        "benchmark": "health",
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "path": PATH,
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "order": "alternating; every other round reversed",
            "dashcore_database": args.database,
        },
        "commands": {
            "wrk": wrk_command(wrk, example, args.threads, args.connections, args.duration),
            "servers": {
                f"{s.kind}/{s.app}": s.command for s in (x.server for x in series.values())
            },
            "app_env": {app.name: _redacted(app.env) for app in apps},
        },
        "machine": facts,
        "measurements": measurements,
        "server_ratios": server_ratios,
        "winner": {"server": winner, "decided_by": f"median req/s of {deciding_app}"},
        "app_ratios": app_ratios,
        "target_ratio": TARGET_RATIO,
        "verdict": verdict,
        "verdict_reason": reason,
    }


def _series_json(one: Series) -> dict[str, Any]:
    return {
        "url": one.server.url,
        "warmup": _result_json(one.warmup) if one.warmup else None,
        "rounds": [
            {**_result_json(r), "server_cpu_us_per_request": cpu, "loadavg_1min_after": load}
            for r, cpu, load in zip(one.rounds, one.cpu_us, one.loadavg, strict=True)
        ],
        "median": {
            "rps": round(one.median("rps"), 1),
            "server_cpu_us_per_request": one.median("cpu_us"),
            **{p: one.median(p) for p in ("p50", "p75", "p90", "p99")},
        },
        "min_rps": min(r.requests_per_second for r in one.rounds),
        "max_rps": max(r.requests_per_second for r in one.rounds),
        "errors": sum(r.socket_errors + r.non_2xx for r in one.rounds),
    }


def _result_json(result: WrkResult) -> dict[str, Any]:
    return {
        "rps": result.requests_per_second,
        "requests": result.requests,
        "latency_ms": result.latency_ms,
        "socket_errors": result.socket_errors,
        "non_2xx": result.non_2xx,
    }


def _redacted(env: dict[str, str]) -> dict[str, str]:
    return {k: ("<fresh KeyRing>" if k == "DASHCORE_VAULT_KEYS" else v) for k, v in env.items()}


def _print_summary(report: dict[str, Any]) -> None:
    print("\nbench: medians over", report["settings"]["rounds"], "rounds")
    header = ("server/app", "req/s", "p50 ms", "p99 ms", "min..max req/s", "cpu us/req")
    print("  {:<24}{:>10}{:>9}{:>9}{:>20}{:>12}".format(*header))
    for key, one in report["measurements"].items():
        med = one["median"]
        spread = f"{one['min_rps']:.0f}..{one['max_rps']:.0f}"
        cpu = med["server_cpu_us_per_request"]
        print(
            f"  {key:<24}{med['rps']:>10.0f}{med['p50']:>9.2f}{med['p99']:>9.2f}{spread:>20}"
            f"{cpu:>12.0f}"
        )
    for app, ratio in report["server_ratios"].items():
        print(f"  {app}: {ratio['ratio']} = {ratio['rps_ratio_of_medians']:.3f}")
    for key, ratio in report["app_ratios"].items():
        print(
            f"  {key}: {ratio['ratio']} = {ratio['rps_ratio_of_medians']:.1%} req/s "
            f"(per-round median {ratio['median_of_per_round_ratios']:.1%}); server CPU per "
            f"request x{ratio['server_cpu_per_request_ratio_of_medians']:.2f}"
        )
    print(f"  winner: {report['winner']['server']}")
    print(f"  verdict: {report['verdict'].upper()} ({report['verdict_reason']})")


def _save(report: dict[str, Any], started: datetime) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2) + "\n"
    dated = RESULTS / f"health-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    dated.write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(f"bench: wrote {dated.relative_to(REPO)} and bench/results/latest.json")
