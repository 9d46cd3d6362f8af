"""Mail messages, outbox entry states and the retry policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import Conflict, InvalidInput
from dashcore.domain.mail import (
    MAX_ERROR_LENGTH,
    MailBody,
    MailMessage,
    OutboxEntry,
    OutboxStatus,
    RetryPolicy,
)

NOW = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
ENTRY_ID = UUID("00000000-0000-7000-8000-000000000001")


def message(**changes: object) -> MailMessage:
    values: dict[str, object] = {
        "to": "mike@example.org",
        "subject": "Hello",
        "body": MailBody("Hi Mike", "<p>Hi Mike</p>"),
        "template": "welcome",
        "created_at": NOW,
    }
    values.update(changes)
    return MailMessage(**values)  # type: ignore[arg-type]


def entry() -> OutboxEntry:
    return OutboxEntry.new(ENTRY_ID, message(), b"sealed")


# -- messages ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "to",
    [
        "a@b.test\r\nBcc: x@evil.test",
        "a@b.test\nBcc: x@evil.test",
        "a@b.test\rBcc: x@evil.test",
        "a@b.test\u2028Bcc: x@evil.test",
    ],
)
def test_a_line_break_in_the_recipient_is_header_injection(to: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        message(to=to)
    assert raised.value.code == "mail_header_injection"
    assert raised.value.errors[0].field == "to"


@pytest.mark.parametrize("subject", ["Hi\r\nBcc: x@evil.test", "Hi\nthere", "Hi\rthere"])
def test_a_line_break_in_the_subject_is_header_injection(subject: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        message(subject=subject)
    assert raised.value.code == "mail_header_injection"


@pytest.mark.parametrize("to", ["not-an-address", "a b@example.org", "@example.org", ""])
def test_a_malformed_recipient_is_refused(to: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        message(to=to)
    assert raised.value.code == "invalid_recipient"


@pytest.mark.parametrize("subject", ["", "   ", "x" * 201, "tab\there", "nul\x00"])
def test_an_empty_overlong_or_control_subject_is_refused(subject: str) -> None:
    with pytest.raises(InvalidInput):
        message(subject=subject)


@pytest.mark.parametrize("template", ["", "Welcome", "with-dash", "1st", "x" * 65])
def test_template_names_are_snake_case(template: str) -> None:
    with pytest.raises(InvalidInput):
        message(template=template)


def test_a_naive_creation_time_is_refused() -> None:
    with pytest.raises(InvalidInput):
        message(created_at=datetime(2026, 1, 1, 9, 0))  # noqa: DTZ001 - naive on purpose


def test_a_message_expires_when_its_secret_does_or_never() -> None:
    assert message().expires_at is None
    paris = timezone(timedelta(hours=1))
    expiring = message(expires_at=datetime(2026, 1, 1, 10, 30, tzinfo=paris))
    assert expiring.expires_at == NOW + timedelta(minutes=30)
    assert expiring.expires_at.tzinfo is UTC


def test_a_naive_expiry_is_refused() -> None:
    with pytest.raises(InvalidInput) as raised:
        message(expires_at=datetime(2026, 1, 1, 9, 30))  # noqa: DTZ001 - naive on purpose
    assert raised.value.errors[0].field == "expires_at"


@pytest.mark.parametrize("expires_at", [NOW - timedelta(seconds=1), NOW])
def test_a_message_cannot_expire_before_it_is_written(expires_at: datetime) -> None:
    with pytest.raises(InvalidInput) as raised:
        message(expires_at=expires_at)
    assert raised.value.errors[0].field == "expires_at"
    with pytest.raises(InvalidInput):
        replace(entry(), expires_at=expires_at)


def test_an_empty_body_is_refused() -> None:
    with pytest.raises(InvalidInput):
        MailBody("  \n")


def test_the_body_is_kept_out_of_reprs() -> None:
    secret = "https://app.test/reset-password#token=SECRETSECRETSECRET"
    mail = message(body=MailBody(secret, f"<a href='{secret}'>reset</a>"))
    assert "SECRET" not in repr(mail)
    assert "SECRET" not in repr(OutboxEntry.new(ENTRY_ID, mail, secret.encode()))


@given(text=st.text(min_size=1).filter(str.strip), html=st.none() | st.text())
def test_a_body_round_trips_through_its_encoding(text: str, html: str | None) -> None:
    body = MailBody(text, html)
    assert MailBody.decode(body.encode()) == body


@pytest.mark.parametrize("data", [b"", b"not json", b"[]", b'{"text": 1, "html": null}', b"{}"])
def test_a_malformed_stored_body_is_invalid_input(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        MailBody.decode(data)


# -- outbox entry states ----------------------------------------------------------------------


def test_a_new_entry_is_pending_and_due_at_once() -> None:
    new = entry()
    assert (new.status, new.attempts, new.next_attempt_at) == (OutboxStatus.PENDING, 0, NOW)
    assert new.is_due(NOW)
    assert not new.is_due(NOW - timedelta(microseconds=1))


def test_a_claim_leases_the_entry_until_it_runs_out() -> None:
    claimed = entry().claimed(NOW, timedelta(minutes=5))
    assert claimed.locked_until == NOW + timedelta(minutes=5)
    assert not claimed.is_due(NOW + timedelta(minutes=4))
    assert claimed.is_due(NOW + timedelta(minutes=5))
    with pytest.raises(Conflict):
        claimed.claimed(NOW, timedelta(minutes=5))


def test_sent_is_final_and_forgets_the_body() -> None:
    sent = entry().claimed(NOW, timedelta(minutes=5)).sent(NOW)
    assert (sent.status, sent.attempts, sent.body, sent.sent_at) == (
        OutboxStatus.SENT,
        1,
        None,
        NOW,
    )
    assert sent.locked_until is None
    assert not sent.is_due(NOW + timedelta(days=1))
    for transition in (
        lambda: sent.sent(NOW),
        lambda: sent.dead("x"),
        lambda: sent.failed(NOW, ""),
    ):
        with pytest.raises(Conflict) as raised:
            transition()
        assert raised.value.code == "outbox_entry_final"


def test_failed_keeps_the_body_and_is_due_again_later() -> None:
    later = NOW + timedelta(seconds=40)
    failed = entry().claimed(NOW, timedelta(minutes=5)).failed(later, "SMTP: ConnectionError")
    assert (failed.status, failed.attempts, failed.body) == (OutboxStatus.FAILED, 1, b"sealed")
    assert failed.locked_until is None
    assert not failed.is_due(later - timedelta(seconds=1))
    assert failed.is_due(later)
    assert failed.sent(later).attempts == 2


def test_dead_is_final_and_forgets_the_body() -> None:
    dead = entry().dead("rejected: 550 no such user")
    assert (dead.status, dead.body, dead.last_error) == (
        OutboxStatus.DEAD,
        None,
        "rejected: 550 no such user",
    )
    with pytest.raises(Conflict):
        dead.failed(NOW, "again")


def test_an_entry_keeps_its_messages_expiry_and_is_expired_from_that_instant() -> None:
    expires_at = NOW + timedelta(minutes=30)
    expiring = OutboxEntry.new(ENTRY_ID, message(expires_at=expires_at), b"sealed")
    assert expiring.expires_at == expires_at
    assert expiring.message(MailBody("Hi")).expires_at == expires_at
    assert not expiring.is_expired(expires_at - timedelta(microseconds=1))
    assert expiring.is_expired(expires_at)
    assert not entry().is_expired(NOW + timedelta(days=365))


def test_expired_is_final_forgets_the_body_and_counts_no_attempt_when_untried() -> None:
    failed = entry().failed(NOW, "SMTP 421")
    expired = failed.claimed(NOW, timedelta(minutes=5)).expired()
    assert (expired.status, expired.attempts, expired.body, expired.last_error) == (
        OutboxStatus.EXPIRED,
        1,
        None,
        "SMTP 421",
    )
    assert expired.locked_until is None
    assert not expired.is_due(NOW + timedelta(days=1))
    with pytest.raises(Conflict):
        expired.sent(NOW)
    with pytest.raises(Conflict):
        expired.expired()


def test_expired_after_a_failed_attempt_counts_it_and_keeps_its_error() -> None:
    expired = entry().expired("unavailable: SMTP 421\r\nX")
    assert (expired.status, expired.attempts, expired.last_error) == (
        OutboxStatus.EXPIRED,
        1,
        "unavailable: SMTP 421 X",
    )


def test_stored_errors_are_one_bounded_line() -> None:
    failed = entry().failed(NOW, "first\r\nFAKE: injected\x00" + "x" * 1000)
    assert failed.last_error is not None
    assert "\n" not in failed.last_error and "\r" not in failed.last_error
    assert "\x00" not in failed.last_error
    assert len(failed.last_error) == MAX_ERROR_LENGTH


def test_an_entry_still_to_send_needs_a_body_and_a_final_one_has_none() -> None:
    with pytest.raises(InvalidInput):
        OutboxEntry(ENTRY_ID, "a@b.test", "s", "t", None, NOW, NOW)
    with pytest.raises(InvalidInput):
        OutboxEntry(ENTRY_ID, "a@b.test", "s", "t", b"x", NOW, NOW, status=OutboxStatus.SENT)


def test_the_body_context_binds_the_ciphertext_to_its_row() -> None:
    other = UUID("00000000-0000-7000-8000-000000000002")
    assert entry().context == OutboxEntry.context_for(ENTRY_ID)
    assert OutboxEntry.context_for(ENTRY_ID) != OutboxEntry.context_for(other)
    assert entry().context.table == "mail_outbox"


# -- retry policy -----------------------------------------------------------------------------


def test_default_policy_doubles_from_30_seconds_to_an_hour_over_12_attempts() -> None:
    policy = RetryPolicy()
    ceilings = [policy.ceiling(n) for n in range(1, 9)]
    assert [c.total_seconds() for c in ceilings] == [30, 60, 120, 240, 480, 960, 1920, 3600]
    assert policy.next_attempt(11, NOW) is not None
    assert policy.next_attempt(12, NOW) is None


def test_jitter_spans_the_upper_half_of_the_ceiling() -> None:
    policy = RetryPolicy()
    assert policy.delay(1, lambda: 0.0) == timedelta(seconds=15)
    assert policy.delay(1, lambda: 0.5) == timedelta(seconds=22.5)
    assert policy.delay(3, lambda: 0.999999) < timedelta(seconds=120)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": timedelta(0)},
        {"base": timedelta(hours=2), "cap": timedelta(hours=1)},
        {"max_attempts": 0},
    ],
)
def test_a_nonsensical_policy_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="retry policy needs"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="attempts counts from 1"):
        RetryPolicy().ceiling(0)


policies = st.builds(
    RetryPolicy,
    base=st.integers(1, 3600).map(lambda s: timedelta(seconds=s)),
    cap=st.integers(3600, 86400).map(lambda s: timedelta(seconds=s)),
    max_attempts=st.integers(1, 50),
)
fractions = st.floats(0.0, 1.0, exclude_max=True)


@given(policy=policies, attempts=st.integers(1, 10_000), fraction=fractions)
def test_a_delay_lies_between_half_the_ceiling_and_the_ceiling_never_above_the_cap(
    policy: RetryPolicy, attempts: int, fraction: float
) -> None:
    delay = policy.delay(attempts, lambda: fraction)
    ceiling = policy.ceiling(attempts)
    assert ceiling / 2 <= delay <= ceiling <= policy.cap
    assert delay >= policy.base / 2


@given(policy=policies, attempts=st.integers(1, 10_000))
def test_the_ceiling_never_shrinks_as_attempts_grow(policy: RetryPolicy, attempts: int) -> None:
    assert policy.ceiling(attempts) <= policy.ceiling(attempts + 1)


@given(policy=policies, attempts=st.integers(1, 100), fraction=fractions)
def test_there_is_a_next_attempt_exactly_while_attempts_remain(
    policy: RetryPolicy, attempts: int, fraction: float
) -> None:
    next_attempt = policy.next_attempt(attempts, NOW, lambda: fraction)
    if attempts < policy.max_attempts:
        assert next_attempt is not None and next_attempt > NOW
    else:
        assert next_attempt is None


def test_the_default_jitter_is_random() -> None:
    policy = RetryPolicy()
    delays = {policy.delay(8) for _ in range(20)}
    assert len(delays) > 1
