"""Logging: structlog configured once, JSON in production, pretty in a terminal, never a secret.

Rules:
- Every line is one event: an event name plus structured fields, an ISO-8601 UTC ``timestamp``,
  the ``level``, the ``request_id`` of the request being served (:data:`request_id_var`, set
  by the HTTP entrypoint) and whatever else is bound with structlog's contextvars
  (``user_id``, ``provider``, …).
- The standard library's loggers (uvicorn, granian, litestar, sqlalchemy) go through the same
  processors, so their lines are formatted and redacted the same way.
- :func:`redact_secrets` runs last before rendering: a field whose name
  :func:`~dashcore.domain.secrecy.is_secret_name` calls secret loses its value at any depth,
  and every string (exception text included) is scrubbed of JWTs, ``Bearer``/``Basic``
  credentials, ``name=value`` pairs with a secret name and PEM private keys.
- Output goes to whatever ``sys.stdout`` is when the line is written (12-factor; test runners
  swap it), one line per event.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any, Final, TextIO

import msgspec
import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from dashcore.domain.secrecy import REDACTED, is_secret_name
from dashcore_app.settings import Environment, LogFormat, Settings

__all__ = ["add_request_id", "configure_logging", "redact_secrets", "request_id_var", "scrub"]

request_id_var: ContextVar[str | None] = ContextVar("dashcore_request_id", default=None)
"""The id of the request being served; one ``ContextVar.set`` per request is cheaper than
``structlog.contextvars.bind_contextvars``, and the HTTP middleware sets it on every request."""

_MAX_DEPTH: Final = 16
_SECRET_TEXT: Final = re.compile(
    r"(?P<pem>-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*))"
    r"|(?P<jwt>eyJ[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)+)"
    r"|(?P<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    # A name starts where an identifier starts: never retried from inside one (linear time).
    r"|(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)(?P<sep>[\"']?\s*[=:]\s*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|(?:(?:Bearer|Basic)\s+)?[^\s&#;,\"'}\]]+)",
    re.DOTALL | re.IGNORECASE,
)
# Written by our own processors, never by a caller: nothing to scrub.
_OWN_FIELDS: Final = frozenset({"timestamp", "level"})
_FOREIGN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "granian", "_granian", "litestar")
# Kept at WARNING whatever the level. The access logs are replaced by the one canonical
# ``http_request`` line of dashcore_http. httpx and httpcore log every outgoing URL at INFO,
# and some brokers put credentials in the query string (Kite's logout): the broker adapters log
# what matters themselves, without queries. At DEBUG, aiosqlite logs every call with its
# parameters and SQLAlchemy's engine every statement's (found by QA: password hashes, OTP
# digests, PKCE verifiers and raw webhook bodies in the log), in a tuple's repr that no
# pattern can scrub reliably.
_SILENCED_LOGGERS: Final = (
    "uvicorn.access",
    "granian.access",
    "httpx",
    "httpcore",
    "aiosqlite",
    "sqlalchemy.engine",
)


def _replace(match: re.Match[str]) -> str:
    if match["scheme"] is not None:
        return match["scheme"] + REDACTED
    if match["name"] is not None:
        # A JWT may hide inside the name or the value of a harmless pair: scrub both parts.
        value = REDACTED if _key(match["name"]) is None else scrub(match["value"])
        return scrub(match["name"]) + match["sep"] + value
    return REDACTED


def scrub(text: str) -> str:
    """``text`` with every secret-looking substring replaced by ``REDACTED``."""
    lowered = text.lower()
    # Substring tests run at C speed; the regex (~0.25 us per character) runs only when one of
    # its alternatives could match at all.
    if (
        "=" in lowered
        or ":" in lowered
        or "eyj" in lowered
        or "bearer" in lowered
        or "basic" in lowered
        or "-----begin" in lowered
    ):
        return _SECRET_TEXT.sub(_replace, text)
    return text


@lru_cache(maxsize=4096)
def _key(key: str) -> str | None:
    """The key as logged (scrubbed), or None when it names a secret. Keys repeat: cached."""
    return None if is_secret_name(key) else scrub(key)


def _clean(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth >= _MAX_DEPTH:
        return "[truncated]"
    if isinstance(value, Mapping):
        cleaned = {}
        for key, item in value.items():
            name = _key(str(key))
            cleaned[name or scrub(str(key))] = REDACTED if name is None else _clean(item, depth + 1)
        return cleaned
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item, depth + 1) for item in value]
    return scrub(str(value))


def add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: the current request's id, if a request is being served."""
    request_id = request_id_var.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Processor: secret-named fields become ``REDACTED``; strings are scrubbed; recursively."""
    cleaned: EventDict = {}
    for key, value in event_dict.items():
        if key in _OWN_FIELDS:
            cleaned[key] = value
            continue
        name = _key(key)
        if name is None:
            cleaned[scrub(key)] = REDACTED
        elif isinstance(value, str):
            cleaned[name] = scrub(value)
        elif value is None or isinstance(value, bool | int | float):
            cleaned[name] = value
        else:
            cleaned[name] = _clean(value, 0)
    return cleaned


_encoder = msgspec.json.Encoder(enc_hook=str)


def _render_json_bytes(_: WrappedLogger, __: str, event_dict: EventDict) -> bytes:
    return _encoder.encode(event_dict)


def _render_json_text(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    return _encoder.encode(event_dict).decode("utf-8")


class _CurrentStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler that writes to the current ``sys.stdout`` (or ``sys.stderr``), not the one
    seen at configuration."""

    def __init__(self, to_stderr: bool) -> None:
        super().__init__()
        self._to_stderr = to_stderr

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = _current_stream(self._to_stderr)
        super().emit(record)


