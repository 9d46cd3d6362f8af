"""The HTTP policy every broker adapter goes through (issue #5; security.md BKEY-1, ORD-2).

One :class:`ProviderHttp` per provider and process wraps an ``httpx.AsyncClient`` and applies,
to every call, in this order:

1. **A deadline**: the whole call, retries and waits included, ends within
   ``HttpPolicy.total_timeout`` (30 s by default; 10 s to connect). A missed deadline is
   ``ProviderUnavailable`` (``provider_timeout``).
2. **A rate limit** per provider: a token bucket with the broker's documented rate (Kite 10/s,
   Groww non-trading 20/s; an unpublished limit gets the conservative
   :data:`DEFAULT_RATE_LIMIT`). A call waits for its token; it is never refused locally. The
   bucket is per process: N processes may together send N times the rate.
3. **A circuit breaker**: after ``failures`` consecutive failed attempts (transport errors,
   timeouts, 5xx) the circuit opens for ``cooldown`` seconds and calls fail at once with
   ``ProviderUnavailable`` (``provider_circuit_open``, with ``retry_after``) without reaching
   the provider; then one probe is let through (half-open): success closes the circuit, failure
   opens it again. A 4xx or a 429 proves the provider is up and counts as a success.
4. **Retries for idempotent reads only**: a ``GET`` that fails with a transport error, a
   timeout, a 5xx or a 429 is tried again, at most ``attempts`` times in all, after an
   exponential backoff with full jitter, or after the provider's ``Retry-After`` when it sends
   one (up to ``max_retry_after``; a longer wait is not taken and the error is raised at once).
   ``POST``, ``PUT`` and ``DELETE`` are never retried: bytes may have reached the broker.

Outcomes: a response with a status below 500 other than 429 is returned for the adapter to
read; 429 is ``RateLimited`` (``retry_after`` from the header, else 1 s); 5xx, transport errors
and undecodable bodies are ``ProviderUnavailable``. Its code tells whether the request may have
reached the provider, which decides whether a write may be sent again (ORD-2):

* **nothing was sent** (:data:`NOTHING_SENT`): ``provider_unreachable`` (no connection could be
  opened: refused, DNS, TLS handshake, connect timeout, no free pooled connection) and
  ``provider_circuit_open``;
* **it may have been sent**: ``provider_timeout`` (no answer in time once the request was
  under way), ``provider_connection_lost`` (the connection broke after it was opened: a reset, a
  disconnect before the answer) and ``provider_error`` (a 5xx).

No ``httpx`` exception leaves this module, and none is chained to the domain error, because
an httpx error carries its request (headers and URL, where Kite's protocol puts an access
token). Log lines name the provider, the method
and the path, never the query string, a header or a body.

A refusal (a 4xx) is the adapter's to translate; :func:`safe_code` vets the broker's error code
and :func:`broker_reason` cleans the broker's words before a domain error's message repeats
them.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar

import httpx
import msgspec
import structlog

from dashcore.domain.errors import NOTHING_SENT_CODES, ProviderUnavailable, RateLimited
from dashcore.ports.brokers import PayloadRecorder
from dashcore.ports.clock import Clock

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "NOTHING_SENT",
    "REASON_LIMIT",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "HttpPolicy",
    "ProviderHttp",
    "RateLimit",
    "RetryPolicy",
    "Timing",
    "TokenBucket",
    "broker_reason",
    "decode",
    "record",
    "retry_after_seconds",
    "safe_code",
    "with_reason",
]

T = TypeVar("T")
_IDEMPOTENT: Final = frozenset({"GET"})
_RATE_LIMITED: Final = 429

_NOT_CONNECTED: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a connection carried any byte of the request."""

NOTHING_SENT: Final = NOTHING_SENT_CODES
"""``ProviderUnavailable`` codes of a call that provably never reached the provider: a write
that failed with one of them may be sent again."""

