"""Instructions per ``GET /health`` request, counted by callgrind: noise cannot move them.

``python -m bench.instructions`` runs each app in-process (no server, no sockets) under
``valgrind --tool=callgrind`` twice, with ``SMALL`` and ``LARGE`` requests after the same warm-up,
and divides the difference of the totals by ``LARGE - SMALL``: start-up and imports cancel out,
what is left is the app's own cost of one request. dashcore runs on ``memory://`` with the
production logging defaults (INFO, JSON). Each run takes minutes under valgrind (the two apps'
four runs go two at a time). Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench.machine import source_revision
from bench.profile_app import Lifespan, load, one_request

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
APPS = {"bare": "bench.bare_app:app_from_env", "dashcore": "dashcore_http.asgi:app_from_env"}
SMALL, LARGE, WARMUP = 100, 1100, 200
_COLLECTED = re.compile(r"Collected : (\d+)")


def child(target: str, requests: int) -> None:
    """Serve ``WARMUP + requests`` in-process requests to ``target``."""
    app = load(target)

    async def serve() -> None:
        async with Lifespan(app) as lifespan:
            for _ in range(WARMUP + requests):
                await one_request(app, lifespan.state, "/health")

    asyncio.run(serve())


def environment(data_dir: str) -> dict[str, str]:
    """The apps' environment: dashcore on ``memory://`` with the production logging defaults
    and a fresh key ring; the caller's ``DASHCORE_*`` variables left out."""
    from dashcore_security import KeyRing

    env = {k: v for k, v in os.environ.items() if not k.startswith("DASHCORE_")}
    return {
        **env,
        "PYTHONPATH": str(REPO),
        "DASHCORE_DATA_DIR": data_dir,
        "DASHCORE_DATABASE_URL": "memory://",
        "DASHCORE_LOG_LEVEL": "INFO",
        "DASHCORE_LOG_FORMAT": "json",
        "DASHCORE_VAULT_KEYS": KeyRing.generate().to_env_value(),
    }


def _count(command: list[str], env: dict[str, str]) -> int:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    match = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"bench.instructions: {' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("TARGET", "REQUESTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return 0
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("bench.instructions needs valgrind: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as data_dir:
        env = environment(data_dir)
        commands = {
            (name, size): [
                valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null",
                sys.executable, "-m", "bench.instructions", "--child", target, str(size),
            ]
            for name, target in APPS.items()
            for size in (SMALL, LARGE)
        }  # fmt: skip
        with ThreadPoolExecutor(max_workers=2) as pool:
            counts = pool.map(lambda command: _count(command, env), commands.values())
            totals = dict(zip(commands, counts, strict=True))
    per_request = {
        name: (totals[(name, LARGE)] - totals[(name, SMALL)]) / (LARGE - SMALL) for name in APPS
    }
    report = {
        "benchmark": "instructions per GET /health (callgrind, in-process)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commands": {f"{n}@{s}": " ".join(c) for (n, s), c in commands.items()},
        "totals": {f"{n}@{s}": t for (n, s), t in totals.items()},
        "instructions_per_request": per_request,
        "dashcore_over_bare": round(per_request["dashcore"] / per_request["bare"], 3),
        "source": source_revision(REPO),
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"instructions-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["instructions_per_request"]), report["dashcore_over_bare"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
