"""Run wrk (installed from Debian's packages if missing) and parse its ``--latency`` report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_PERCENTILE = re.compile(r"^\s*(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.MULTILINE)
_SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)", re.MULTILINE)


class WrkError(RuntimeError):
    """wrk is unavailable, failed, or printed something this parser does not understand."""


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests_per_second: float
    requests: int
    latency_ms: dict[str, float]  # p50, p75, p90, p99
    socket_errors: int
    non_2xx: int

    @property
    def clean(self) -> bool:
        return self.socket_errors == 0 and self.non_2xx == 0


def ensure_wrk() -> str:
    """The path of wrk; ``apt-get install -y wrk`` first if it is missing (update on failure)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise WrkError("wrk is not installed and apt-get is unavailable: install wrk by hand")
    print("bench: wrk is missing; running apt-get install -y wrk", flush=True)
    install = [apt, "install", "-y", "wrk"]
    if subprocess.run(install, check=False).returncode != 0:
        print("bench: install failed; running apt-get update and retrying", flush=True)
        subprocess.run([apt, "update"], check=False)
        if subprocess.run(install, check=False).returncode != 0:
            raise WrkError("apt-get install -y wrk failed (are you root?)")
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk still not on PATH after apt-get install")
    return found


def wrk_command(wrk: str, url: str, threads: int, connections: int, seconds: int) -> list[str]:
    return [
        wrk,
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=5s",
        "--latency",
        url,
    ]


def run_wrk(command: list[str]) -> tuple[WrkResult, str]:
    """Run one wrk measurement; returns the parsed result and wrk's raw output."""
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise WrkError(f"{' '.join(command)} exited {completed.returncode}:\n{completed.stderr}")
    return parse(completed.stdout), completed.stdout


def parse(output: str) -> WrkResult:
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    percentiles = _PERCENTILE.findall(output)
    if rps is None or total is None or len(percentiles) != 4:
        raise WrkError(f"cannot parse wrk output:\n{output}")
    socket_errors = _SOCKET_ERRORS.search(output)
    non_2xx = _NON_2XX.search(output)
    return WrkResult(
        requests_per_second=float(rps.group(1)),
        requests=int(total.group(1)),
        latency_ms={
            f"p{pct}": round(float(value) * _TIME_UNITS_MS[unit], 4)
            for pct, value, unit in percentiles
        },
        socket_errors=sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )
