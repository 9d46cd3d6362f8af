"""Instructions per ``GET /health`` request *served by granian*, counted by callgrind.

``python -m bench.instructions_server`` is :mod:`bench.instructions` with the server in the
picture: each app runs under ``dashcore serve``'s granian settings (one worker, uvloop), the
whole process tree under ``valgrind --tool=callgrind`` with instrumentation off until the
server is warm. It then counts, in one session of the tree:

1. ``IDLE_SECONDS`` without requests: the app's timers (dashcore's outbox delivery and
   embedded job schedules) at their rate per second;
2. ``REQUESTS`` keep-alive ``GET /health`` over ``CONNECTIONS`` connections at once.

Per request = (load total - idle rate x load duration) / ``REQUESTS``: the app, granian's
Rust side (parsing the request, turning each response header into its own type, writing the
answer) and the libraries, not the kernel. The in-process count leaves out what the server
does with what the app hands it (each response header costs granian about 2k instructions);
this one does not, which is why its dashcore/bare ratio is the one that predicts the wrk
verdict. Valgrind runs the server about 50x slower, so timers weigh ~50x more per request
than at full speed: the idle subtraction takes them out. Takes about 5 minutes; needs
valgrind. Results: ``bench/results/instructions-server-<time>.json``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.instructions import APPS, REPO, RESULTS, environment
from bench.machine import source_revision
from bench.servers import GRANIAN, HOST, ServerKind, running_server

IDLE_SECONDS = 10.0
REQUESTS = 4000
CONNECTIONS = 8
WARMUP_REQUESTS = 400
HASH_SEED = "0"
"""Fixed for both apps: with random seeds the counts move by 1-2k between runs."""
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class UnderCallgrind(ServerKind):
    """``kind``'s command run by callgrind, every process of it, instrumentation off."""

    out_dir: str = ""

    def command(self, target: str, port: int) -> list[str]:
        return [
            str(shutil.which("valgrind")),
            "--tool=callgrind",
            "--trace-children=yes",
            "--instr-atstart=no",
            f"--callgrind-out-file={self.out_dir}/callgrind.%p",
            *ServerKind.command(self, target, port),
        ]


def _get(port: int, count: int) -> None:
    """``count`` requests on one keep-alive connection; each must answer 200."""
    connection = http.client.HTTPConnection(HOST, port, timeout=120)
    try:
        for _ in range(count):
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"/health answered {response.status}")
    finally:
        connection.close()


def _load(port: int, requests: int) -> float:
    """Seconds to serve ``requests`` over ``CONNECTIONS`` connections at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CONNECTIONS) as pool:
        for done in [pool.submit(_get, port, requests // CONNECTIONS) for _ in range(CONNECTIONS)]:
            done.result()
    return time.perf_counter() - started


class Counters:
    """Callgrind's counters of every process under ``out_dir``, read by dumping them."""

    def __init__(self, out_dir: Path) -> None:
        self._out_dir = out_dir
        self._parts = 0

    def _control(self, *arguments: str) -> None:
        subprocess.run(
            ["callgrind_control", *arguments], check=True, capture_output=True, timeout=120
        )

    @contextmanager
    def instrumented(self) -> Iterator[None]:
        self._control("-i", "on")
        try:
            yield
        finally:
            self._control("-i", "off")

    def dump(self) -> int:
        """Instructions since the last dump, summed over the processes."""
        self._control("-d")
        self._parts += 1
        suffix = f".{self._parts}"
        return sum(
            int(match.group(1))
            for path in self._out_dir.glob(f"callgrind.*{suffix}")
            if path.name.count(".") == 2 and (match := _TOTALS.search(path.read_text()))
        )


def measure(name: str, target: str, env: dict[str, str], root: Path) -> dict[str, float]:
    out_dir = root / name
    out_dir.mkdir()
    kind = UnderCallgrind(GRANIAN.name, GRANIAN.executable, GRANIAN.flags, str(out_dir))
    with running_server(
        kind, name, target, "/health", env, root / f"{name}.log", REPO, start_timeout=600.0
    ) as server:
        port = int(server.url.rsplit(":", 1)[1].split("/", 1)[0])
        _load(port, WARMUP_REQUESTS)
        counters = Counters(out_dir)
        with counters.instrumented():
            time.sleep(IDLE_SECONDS)
            idle = counters.dump()
            seconds = _load(port, REQUESTS)
            loaded = counters.dump()
    idle_per_second = idle / IDLE_SECONDS
    return {
        "idle_per_second": round(idle_per_second),
        "load_seconds": round(seconds, 2),
        "load_total": loaded,
        "per_request": round((loaded - idle_per_second * seconds) / REQUESTS, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.instructions_server", description=__doc__
    )
    parser.add_argument("--no-save", action="store_true", help="print only, write no file")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench.instructions_server needs valgrind: apt-get install -y valgrind")
    with tempfile.TemporaryDirectory() as data_dir, tempfile.TemporaryDirectory() as root:
        env = {**environment(data_dir), "PYTHONHASHSEED": HASH_SEED}
        counts = {name: measure(name, target, env, Path(root)) for name, target in APPS.items()}
    ratio = counts["dashcore"]["per_request"] / counts["bare"]["per_request"]
    report = {
        "benchmark": "instructions per GET /health served by granian (callgrind)",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "server": " ".join(GRANIAN.flags),
        "requests": REQUESTS,
        "connections": CONNECTIONS,
        "idle_seconds": IDLE_SECONDS,
        "python_hash_seed": HASH_SEED,
        "apps": counts,
        "dashcore_over_bare": round(ratio, 3),
        "source": source_revision(REPO),
    }
    print(
        f"instructions per GET /health under granian: bare {counts['bare']['per_request']:,.0f}, "
        f"dashcore {counts['dashcore']['per_request']:,.0f} (x{ratio:.3f})"
    )
    if not args.no_save:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"instructions-server-{stamp}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        print(f"bench: wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