_JSON: Final = msgspec.json.Encoder(decimal_format="number")
_log = structlog.get_logger("dashcore_brokers.http")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``per_second`` requests on average, with bursts of up to ``burst``."""

    per_second: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not self.per_second > 0 or self.burst < 1:
            raise ValueError("a rate limit needs a positive rate and a burst of at least 1")


DEFAULT_RATE_LIMIT: Final = RateLimit(per_second=2.0, burst=4)
"""For a provider that publishes no limit (Schwab's reads, Upstox): 120 a minute."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How idempotent reads are retried: ``attempts`` in all (the first included); the n-th
    wait is a random part of ``min(max_delay, base_delay * 2**(n-1))``, or the provider's
    ``Retry-After`` when it is at most ``max_retry_after`` seconds."""

    attempts: int = 3
    base_delay: float = 0.25
    max_delay: float = 4.0
    max_retry_after: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("a retry policy needs attempts >= 1 and 0 <= base <= max delay")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must not be negative")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failures`` consecutive failed attempts; probe again after ``cooldown`` s."""

    failures: int = 5
    cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.cooldown <= 0:
            raise ValueError("a breaker needs failures >= 1 and a positive cooldown")


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """Timeouts, retries, rate limit and circuit breaker of one provider's HTTP calls."""

    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    retry: RetryPolicy = RetryPolicy()
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT
    breaker: BreakerPolicy = BreakerPolicy()

    def __post_init__(self) -> None:
        if not 0 < self.connect_timeout <= self.total_timeout:
            raise ValueError("timeouts must be positive, connect no longer than total")


def _jitter() -> float:
    return random.random()  # noqa: S311 (backoff jitter, not a secret)


@dataclass(frozen=True, slots=True)
class Timing:
    """Where the policy reads time and waits: the process's monotonic clock and
    ``asyncio.sleep`` unless a test substitutes its own (``random`` draws the jitter)."""

    monotonic: Callable[[], float] = field(default=time.monotonic)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep)
    random: Callable[[], float] = field(default=_jitter)


class TokenBucket:
    """An async token bucket: ``acquire`` waits (first come, first served) for a token."""

    def __init__(self, limit: RateLimit, timing: Timing) -> None:
        self._limit = limit
        self._timing = timing
        self._tokens = float(limit.burst)
        self._updated = timing.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            if self._tokens < 1:
                await self._timing.sleep((1 - self._tokens) / self._limit.per_second)
                self._refill()
                # The wait earned the token, whatever the float rounding says.
                self._tokens = max(self._tokens, 1.0)
            self._tokens -= 1

    def _refill(self) -> None:
        now = self._timing.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(
            float(self._limit.burst), self._tokens + elapsed * self._limit.per_second
        )
        self._updated = now


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure circuit breaker with a single half-open probe.

    Every attempt calls :meth:`admit` first, then exactly one of :meth:`succeeded`,
    :meth:`failed` or :meth:`abandoned` (cancelled before an outcome: the probe slot is freed
    without a verdict).
    """

    def __init__(self, provider: str, policy: BreakerPolicy, timing: Timing) -> None:
        self._provider = provider
        self._policy = policy
        self._timing = timing
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    def admit(self) -> None:
        """Let an attempt through, or raise ``ProviderUnavailable`` (``provider_circuit_open``)."""
        if self._state is BreakerState.OPEN:
            if not self._cooled_down():
                remaining = self._opened_at + self._policy.cooldown - self._timing.monotonic()
                raise self._open_error(max(1, math.ceil(remaining)))
            self._state = BreakerState.HALF_OPEN
        if self._state is BreakerState.HALF_OPEN:
            if self._probing:
                raise self._open_error(1)
            self._probing = True

    def succeeded(self) -> None:
        if self._state is not BreakerState.CLOSED:
            _log.info("provider_circuit_closed", provider=self._provider)
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._probing = False

    def failed(self) -> None:
        self._probing = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN or self._failures >= self._policy.failures:
            self._open()

    def abandoned(self) -> None:
        self._probing = False

    def _open(self) -> None:
        if self._state is not BreakerState.OPEN:
            _log.warning(
                "provider_circuit_opened",
                provider=self._provider,
                failures=self._failures,
                cooldown_seconds=self._policy.cooldown,
            )
        self._state = BreakerState.OPEN
        self._opened_at = self._timing.monotonic()

    def _cooled_down(self) -> bool:
        return self._timing.monotonic() >= self._opened_at + self._policy.cooldown

    def _open_error(self, retry_after: int) -> ProviderUnavailable:
        return ProviderUnavailable(
            f"{self._provider} is failing; calls are paused for a moment.",
            code="provider_circuit_open",
            retry_after=retry_after,
        )


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


_SAFE_CODE: Final = re.compile(r"[A-Za-z0-9_.-]{1,64}", re.ASCII)


def safe_code(value: object) -> str | None:
    """A provider's error code (``invalid_client``, ``UDAPI100050``, ``TokenException``) when it
    looks like one, so that it may go into a log line or a message; ``None`` for anything else
    (a provider may echo what it was sent into an error field)."""
    return value if isinstance(value, str) and _SAFE_CODE.fullmatch(value) else None


REASON_LIMIT: Final = 200
"""The most characters of a broker's reason a message repeats."""


