"""The breached-password check (security.md PW-3) against a real range API stand-in: the
standard library's HTTP server on 127.0.0.1, in a thread, answering what each test sets.

First the adapter on its own (what it sends, how it reads the answer, every way the service
can fail), then registration over HTTP with the app pointed at the stand-in."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from structlog.testing import capture_logs

from dashcore.ports.audit import AuditLog
from dashcore_app.settings import Settings
from dashcore_security.breached_passwords import MAX_ANSWER_BYTES, HibpBreachedPasswords
from tests.integration.identity.conftest import Backend, Served

API = "/api/v1"
BREACHED = "tangerine submarine orchestra"
NEW = "violet harbour lantern 2047"
TEST_TIMEOUT = 0.3
"""The adapter's deadline in these tests (2 s in production), so a timeout test stays fast."""


def sha1(password: str) -> str:
    return hashlib.sha1(password.encode("utf-8"), usedforsecurity=False).hexdigest().upper()


def answer(*lines: tuple[str, int]) -> bytes:
    """A range-API answer: ``SUFFIX:COUNT`` lines, CRLF-separated."""
    return "\r\n".join(f"{suffix}:{count}" for suffix, count in lines).encode("ascii")


def other_suffixes(count: int) -> list[tuple[str, int]]:
    return [(f"{n:035X}", n + 1) for n in range(count)]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RangeApi:
    """What the stand-in answers next (``status``, ``body``, whether it holds the answer until
    released) and every request it was sent."""

    url: str = ""
    status: int = 200
    body: bytes = b""
    hold: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    requests: list[Seen] = field(default_factory=list)

    def knows(self, *passwords: tuple[str, int]) -> None:
        """Answer every prefix with these passwords' suffixes, among others and padding."""
        lines = [*other_suffixes(300), *((sha1(p)[5:], n) for p, n in passwords)]
        self.body = answer(*lines, ("F" * 35, 0))


@pytest.fixture
def range_api() -> Iterator[RangeApi]:
    api = RangeApi()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            api.requests.append(Seen(self.path, dict(self.headers), self.rfile.read(length)))
            if api.hold:
                api.released.wait(timeout=10)
            # The client may have given up (a timeout, an oversized answer): not an error here.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(api.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(api.body)))
                self.end_headers()
                self.wfile.write(api.body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="range-api", daemon=True
    )
    thread.start()
    try:
        yield api
    finally:
        api.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def breaches(range_api: RangeApi) -> AsyncIterator[HibpBreachedPasswords]:
    adapter = HibpBreachedPasswords(range_api.url, timeout=TEST_TIMEOUT)
    yield adapter
    await adapter.aclose()


# -- the adapter ----------------------------------------------------------------------------


