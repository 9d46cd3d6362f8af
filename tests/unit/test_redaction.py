"""The redaction processor: no secret reaches a rendered log line (DESIGN: Logging; AUD-2)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import create_async_engine

from dashcore.domain.errors import DependencyUnavailable
from dashcore.domain.secrecy import REDACTED
from dashcore_app.logging import configure_logging, scrub
from dashcore_app.settings import LogFormat, Settings

SECRET_KEYS = ["password", "access_token", "client_secret", "otpCode", "X-Api-Key", "session_id"]
PLAIN_KEYS = ["user", "count", "path", "detail", "items", "status"]

# A secret value: distinctive, so that finding it in the output can only mean a leak.
secrets_ = st.text("ABCDEFGHJKMNPQRSTUVWXYZ23456789", min_size=12, max_size=24).map(
    lambda s: f"S3CR3T{s}"
)
b64url = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=8)
jwts = st.tuples(b64url, b64url, b64url).map(lambda p: f"eyJ{p[0]}.eyJ{p[1]}.{p[2]}")
prose = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)


@pytest.fixture
def render(capsys: pytest.CaptureFixture[str]) -> Callable[[], list[str]]:
    """Configure JSON logging and return a reader of the lines written since the last call."""
    configure_logging(Settings(log_format=LogFormat.JSON, log_level="DEBUG"))
    capsys.readouterr()

    def lines() -> list[str]:
        return capsys.readouterr().out.split("\n")

    return lines


def nested(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Dicts and lists of ``values`` under plain keys, a few levels deep."""
    return st.recursive(
        values,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(PLAIN_KEYS), children, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def events_with_secrets(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """An event dict hiding secrets under secret names and JWTs in strings, at any depth."""
    planted: list[str] = []

    def secret_pair(key: str) -> dict[str, Any]:
        value = draw(secrets_)
        planted.append(value)
        return {key: value}

    def jwt_in_text() -> str:
        token = draw(jwts)
        planted.append(token)
        return draw(prose) + draw(st.sampled_from(["", " ", "token ", "=", "\n"])) + token

    leaves = st.one_of(
        st.integers(),
        prose,
        st.sampled_from(SECRET_KEYS).map(secret_pair),
        st.builds(jwt_in_text),
    )
    event = draw(st.dictionaries(st.sampled_from(PLAIN_KEYS), nested(leaves), max_size=4))
    event.update(secret_pair(draw(st.sampled_from(SECRET_KEYS))))
    return event, planted


@given(case=events_with_secrets())
def test_no_planted_secret_reaches_the_rendered_line(
    render: Callable[[], list[str]], case: tuple[dict[str, Any], list[str]]
) -> None:
    event, planted = case
    structlog.get_logger("test").info("something_happened", **event)
    (line,) = [line for line in render() if '"something_happened"' in line]
    json.loads(line)
    for secret in planted:
        assert secret not in line


def test_a_logged_domain_error_keeps_its_code(render: Callable[[], list[str]]) -> None:
    """``repr`` of a domain error names its code without a ``code=`` pair, which the
    redactor would take for an OAuth code."""
    error = DependencyUnavailable(
        "The database is not migrated.", dependency="database", code="database_not_migrated"
    )
    structlog.get_logger("test").warning("dependency_unavailable", error=repr(error))
    (line,) = [line for line in render() if '"dependency_unavailable"' in line]
    assert json.loads(line)["error"] == (
        "DependencyUnavailable[database_not_migrated]('The database is not migrated.')"
    )


@given(token=jwts, secret=secrets_)
def test_secrets_in_exception_messages_are_scrubbed(
    render: Callable[[], list[str]], token: str, secret: str
) -> None:
    try:
        raise RuntimeError(f"upstream refused {token} with password={secret}")
    except RuntimeError:
        structlog.get_logger("test").exception("call_failed")
    (line,) = [line for line in render() if '"call_failed"' in line]
    assert json.loads(line)["exception"].startswith("Traceback")
    assert token not in line
    assert secret not in line


def test_standard_library_lines_get_the_same_treatment(render: Callable[[], list[str]]) -> None:
    logging.getLogger("uvicorn.error").warning(
        "GET /cb?code=abc123&state=ok Authorization: Bearer zyxwvutsrqponm"
    )
    (line,) = [line for line in render() if "uvicorn.error" in line]
    record = json.loads(line)
    assert record["logger"] == "uvicorn.error"
    assert "abc123" not in line
    assert "zyxwvutsrqponm" not in line
    assert "state=ok" in line


async def test_sql_parameters_stay_out_of_the_log_at_debug(
    render: Callable[[], list[str]],
) -> None:
    """Found by QA: at DEBUG, aiosqlite logged every call with its parameters (password
    hashes, OTP digests, PKCE verifiers) and SQLAlchemy's engine every statement's."""
    engine = create_async_engine("sqlite+aiosqlite://")
    try:
        async with engine.connect() as connection:
            await connection.execute(sql_text("select :hash"), {"hash": "$argon2id$v=19$planted"})
    finally:
        await engine.dispose()
    assert not [line for line in render() if "planted" in line]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /x?password=hunter2&page=2", f"GET /x?password={REDACTED}&page=2"),
        ("Authorization: Bearer abcdefghijklmnop", f"Authorization: {REDACTED}"),
        ("sent Basic dXNlcjpwYXNzd29yZA==", f"sent Basic {REDACTED}"),
        ("BEARER abcdefghijklmnop", f"BEARER {REDACTED}"),
        ("heyJoe, no token here", "heyJoe, no token here"),
        ("jwt eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl end", f"jwt {REDACTED} end"),
        ('{"api_key": "k 1", "user": "ann"}', f'{{"api_key": {REDACTED}, "user": "ann"}}'),
        (
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\nafter",
            f"{REDACTED}\nafter",
        ),
        (
            "status=ok duration_ms: 12 http://host/path",
            "status=ok duration_ms: 12 http://host/path",
        ),
    ],
)
def test_scrub_examples(text: str, expected: str) -> None:
    assert scrub(text) == expected


def test_secret_named_fields_are_redacted_at_any_depth(render: Callable[[], list[str]]) -> None:
    structlog.get_logger("test").info(
        "login", user="ann", attempt={"password": "pw1", "meta": [{"refresh_token": "rt1"}]}
    )
    (line,) = [line for line in render() if '"login"' in line]
    assert json.loads(line)["attempt"] == {
        "password": REDACTED,
        "meta": [{"refresh_token": REDACTED}],
    }
