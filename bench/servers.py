"""Start an ASGI server on a fresh loopback port, wait until it answers, always stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent


class ServerStartError(RuntimeError):
    """A server did not answer on its port; the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class ServerKind:
    """How to launch one ASGI server with one worker, quiet logs and no access log."""

    name: str
    executable: str
    flags: tuple[str, ...]

    def command(self, target: str, port: int) -> list[str]:
        binary = str(VENV_BIN / self.executable)
        return [binary, *self.flags, "--host", HOST, "--port", str(port), target]


GRANIAN = ServerKind(
    name="granian",
    executable="granian",
    flags=(
        "--interface",
        "asgi",
        "--factory",
        "--workers",
        "1",
        "--runtime-threads",
        "1",
        "--loop",
        "uvloop",
        "--log-level",
        "warning",
        "--no-access-log",
    ),
)

UVICORN = ServerKind(
    name="uvicorn",
    executable="uvicorn",
    flags=(
        "--factory",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ),
)

SERVERS: dict[str, ServerKind] = {kind.name: kind for kind in (GRANIAN, UVICORN)}


def free_port() -> int:
    """A port the kernel just handed out on loopback (released again for the server)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class RunningServer:
    kind: str
    app: str
    command: list[str]
    url: str
    pid: int
    first_response: str


@contextmanager
def running_server(
    kind: ServerKind,
    app: str,
    target: str,
    path: str,
    env: Mapping[str, str],
    log_file: Path,
    cwd: Path,
    start_timeout: float = 30.0,
) -> Iterator[RunningServer]:
    """Run ``target`` under ``kind`` until the block exits (normally, by error or Ctrl-C)."""
    port = free_port()
    command = kind.command(target, port)
    url = f"http://{HOST}:{port}{path}"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we stop workers with the parent
        )
    try:
        body = _wait_until_answering(process, url, start_timeout, log_file)
        yield RunningServer(kind.name, app, command, url, process.pid, body)
    finally:
        _stop(process)


def _wait_until_answering(
    process: subprocess.Popen[bytes], url: str, timeout: float, log_file: Path
) -> str:
    deadline = time.monotonic() + timeout
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerStartError(
                f"server exited with code {process.returncode} before answering {url}\n"
                f"--- {log_file} ---\n{_tail(log_file)}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:  # noqa: S310 (loopback)
                return f"{response.status} {response.read(200).decode(errors='replace')}"
        except urllib.error.HTTPError as exc:
            raise ServerStartError(
                f"{url} answered {exc.code}, expected 200\n--- {log_file} ---\n{_tail(log_file)}"
            ) from exc
        except OSError as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise ServerStartError(
        f"server did not answer {url} within {timeout:.0f}s (last error: {last_error})\n"
        f"--- {log_file} ---\n{_tail(log_file)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; make sure no worker of its group survives it.
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        break


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(session: int) -> float:
    """User + system CPU seconds of every live process in ``session`` (a server and its workers)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After the parenthesised command: state ppid pgrp session ... utime(14) stime(15)
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[3]) == session:
            total += int(fields[11]) + int(fields[12])
    return total / _CLOCK_TICKS


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
