"""The per-provider HTTP policy: deadline, rate limit, circuit breaker, retries of reads only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from structlog.testing import capture_logs

from dashcore.domain.errors import ProviderUnavailable, RateLimited
from dashcore.testing.clock import FakeClock
from dashcore_brokers.http import (
    NOTHING_SENT,
    REASON_LIMIT,
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    HttpPolicy,
    ProviderHttp,
    RateLimit,
    RetryPolicy,
    TokenBucket,
    broker_reason,
    retry_after_seconds,
    with_reason,
)
from tests.contract.brokers.timing import FakeTiming

NOW = datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """A mock provider answering from a list (the last answer repeats); counts the calls."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def timing() -> FakeTiming:
    return FakeTiming()


@pytest.fixture
def policy() -> HttpPolicy:
    return HttpPolicy(rate_limit=RateLimit(per_second=1000, burst=1000))


def make_http(
    handler: Handler, timing: FakeTiming, policy: HttpPolicy, **headers: str
) -> ProviderHttp:
    return ProviderHttp(
        "acme",
        base_url="https://broker.test",
        policy=policy,
        clock=FakeClock(NOW),
        headers=headers,
        transport=httpx.MockTransport(handler),
        timing=timing.timing(),
    )


@pytest.fixture
async def closing() -> AsyncIterator[list[ProviderHttp]]:
    clients: list[ProviderHttp] = []
    yield clients
    for client in clients:
        await client.aclose()


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, headers=headers, json={"error": "x"})


# ----------------------------------------------------------------------------- policy values


def test_defaults_are_ten_seconds_to_connect_and_thirty_in_all() -> None:
    policy = HttpPolicy()
    assert (policy.connect_timeout, policy.total_timeout) == (10.0, 30.0)
    assert policy.retry.attempts == 3
    assert (policy.breaker.failures, policy.breaker.cooldown) == (5, 30.0)


@pytest.mark.parametrize(
    "build",
    [
        lambda: HttpPolicy(connect_timeout=40, total_timeout=30),
        lambda: HttpPolicy(connect_timeout=0),
        lambda: RateLimit(per_second=0),
        lambda: RateLimit(per_second=1, burst=0),
        lambda: RetryPolicy(attempts=0),
        lambda: RetryPolicy(base_delay=5, max_delay=1),
        lambda: BreakerPolicy(failures=0),
        lambda: BreakerPolicy(cooldown=0),
    ],
)
def test_nonsense_policies_are_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match=r"must|needs"):
        build()


# ------------------------------------------------------------------------------- Retry-After


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7", NOW) == 7.0
    assert retry_after_seconds(" 0 ", NOW) == 0.0
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert retry_after_seconds(later, NOW) == 42.0
    earlier = format_datetime(NOW - timedelta(minutes=5), usegmt=True)
    assert retry_after_seconds(earlier, NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "1.5", "²"])
def test_unreadable_retry_after_is_ignored(value: str | None) -> None:
    assert retry_after_seconds(value, NOW) is None


# ---------------------------------------------------------------------------- broker reasons


def test_a_brokers_reason_is_kept_as_written() -> None:
    assert broker_reason("Insufficient funds. Required: ₹1,20,000.") == (
        "Insufficient funds. Required: ₹1,20,000."
    )


def test_a_reason_loses_control_and_format_characters_and_extra_whitespace() -> None:
    dirty = "  Insufficient\n\tfunds\x00\x1b[31m \u202eexcess\u200b \x85 margin\r\n "
    assert broker_reason(dirty) == "Insufficient funds[31m excess margin"


def test_an_overlong_reason_is_cut_to_the_limit_with_an_ellipsis() -> None:
    cut = broker_reason("word " * 100)
    assert cut is not None
    assert len(cut) == REASON_LIMIT
    assert cut.endswith("word…")
    assert broker_reason("x" * REASON_LIMIT) == "x" * REASON_LIMIT