def broker_reason(value: object) -> str | None:
    """A broker's own words for refusing an order or data call (Kite's ``message``, Upstox's
    ``errors[0].message``), fit to end a message a person reads: control and format characters
    (Unicode's "other" categories: bidi overrides, zero-width marks, lone surrogates) removed,
    whitespace collapsed to single spaces, at most :data:`REASON_LIMIT` characters (a longer
    one is cut and ends with "…"); ``None`` for anything but a string with some text.

    Never pass what a login call's refusal says (it may describe credentials) nor a field that
    echoes what was sent (Upstox's ``invalidValue``); never log the result."""
    if not isinstance(value, str):
        return None
    kept = "".join(
        char
        for char in value[: 4 * REASON_LIMIT]
        if char.isspace() or not unicodedata.category(char).startswith("C")
    )
    text = " ".join(kept.split())
    if len(text) > REASON_LIMIT:
        text = text[: REASON_LIMIT - 1].rstrip() + "…"
    return text or None


def with_reason(statement: str, reason: str | None) -> str:
    """``statement`` ended by the broker's ``reason`` (``"…refused the request: reason"``), or
    by a full stop when the broker gave none."""
    return f"{statement}: {reason}" if reason else f"{statement}."


def decode(decoder: msgspec.json.Decoder[T], response: httpx.Response, provider: str) -> T:
    """The response body as ``decoder``'s type, or ``ProviderUnavailable`` for anything else
    (the provider's words are not repeated: they may echo what was sent)."""
    try:
        return decoder.decode(response.content)
    except (msgspec.DecodeError, msgspec.ValidationError):
        _log.warning(
            "provider_bad_response",
            provider=provider,
            status=response.status_code,
            path=response.request.url.path,
        )
        raise ProviderUnavailable(
            f"{provider} sent an answer dashcore does not understand.",
            code="provider_bad_response",
        ) from None


def record(recorder: PayloadRecorder | None, response: httpx.Response) -> None:
    """Hand a successful read's raw body to the session's recorder, if it has one."""
    if recorder is not None:
        recorder.record(response.request.url.path, response.content)


@dataclass(frozen=True, slots=True)
class _Failure:
    """A failed attempt: the error to raise if it is the last, and the provider's wait."""

    error: ProviderUnavailable | RateLimited
    retryable: bool
    retry_after: float | None = None


@dataclass(slots=True)
class _Call:
    """One call's budget: attempts allowed, its deadline, and whether an attempt is out."""

    attempts: int
    deadline: float
    in_flight: bool = False