async def test_only_a_five_character_prefix_of_the_hash_is_sent(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.knows()
    await breaches.times_seen(BREACHED)
    [request] = range_api.requests
    assert request.path == f"/range/{sha1(BREACHED)[:5]}"
    assert request.body == b""
    sent = request.path + "".join(f"{k}:{v}" for k, v in request.headers.items())
    assert BREACHED not in sent and sha1(BREACHED)[5:] not in sent
    assert sha1(BREACHED)[:6] not in sent.upper()
    assert request.headers["Add-Padding"] == "true"
    assert request.headers["User-Agent"].startswith("dashcore/")


async def test_a_hit_is_the_count_the_service_gives(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.knows((BREACHED, 5321))
    assert await breaches.times_seen(BREACHED) == 5321


async def test_a_miss_is_zero(range_api: RangeApi, breaches: HibpBreachedPasswords) -> None:
    range_api.knows((BREACHED, 5321))
    assert await breaches.times_seen(NEW) == 0


async def test_a_padding_line_is_not_a_hit(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.body = answer(*other_suffixes(10), (sha1(NEW)[5:], 0))
    assert await breaches.times_seen(NEW) == 0


async def test_lower_case_suffixes_and_a_trailing_newline_are_read(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.body = answer((sha1(BREACHED)[5:].lower(), 7)) + b"\r\n"
    assert await breaches.times_seen(BREACHED) == 7


async def test_a_service_that_does_not_answer_in_time_is_unavailable(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.knows((BREACHED, 1))
    range_api.hold = True
    started = time.monotonic()
    with capture_logs() as logs:
        assert await breaches.times_seen(BREACHED) is None
    assert time.monotonic() - started < TEST_TIMEOUT + 1.0
    assert [(e["event"], e["reason"]) for e in logs] == [
        ("breached_password_check_failed", "timeout")
    ]
    assert_no_hash_in(logs, BREACHED)


@pytest.mark.parametrize("status", [500, 503, 429, 404, 301])
async def test_any_status_but_200_is_unavailable(
    range_api: RangeApi, breaches: HibpBreachedPasswords, status: int
) -> None:
    range_api.knows((BREACHED, 1))
    range_api.status = status
    with capture_logs() as logs:
        assert await breaches.times_seen(BREACHED) is None
    assert [(e["reason"], e["status"]) for e in logs] == [("status", status)]
    assert_no_hash_in(logs, BREACHED)


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",
        b"",
        answer(*other_suffixes(3)) + b"\r\nABC:1",
        answer(*other_suffixes(3)) + b"\r\n" + b"A" * 35 + b":many",
        "É".encode() * 40,
    ],
    ids=["html", "empty", "short-suffix", "bad-count", "not-ascii"],
)
async def test_an_unreadable_answer_is_unavailable(
    range_api: RangeApi, breaches: HibpBreachedPasswords, body: bytes
) -> None:
    range_api.body = body
    with capture_logs() as logs:
        assert await breaches.times_seen(BREACHED) is None
    assert [e["reason"] for e in logs] == ["malformed"]


async def test_an_oversized_answer_is_not_read_to_the_end(
    range_api: RangeApi, breaches: HibpBreachedPasswords
) -> None:
    range_api.body = answer(*other_suffixes(MAX_ANSWER_BYTES // 30))
    with capture_logs() as logs:
        assert await breaches.times_seen(BREACHED) is None
    assert [e["reason"] for e in logs] == ["too_large"]


async def test_nobody_listening_is_unavailable() -> None:
    with socket.socket() as bound:  # bound but never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}"
        adapter = HibpBreachedPasswords(url, timeout=TEST_TIMEOUT)
        try:
            with capture_logs() as logs:
                assert await adapter.times_seen(BREACHED) is None
        finally:
            await adapter.aclose()
    assert [e["reason"] for e in logs] == ["unreachable"]
    assert_no_hash_in(logs, BREACHED)


def assert_no_hash_in(logs: Sequence[Mapping[str, object]], password: str) -> None:
    text = repr(logs).upper()
    assert password.upper() not in text and sha1(password)[:5] not in text


# -- registration over HTTP -------------------------------------------------------------------


@pytest.fixture
def backend(memory_settings: Settings, range_api: RangeApi) -> Backend:
    """The identity suites' app (``served``), pointed at the stand-in."""
    return Backend(replace(memory_settings, breached_passwords_url=range_api.url))


async def register(served: Served, password: str) -> httpx.Response:
    body = {"email": "ada@example.org", "password": password}
    return await served.client.post(f"{API}/auth/register", json=body)


async def test_registering_with_a_breached_password_is_refused(
    served: Served, range_api: RangeApi
) -> None:
    range_api.knows((BREACHED, 12))
    refused = await register(served, BREACHED)
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "password_breached"
    assert [e["field"] for e in problem["errors"]] == ["password"]
    assert (await register(served, NEW)).status_code == 201
    assert [r.path for r in range_api.requests] == [
        f"/range/{sha1(BREACHED)[:5]}",
        f"/range/{sha1(NEW)[:5]}",
    ]


async def test_when_the_service_times_out_the_local_list_decides_and_the_audit_log_says_so(
    served: Served, range_api: RangeApi
) -> None:
    """The production deadline (2 s): the stand-in holds its answer for 10 s."""
    range_api.knows((BREACHED, 12))
    range_api.hold = True
    common = await register(served, "iloveyou123456789")
    assert common.status_code == 422 and common.json()["code"] == "password_too_common"
    started = time.monotonic()
    assert (await register(served, BREACHED)).status_code == 201
    assert time.monotonic() - started < 5
    async with served.core() as scope:
        events = [r.event async for r in (await scope.get(AuditLog)).records()]
    [warning] = [e for e in events if e.action == "password_breach_check_unavailable"]
    assert warning.metadata == {"purpose": "registration", "fallback": "local_list"}
    assert BREACHED not in repr(warning) and sha1(BREACHED)[:5] not in repr(warning).upper()