@pytest.mark.parametrize("value", [None, "", " \n\t ", "\x00\x07", 42, ["funds"], {"m": "x"}])
def test_no_text_is_no_reason(value: object) -> None:
    assert broker_reason(value) is None


def test_a_statement_ends_with_the_reason_or_a_full_stop() -> None:
    assert with_reason("Kite refused the request as invalid", "Bad quantity.") == (
        "Kite refused the request as invalid: Bad quantity."
    )
    assert with_reason("Kite refused the request as invalid", None) == (
        "Kite refused the request as invalid."
    )


# ------------------------------------------------------------------------------ token bucket


async def test_bucket_serves_a_burst_then_paces(timing: FakeTiming) -> None:
    bucket = TokenBucket(RateLimit(per_second=10, burst=10), timing.timing())
    for _ in range(10):
        await bucket.acquire()
    assert timing.sleeps == []
    await bucket.acquire()
    assert timing.sleeps == [pytest.approx(0.1)]


async def test_bucket_refills_with_time(timing: FakeTiming) -> None:
    bucket = TokenBucket(RateLimit(per_second=2, burst=2), timing.timing())
    await bucket.acquire()
    await bucket.acquire()
    timing.advance(1.0)
    await bucket.acquire()
    await bucket.acquire()
    assert timing.sleeps == []


async def test_calls_are_paced_to_the_provider_rate(
    timing: FakeTiming, closing: list[ProviderHttp]
) -> None:
    script = Script(httpx.Response(200, json={}))
    http = make_http(script, timing, HttpPolicy(rate_limit=RateLimit(per_second=5, burst=5)))
    closing.append(http)
    start = timing.now
    for _ in range(20):
        await http.request("GET", "/quote")
    assert len(script.requests) == 20
    # 5 from the burst, then 15 more at 5 a second.
    assert timing.now - start == pytest.approx(3.0)


# ---------------------------------------------------------------------------- circuit breaker


def state_of(breaker: CircuitBreaker) -> BreakerState:
    """The state now (a call, so that the type checker does not carry a narrowing over)."""
    return breaker.state


def test_breaker_opens_after_consecutive_failures_and_probes_once(timing: FakeTiming) -> None:
    breaker = CircuitBreaker("acme", BreakerPolicy(failures=3, cooldown=30), timing.timing())
    for _ in range(2):
        breaker.admit()
        breaker.failed()
    breaker.admit()
    breaker.succeeded()  # a success resets the count
    for _ in range(3):
        breaker.admit()
        breaker.failed()
    assert state_of(breaker) is BreakerState.OPEN
    timing.advance(10)
    with pytest.raises(ProviderUnavailable) as refused:
        breaker.admit()
    assert refused.value.code == "provider_circuit_open"
    assert refused.value.retry_after == 20
    timing.advance(20)
    assert state_of(breaker) is BreakerState.HALF_OPEN
    breaker.admit()  # the probe
    with pytest.raises(ProviderUnavailable):
        breaker.admit()  # a second caller while the probe is out
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED


def test_a_failed_probe_opens_the_circuit_again(timing: FakeTiming) -> None:
    breaker = CircuitBreaker("acme", BreakerPolicy(failures=1, cooldown=5), timing.timing())
    breaker.admit()
    breaker.failed()
    timing.advance(5)
    breaker.admit()
    breaker.failed()
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(ProviderUnavailable):
        breaker.admit()


def test_an_abandoned_probe_frees_the_slot(timing: FakeTiming) -> None:
    breaker = CircuitBreaker("acme", BreakerPolicy(failures=1, cooldown=5), timing.timing())
    breaker.admit()
    breaker.failed()
    timing.advance(5)
    breaker.admit()
    breaker.abandoned()
    breaker.admit()
    assert breaker.state is BreakerState.HALF_OPEN