class ProviderHttp:
    """One provider's HTTP client under its :class:`HttpPolicy`. Close it with :meth:`aclose`."""

    def __init__(
        self,
        provider: str,
        *,
        base_url: str,
        policy: HttpPolicy,
        clock: Clock,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.provider = provider
        self._policy = policy
        self._clock = clock
        self._timing = timing or Timing()
        self._bucket = TokenBucket(policy.rate_limit, self._timing)
        self.breaker = CircuitBreaker(provider, policy.breaker, self._timing)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=httpx.Timeout(policy.total_timeout, connect=policy.connect_timeout),
            transport=transport,
            follow_redirects=False,
            # Proxies come from the settings, never from ambient environment variables.
            trust_env=False,
        )

    def __repr__(self) -> str:
        return f"ProviderHttp(provider={self.provider!r}, breaker={self.breaker.state.value!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> httpx.Response:
        """Send one call under the policy; see the module docstring for the outcomes.

        A ``json`` body is encoded with msgspec, which writes ``Decimal`` as an exact JSON
        number (never through ``float``); ``content`` is a body already encoded, whose content
        type the caller sets in ``headers``."""
        method = method.upper()
        if json is not None:
            content = _JSON.encode(json)
            headers = {"Content-Type": "application/json", **(headers or {})}
        request = self._client.build_request(
            method, path, params=params, data=data, content=content, headers=headers
        )
        call = _Call(
            attempts=self._policy.retry.attempts if method in _IDEMPOTENT else 1,
            deadline=self._timing.monotonic() + self._policy.total_timeout,
        )
        try:
            async with asyncio.timeout(self._policy.total_timeout):
                return await self._send(request, auth, call)
        except TimeoutError:
            if call.in_flight:
                self.breaker.failed()
            _log.warning(
                "provider_http_timeout",
                provider=self.provider,
                method=method,
                path=request.url.path,
                timeout_seconds=self._policy.total_timeout,
            )
            raise ProviderUnavailable(
                f"{self.provider} did not answer in time.", code="provider_timeout"
            ) from None

    async def _send(
        self, request: httpx.Request, auth: tuple[str, str] | None, call: _Call
    ) -> httpx.Response:
        attempt = 1
        while True:
            await self._bucket.acquire()
            self.breaker.admit()
            call.in_flight = True
            outcome = await self._attempt(request, auth)
            call.in_flight = False
            if isinstance(outcome, httpx.Response):
                return outcome
            delay = self._delay(attempt, outcome)
            if (
                attempt >= call.attempts
                or delay is None
                or self._timing.monotonic() + delay > call.deadline
            ):
                raise outcome.error
            _log.info(
                "provider_http_retry",
                provider=self.provider,
                method=request.method,
                path=request.url.path,
                attempt=attempt,
                delay_seconds=round(delay, 3),
                error=outcome.error.code,
            )
            await self._timing.sleep(delay)
            attempt += 1

    async def _attempt(
        self, request: httpx.Request, auth: tuple[str, str] | None
    ) -> httpx.Response | _Failure:
        try:
            response = await self._client.send(request, auth=auth)
        except httpx.RequestError as exc:
            self.breaker.failed()
            _log.warning(
                "provider_http_failed",
                provider=self.provider,
                method=request.method,
                path=request.url.path,
                error_type=type(exc).__name__,
            )
            return _Failure(
                self._transport_error(exc), retryable=isinstance(exc, httpx.TransportError)
            )
        except BaseException:
            self.breaker.abandoned()
            raise
        status = response.status_code
        if status < 500:
            self.breaker.succeeded()
            if status != _RATE_LIMITED:
                return response
        else:
            self.breaker.failed()
        _log.warning(
            "provider_http_failed",
            provider=self.provider,
            method=request.method,
            path=request.url.path,
            status=status,
        )
        wait = retry_after_seconds(response.headers.get("retry-after"), self._clock.now())
        retry_after = None if wait is None else math.ceil(wait)
        if status == _RATE_LIMITED:
            return _Failure(
                RateLimited(
                    f"{self.provider} asks to slow down.",
                    retry_after=1 if retry_after is None else retry_after,
                    code="provider_rate_limited",
                ),
                retryable=True,
                retry_after=wait,
            )
        return _Failure(
            ProviderUnavailable(
                f"{self.provider} is failing (HTTP {status}).",
                code="provider_error",
                retry_after=retry_after,
            ),
            retryable=True,
            retry_after=wait,
        )

    def _transport_error(self, exc: httpx.RequestError) -> ProviderUnavailable:
        """The outcome of an attempt that got no answer, telling apart a request that never
        left (``provider_unreachable``) from one that may have reached the provider."""
        if isinstance(exc, _NOT_CONNECTED):
            return ProviderUnavailable(
                f"{self.provider} cannot be reached.", code="provider_unreachable"
            )
        if isinstance(exc, httpx.TimeoutException):
            return ProviderUnavailable(
                f"{self.provider} did not answer in time.", code="provider_timeout"
            )
        return ProviderUnavailable(
            f"{self.provider} dropped the connection before answering.",
            code="provider_connection_lost",
        )

    def _delay(self, attempt: int, failure: _Failure) -> float | None:
        """The wait before the next attempt; ``None`` when the failure must not be retried."""
        retry = self._policy.retry
        if not failure.retryable:
            return None
        if failure.retry_after is not None:
            return failure.retry_after if failure.retry_after <= retry.max_retry_after else None
        ceiling = min(retry.max_delay, retry.base_delay * 2.0 ** (attempt - 1))
        return ceiling * self._timing.random()