def _current_stream(to_stderr: bool) -> TextIO:
    """``sys.stderr`` or ``sys.stdout`` as they are now (tests swap them)."""
    return sys.stderr if to_stderr else sys.stdout


def _wants_json(settings: Settings, stream: TextIO) -> bool:
    if settings.log_format is LogFormat.AUTO:
        return settings.env is Environment.PRODUCTION or not stream.isatty()
    return settings.log_format is LogFormat.JSON


def configure_logging(settings: Settings, *, to_stderr: bool = False) -> None:
    """Configure structlog and the standard library's root logger from ``settings``.

    Servers and workers log to standard output; a command whose own output is on standard
    output (``dashcore export``, ``dashcore sync``) passes ``to_stderr`` so that its log lines
    never mix with what it prints. Calling it again replaces the previous configuration (it
    never stacks handlers).
    """
    level = logging.getLevelNamesMapping()[settings.log_level]
    stream = _current_stream(to_stderr)
    as_json = _wants_json(settings, stream)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    finishing: list[Processor] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        redact_secrets,
    ]
    console = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    structlog.configure(
        processors=[*shared, *finishing, _render_json_bytes if as_json else console],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=_logger_factory(as_json=as_json, to_stderr=to_stderr),
        # Not cached: loggers look up the configuration per call, so tests can capture_logs().
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *finishing,
            _render_json_text if as_json else console,
        ],
    )
    handler = _CurrentStreamHandler(to_stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _FOREIGN_LOGGERS:
        _adopt(logging.getLogger(name), level)
    for name in _SILENCED_LOGGERS:
        _adopt(logging.getLogger(name), logging.WARNING)


def _logger_factory(*, as_json: bool, to_stderr: bool) -> Callable[..., WrappedLogger]:
    """structlog's loggers, writing to the stream current at each call (tests swap it)."""
    if as_json:
        return lambda *_: structlog.BytesLogger(_current_stream(to_stderr).buffer)
    return lambda *_: structlog.WriteLogger(_current_stream(to_stderr))


def _adopt(logger: logging.Logger, level: int) -> None:
    """Make a server's own logger propagate to our root handler instead of its own."""
    logger.handlers.clear()
    logger.propagate = True
    logger.setLevel(level)