async def test_open_circuit_fails_fast_without_calling(
    timing: FakeTiming, closing: list[ProviderHttp]
) -> None:
    script = Script(status(503), status(503), httpx.Response(200, json={}))
    policy = HttpPolicy(
        breaker=BreakerPolicy(failures=2, cooldown=30),
        retry=RetryPolicy(attempts=1),
        rate_limit=RateLimit(per_second=1000, burst=1000),
    )
    http = make_http(script, timing, policy)
    closing.append(http)
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await http.request("POST", "/orders")
    with pytest.raises(ProviderUnavailable) as refused:
        await http.request("GET", "/profile")
    assert refused.value.code == "provider_circuit_open"
    assert len(script.requests) == 2
    timing.advance(30)
    assert (await http.request("GET", "/profile")).status_code == 200
    assert http.breaker.state is BreakerState.CLOSED


async def test_client_errors_prove_the_provider_is_up(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(status(400))
    http = make_http(script, timing, policy)
    closing.append(http)
    for _ in range(10):
        assert (await http.request("POST", "/session")).status_code == 400
    assert http.breaker.state is BreakerState.CLOSED
    assert len(script.requests) == 10  # and a 4xx is never retried


# ----------------------------------------------------------------------------------- retries


async def test_a_read_is_retried_after_5xx_with_growing_backoff(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(status(503), status(502), httpx.Response(200, json={"ok": True}))
    http = make_http(script, timing, policy)
    closing.append(http)
    response = await http.request("GET", "/profile")
    assert response.json() == {"ok": True}
    assert len(script.requests) == 3
    # Full jitter at 0.5 of 0.25 s, then of 0.5 s.
    assert timing.sleeps == [0.125, 0.25]


async def test_a_read_gives_up_after_three_attempts(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(status(500))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises(ProviderUnavailable) as failed:
        await http.request("GET", "/profile")
    assert failed.value.code == "provider_error"
    assert len(script.requests) == 3
    assert failed.value.__cause__ is None


async def test_connect_errors_are_retried_for_reads(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    assert (await http.request("GET", "/profile")).status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@pytest.mark.parametrize(
    "answer",
    [status(503), httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), status(429)],
    ids=["503", "connect", "read-timeout", "429"],
)
async def test_writes_are_never_retried(
    timing: FakeTiming,
    policy: HttpPolicy,
    closing: list[ProviderHttp],
    method: str,
    answer: httpx.Response | Exception,
) -> None:
    script = Script(answer, httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises((ProviderUnavailable, RateLimited)) as failed:
        await http.request(method, "/session/token")
    assert len(script.requests) == 1
    assert timing.sleeps == []
    assert failed.value.__cause__ is None
    assert failed.value.__context__ is None


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (httpx.ConnectError("refused"), "provider_unreachable"),
        (httpx.ConnectTimeout("slow to connect"), "provider_unreachable"),
        (httpx.PoolTimeout("no free connection"), "provider_unreachable"),
        (httpx.ReadTimeout("slow to answer"), "provider_timeout"),
        (httpx.WriteTimeout("slow to take the body"), "provider_timeout"),
        (httpx.ReadError("connection reset by peer"), "provider_connection_lost"),
        (httpx.WriteError("broken pipe"), "provider_connection_lost"),
        (httpx.RemoteProtocolError("server disconnected"), "provider_connection_lost"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else value,
)
async def test_a_failed_write_says_whether_it_may_have_been_sent(
    timing: FakeTiming,
    policy: HttpPolicy,
    closing: list[ProviderHttp],
    error: Exception,
    code: str,
) -> None:
    script = Script(error, httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises(ProviderUnavailable) as failed:
        await http.request("POST", "/orders")
    assert failed.value.code == code
    assert (code in NOTHING_SENT) is (code == "provider_unreachable")
    assert len(script.requests) == 1
    assert failed.value.__cause__ is None


async def test_an_open_circuit_is_reported_as_nothing_sent(
    timing: FakeTiming, closing: list[ProviderHttp]
) -> None:
    policy = HttpPolicy(
        breaker=BreakerPolicy(failures=1, cooldown=30),
        rate_limit=RateLimit(per_second=1000, burst=1000),
    )
    script = Script(httpx.ConnectError("refused"))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises(ProviderUnavailable):
        await http.request("POST", "/orders")
    with pytest.raises(ProviderUnavailable) as refused:
        await http.request("POST", "/orders")
    assert refused.value.code in NOTHING_SENT
    assert len(script.requests) == 1


async def test_a_read_waits_the_providers_retry_after(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(status(429, **{"Retry-After": "2"}), httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    assert (await http.request("GET", "/profile")).status_code == 200
    assert timing.sleeps == [2.0]


async def test_a_retry_after_beyond_the_cap_is_not_waited(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(status(429, **{"Retry-After": "60"}), httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises(RateLimited) as limited:
        await http.request("GET", "/profile")
    assert limited.value.retry_after == 60
    assert limited.value.code == "provider_rate_limited"
    assert len(script.requests) == 1
    assert timing.sleeps == []


async def test_a_429_without_retry_after_asks_for_a_second(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    http = make_http(Script(status(429)), timing, policy)
    closing.append(http)
    with pytest.raises(RateLimited) as limited:
        await http.request("POST", "/orders")
    assert limited.value.retry_after == 1


async def test_a_503_passes_its_retry_after_on(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    http = make_http(Script(status(503, **{"Retry-After": "120"})), timing, policy)
    closing.append(http)
    with pytest.raises(ProviderUnavailable) as failed:
        await http.request("GET", "/profile")
    assert failed.value.retry_after == 120


async def test_no_retry_is_started_that_would_end_after_the_deadline(
    timing: FakeTiming, closing: list[ProviderHttp]
) -> None:
    policy = HttpPolicy(connect_timeout=1, total_timeout=3)
    script = Script(status(429, **{"Retry-After": "5"}), httpx.Response(200, json={}))
    http = make_http(script, timing, policy)
    closing.append(http)
    with pytest.raises(RateLimited):
        await http.request("GET", "/profile")
    assert timing.sleeps == []


# ---------------------------------------------------------------------------------- deadline


async def test_a_silent_provider_ends_at_the_total_timeout(
    timing: FakeTiming, closing: list[ProviderHttp]
) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    policy = HttpPolicy(connect_timeout=0.01, total_timeout=0.05)
    http = ProviderHttp(
        "acme",
        base_url="https://broker.test",
        policy=policy,
        clock=FakeClock(NOW),
        transport=httpx.MockTransport(hang),
        timing=timing.timing(),
    )
    closing.append(http)
    with pytest.raises(ProviderUnavailable) as failed:
        await http.request("POST", "/session/token")
    assert failed.value.code == "provider_timeout"
    assert failed.value.__cause__ is None


# --------------------------------------------------------------------------- wire and logging


async def test_default_headers_are_sent_and_redirects_are_not_followed(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    script = Script(httpx.Response(302, headers={"Location": "https://elsewhere.test/"}))
    http = make_http(script, timing, policy, **{"X-Kite-Version": "3"})
    closing.append(http)
    response = await http.request("GET", "/profile")
    assert response.status_code == 302
    assert len(script.requests) == 1
    assert script.requests[0].headers["x-kite-version"] == "3"


async def test_logs_name_the_path_never_the_query(
    timing: FakeTiming, policy: HttpPolicy, closing: list[ProviderHttp]
) -> None:
    secret = "access-token-value-123"
    script = Script(status(503), httpx.ConnectError("refused"), status(503))
    http = make_http(script, timing, policy)
    closing.append(http)
    with capture_logs() as logs, pytest.raises(ProviderUnavailable) as failed:
        await http.request("GET", "/session/token", params={"access_token": secret})
    events = [entry["event"] for entry in logs]
    assert events.count("provider_http_retry") == 2
    assert all(entry.get("path") == "/session/token" for entry in logs if "path" in entry)
    assert secret not in repr(logs)
    assert secret not in repr(failed.value) and secret not in str(failed.value)
