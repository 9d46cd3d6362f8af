"""Webhook verification (issue #8; security.md WH-1, WH-2, WH-4 and the b.7 attack list;
brokers.md 2.8, 3.8): generic HMAC-signed events, Kite postback checksums, unsigned Upstox
updates, secrets and rotation, and what an event keeps."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.errors import BadRequest, InvalidInput
from dashcore.domain.webhooks import (
    STORED_BODY_MAX,
    Delivery,
    Verification,
    VerifiedBy,
    WebhookEvent,
    WebhookPolicy,
    WebhookRefused,
    WebhookSecrets,
    kite_checksum,
    payload_digest,
    sign_event,
)

NOW = datetime(2026, 6, 1, 9, 15, 30, tzinfo=UTC)
STAMP = int(NOW.timestamp())
PRIMARY = b"p" * 32
PREVIOUS = b"previous-secret-still-accepted-for-a-day"
NEXT = b"n" * 40
KITE_SECRET = "kite-api-secret-of-the-app"
EVENT_ID = "evt_01J9Z6"
BODY = b'{"type": "order.updated", "order_id": "151220000000000", "account_id": "AB1234"}'
UNTIL = NOW + timedelta(hours=24)
"""The rotation window: PREVIOUS and NEXT verify until a day after NOW (WH-4)."""
POLICY = WebhookPolicy(
    WebhookSecrets(PRIMARY, (PREVIOUS, NEXT), UNTIL), kite_api_secret=KITE_SECRET
)


def signed_headers(
    body: bytes = BODY,
    *,
    secret: bytes = PRIMARY,
    event_id: str = EVENT_ID,
    timestamp: int = STAMP,
    **replaced: str,
) -> dict[str, str]:
    headers = {
        "x-broker-event-id": event_id,
        "x-broker-timestamp": str(timestamp),
        "x-broker-signature-alg": "HMAC-SHA256",
        "x-broker-signature": sign_event(secret, event_id, timestamp, body),
    }
    headers.update({name.replace("_", "-"): value for name, value in replaced.items()})
    return headers


def refusal(provider: str, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(WebhookRefused) as refused:
        POLICY.verify(provider, headers, body, NOW)
    assert refused.value.code == "invalid_webhook"
    return refused.value.reason


def kite_postback(**changes: object) -> dict[str, object]:
    """A postback as Kite sends it (kiteconnect-mocks postback.json fields), checksummed."""
    order: dict[str, object] = {
        "user_id": "AB1234",
        "unfilled_quantity": 0,
        "app_id": 1234,
        "order_id": "220303000308932",
        "exchange_order_id": "1000000001482421",
        "placed_by": "AB1234",
        "status": "COMPLETE",
        "status_message": None,
        "order_timestamp": "2022-03-03 09:24:25",
        "exchange_timestamp": "2022-03-03 09:24:25",
        "variety": "regular",
        "exchange": "NSE",
        "tradingsymbol": "SBIN",
        "instrument_token": 779521,
        "order_type": "MARKET",
        "transaction_type": "BUY",
        "validity": "DAY",
        "product": "CNC",
        "quantity": 1,
        "price": 0,
        "average_price": 470,
        "filled_quantity": 1,
        "pending_quantity": 0,
        "tag": "dc4f0a1b",
        "guid": "85618Xz4eEAt6vSgt",
    }
    order["checksum"] = kite_checksum(
        str(order["order_id"]), str(order["order_timestamp"]), KITE_SECRET
    )
    order.update(changes)
    return order


def encoded(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


# -- generic signed events ---------------------------------------------------------------------


def test_a_validly_signed_event_verifies_with_the_primary_secret() -> None:
    delivery = POLICY.verify("schwab", signed_headers(), BODY, NOW)
    assert delivery == Delivery(
        event_id=EVENT_ID,
        kind="order.updated",
        verified_by=VerifiedBy(Verification.HMAC_SHA256, "primary"),
        broker_order_id="151220000000000",
        account_id="AB1234",
    )
    assert str(delivery.verified_by) == "hmac_sha256:primary"


def test_the_signature_is_hmac_sha256_of_id_timestamp_and_raw_body() -> None:
    expected = hmac.new(PRIMARY, f"{EVENT_ID}.{STAMP}.".encode() + BODY, hashlib.sha256)
    assert sign_event(PRIMARY, EVENT_ID, STAMP, BODY) == expected.hexdigest()


def test_a_wrong_secret_is_refused() -> None:
    wrong = b"w" * 32
    assert refusal("schwab", signed_headers(secret=wrong)) == "signature_mismatch"


@pytest.mark.parametrize(("secret", "label"), [(PREVIOUS, "additional_1"), (NEXT, "additional_2")])
def test_a_rotated_secret_verifies_and_is_named_by_its_label(secret: bytes, label: str) -> None:
    delivery = POLICY.verify("schwab", signed_headers(secret=secret), BODY, NOW)
    assert delivery.verified_by == VerifiedBy(Verification.HMAC_SHA256, label)


def at(later: timedelta, secret: bytes, **replaced: str) -> tuple[dict[str, str], datetime]:
    """Headers signed with ``secret`` at ``NOW + later``, and that instant."""
    instant = NOW + later
    return signed_headers(secret=secret, timestamp=int(instant.timestamp()), **replaced), instant


def test_the_previous_secret_is_accepted_23_hours_into_a_24_hour_window() -> None:
    headers, now = at(timedelta(hours=23), PREVIOUS)
    delivery = POLICY.verify("schwab", headers, BODY, now)
    assert delivery.verified_by == VerifiedBy(Verification.HMAC_SHA256, "additional_1")


@pytest.mark.parametrize("later", [timedelta(hours=24), timedelta(hours=25)], ids=["24h", "25h"])
def test_the_previous_secret_is_refused_once_the_window_closes(later: timedelta) -> None:
    """WH-4: accepted while ``now < until``; from ``until`` on, refused with a reason of its own
    in the audit trail (the sender still sees the one 401)."""
    headers, now = at(later, PREVIOUS)
    with pytest.raises(WebhookRefused) as refused:
        POLICY.verify("schwab", headers, BODY, now)
    assert refused.value.reason == "signature_expired_secret"
    assert refused.value.code == "invalid_webhook"


def test_the_primary_secret_still_verifies_after_the_window() -> None:
    headers, now = at(timedelta(hours=25), PRIMARY)
    delivery = POLICY.verify("schwab", headers, BODY, now)
    assert delivery.verified_by == VerifiedBy(Verification.HMAC_SHA256, "primary")


def test_old_and_new_signatures_after_the_window_are_accepted_by_the_primary() -> None:
    """A sender that still signs with both secrets keeps working: the old signature is
    ignored, the primary one verifies."""
    later = NOW + timedelta(hours=25)
    stamp = int(later.timestamp())
    both = " ".join(sign_event(s, EVENT_ID, stamp, BODY) for s in (PREVIOUS, PRIMARY))
    headers = signed_headers(timestamp=stamp, x_broker_signature=both)
    delivery = POLICY.verify("schwab", headers, BODY, later)
    assert delivery.verified_by == VerifiedBy(Verification.HMAC_SHA256, "primary")


def test_a_wrong_secret_after_the_window_is_a_mismatch_not_an_expired_secret() -> None:
    headers, now = at(timedelta(hours=25), b"w" * 32)
    with pytest.raises(WebhookRefused) as refused:
        POLICY.verify("schwab", headers, BODY, now)
    assert refused.value.reason == "signature_mismatch"


def test_a_secret_dropped_from_the_configuration_no_longer_verifies() -> None:
    after_rotation = WebhookPolicy(WebhookSecrets(NEXT))
    with pytest.raises(WebhookRefused):
        after_rotation.verify("schwab", signed_headers(secret=PREVIOUS), BODY, NOW)


def test_without_any_secret_no_signed_event_verifies() -> None:
    with pytest.raises(WebhookRefused):
        WebhookPolicy().verify("schwab", signed_headers(), BODY, NOW)


def test_one_valid_signature_among_garbage_is_enough() -> None:
    good = sign_event(NEXT, EVENT_ID, STAMP, BODY)
    offered = f"v1,bad {'0' * 64} {good}"
    delivery = POLICY.verify("schwab", signed_headers(x_broker_signature=offered), BODY, NOW)
    assert delivery.verified_by.secret_label == "additional_2"


def test_more_than_eight_signatures_are_refused_before_any_is_checked() -> None:
    good = sign_event(PRIMARY, EVENT_ID, STAMP, BODY)
    offered = " ".join(["0" * 64] * 8 + [good])
    assert refusal("schwab", signed_headers(x_broker_signature=offered)) == "signature_missing"


@pytest.mark.parametrize(
    "mangle",
    [
        str.upper,
        lambda mac: mac[:63],
        lambda mac: mac[:32],
        lambda mac: "",
        lambda mac: f"sha256={mac}",
        lambda mac: f"v1,{mac}",
        lambda mac: bytes.fromhex(mac).hex(":"),
    ],
    ids=["uppercase", "one-short", "half", "empty", "prefixed", "scheme", "colons"],
)
def test_signature_variants_are_refused(mangle: Callable[[str], str]) -> None:
    offered = mangle(sign_event(PRIMARY, EVENT_ID, STAMP, BODY))
    assert refusal("schwab", signed_headers(x_broker_signature=offered)) in {
        "signature_mismatch",
        "signature_missing",
    }


def test_a_base64_signature_is_refused() -> None:
    mac = bytes.fromhex(sign_event(PRIMARY, EVENT_ID, STAMP, BODY))
    offered = base64.b64encode(mac).decode()
    assert refusal("schwab", signed_headers(x_broker_signature=offered)) == "signature_mismatch"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("x-broker-signature", "signature_missing"),
        ("x-broker-signature-alg", "algorithm_missing"),
        ("x-broker-timestamp", "timestamp_invalid"),
        ("x-broker-event-id", "event_id_invalid"),
    ],
)
def test_a_missing_header_is_refused(header: str, reason: str) -> None:
    headers = signed_headers()
    del headers[header]
    assert refusal("schwab", headers) == reason


def test_an_unsigned_generic_event_is_refused() -> None:
    assert refusal("schwab", {}) == "algorithm_missing"


@pytest.mark.parametrize("algorithm", ["HMAC-SHA1", "hmac-sha256", "HMAC-SHA512", "none", ""])
def test_any_other_algorithm_is_refused(algorithm: str) -> None:
    headers = signed_headers(x_broker_signature_alg=algorithm)
    assert refusal("schwab", headers) == "algorithm_unsupported"


@pytest.mark.parametrize("offset", [timedelta(seconds=-300), timedelta(seconds=300)])
def test_a_timestamp_at_the_edge_of_the_tolerance_verifies(offset: timedelta) -> None:
    timestamp = int((NOW + offset).timestamp())
    POLICY.verify("schwab", signed_headers(timestamp=timestamp), BODY, NOW)


@pytest.mark.parametrize(
    "offset", [timedelta(seconds=-301), timedelta(seconds=301), timedelta(days=-2)]
)
def test_an_old_or_future_timestamp_is_refused(offset: timedelta) -> None:
    timestamp = int((NOW + offset).timestamp())
    assert refusal("schwab", signed_headers(timestamp=timestamp)) == "timestamp_outside_tolerance"


def test_the_tolerance_is_configurable() -> None:
    strict = WebhookPolicy(WebhookSecrets(PRIMARY), tolerance=timedelta(seconds=30))
    stamp = int((NOW - timedelta(seconds=31)).timestamp())
    with pytest.raises(WebhookRefused):
        strict.verify("schwab", signed_headers(timestamp=stamp), BODY, NOW)
    with pytest.raises(ValueError, match="positive"):
        WebhookPolicy(tolerance=timedelta(0))


@pytest.mark.parametrize(
    "stamp",
    [f"{STAMP}.0", "-1", "1e30", "", " ", "abc", "１７８", f"+{STAMP}", "9" * 13, "1" * 12],
)
def test_a_malformed_timestamp_is_refused(stamp: str) -> None:
    headers = signed_headers(x_broker_timestamp=stamp)
    assert refusal("schwab", headers) in {"timestamp_invalid", "timestamp_outside_tolerance"}


def test_moving_the_timestamp_breaks_the_signature() -> None:
    """The timestamp is signed: an old delivery cannot be made fresh by editing the header."""
    old = int((NOW - timedelta(hours=1)).timestamp())
    headers = signed_headers(timestamp=old, x_broker_timestamp=str(STAMP))
    assert refusal("schwab", headers) == "signature_mismatch"


@pytest.mark.parametrize("event_id", ["", "a" * 129, "evt.1", "evt 1", "évt", "evt/1"])
def test_an_invalid_event_id_is_refused(event_id: str) -> None:
    headers = signed_headers(event_id="evt_ok", x_broker_event_id=event_id)
    assert refusal("schwab", headers) == "event_id_invalid"


@pytest.mark.parametrize(
    "reencode",
    [
        lambda doc: json.dumps(doc, separators=(",", ":")),
        lambda doc: json.dumps(doc, sort_keys=True),
        lambda doc: json.dumps(doc, indent=2),
        lambda doc: json.dumps(doc, ensure_ascii=False),
        lambda doc: json.dumps(doc) + "\n",
    ],
    ids=["compact", "sorted", "indented", "unicode", "trailing-newline"],
)
def test_a_re_serialised_body_does_not_verify(
    reencode: Callable[[dict[str, object]], str],
) -> None:
    body = b'{"type": "order.updated", "order_id": "1", "note": "caf\\u00e9", "qty": 1.0}'
    headers = signed_headers(body)
    POLICY.verify("schwab", headers, body, NOW)
    other = reencode(json.loads(body)).encode()
    assert other != body
    assert refusal("schwab", headers, other) == "signature_mismatch"


@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_the_body_breaks_the_signature(position: int, flip: int) -> None:
    headers = signed_headers()
    tampered = bytearray(BODY)
    tampered[position % len(BODY)] ^= flip
    with pytest.raises(WebhookRefused):
        POLICY.verify("schwab", headers, bytes(tampered), NOW)


@given(cut=st.integers(min_value=0, max_value=len(BODY) - 1))
def test_a_truncated_body_does_not_verify(cut: int) -> None:
    with pytest.raises(WebhookRefused):
        POLICY.verify("schwab", signed_headers(), BODY[:cut], NOW)


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"order_id": "1"}', b'{"type": ""}', b'{"type": "a b"}'],
)
def test_a_signed_body_without_a_readable_kind_is_malformed(body: bytes) -> None:
    with pytest.raises(BadRequest) as refused:
        POLICY.verify("schwab", signed_headers(body), body, NOW)
    assert refused.value.code == "malformed_webhook"


def test_a_signed_body_that_names_a_member_twice_is_malformed() -> None:
    """Which of two values a reader takes is the parser's choice: refused, not guessed."""
    body = b'{"type": "order.filled", "order_id": "1", "order_id": "2"}'
    with pytest.raises(BadRequest) as refused:
        POLICY.verify("schwab", signed_headers(body), body, NOW)
    assert refused.value.code == "malformed_webhook"
    assert "'order_id'" in refused.value.message


def test_an_event_need_not_be_about_an_order() -> None:
    body = b'{"type": "account.linked"}'
    delivery = POLICY.verify("groww", signed_headers(body), body, NOW)
    assert (delivery.kind, delivery.broker_order_id, delivery.account_id) == (
        "account.linked",
        None,
        None,
    )


@pytest.mark.parametrize("order_id", [12, "", "x" * 129, "a\nb"])
def test_an_order_id_that_is_not_short_printable_text_is_malformed(order_id: object) -> None:
    body = encoded({"type": "order.updated", "order_id": order_id})
    with pytest.raises(BadRequest):
        POLICY.verify("schwab", signed_headers(body), body, NOW)


def test_a_signed_event_may_name_the_client_reference_we_sent() -> None:
    body = encoded({"type": "order.updated", "order_id": "GMK39", "client_reference": "A1B2C3D4"})
    delivery = POLICY.verify("groww", signed_headers(body), body, NOW)
    assert (delivery.broker_order_id, delivery.client_reference) == ("GMK39", "A1B2C3D4")


@pytest.mark.parametrize("reference", [12, "", "x" * 129, "a\nb"])
def test_a_client_reference_that_is_not_short_printable_text_is_malformed(
    reference: object,
) -> None:
    body = encoded({"type": "order.updated", "order_id": "1", "client_reference": reference})
    with pytest.raises(BadRequest):
        POLICY.verify("schwab", signed_headers(body), body, NOW)


def test_a_provider_key_that_is_not_one_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as refused:
        POLICY.verify("../admin", signed_headers(), BODY, NOW)
    assert refused.value.code == "invalid_provider"


# -- Kite postbacks ----------------------------------------------------------------------------


def test_a_kite_postback_with_a_valid_checksum_is_a_hint_about_its_order() -> None:
    delivery = POLICY.verify("zerodha", {}, encoded(kite_postback()), NOW)
    assert delivery == Delivery(
        event_id="220303000308932|2022-03-03 09:24:25|COMPLETE",
        kind="order_update",
        verified_by=VerifiedBy(Verification.KITE_CHECKSUM),
        broker_order_id="220303000308932",
        account_id="AB1234",
        client_reference="dc4f0a1b",
    )


@pytest.mark.parametrize("tag", [None, "", 42, "x" * 129, "a\nb"])
def test_a_broker_tag_we_could_not_have_sent_is_not_read_and_refuses_nothing(tag: object) -> None:
    """Kite and Upstox format their own payloads: a null, empty or odd ``tag`` leaves the
    postback a hint by broker order id only."""
    kite = POLICY.verify("zerodha", {}, encoded(kite_postback(tag=tag)), NOW)
    upstox_body = encoded({"update_type": "order", "order_id": "240601000123456", "tag": tag})
    upstox = POLICY.verify("upstox", {}, upstox_body, NOW)
    assert (kite.client_reference, upstox.client_reference) == (None, None)
    assert (kite.broker_order_id, upstox.broker_order_id) == ("220303000308932", "240601000123456")


def test_the_kite_checksum_is_sha256_of_order_id_timestamp_and_secret() -> None:
    expected = hashlib.sha256(b"220303000308932" + b"2022-03-03 09:24:25" + KITE_SECRET.encode())
    assert kite_checksum("220303000308932", "2022-03-03 09:24:25", KITE_SECRET) == (
        expected.hexdigest()
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"checksum": kite_checksum("220303000308932", "2022-03-03 09:24:25", "another-secret")},
        {"order_id": "220303000308933"},
        {"order_timestamp": "2022-03-03T09:24:25"},
        {"order_timestamp": "2022-03-03 09:24:25+05:30"},
        {"checksum": "0" * 64},
        {"checksum": str(kite_postback()["checksum"]).upper()},
    ],
    ids=["other-secret", "other-order", "iso-timestamp", "offset-timestamp", "zeros", "upper"],
)
def test_a_kite_postback_with_an_invalid_checksum_is_refused(changes: dict[str, object]) -> None:
    assert refusal("zerodha", {}, encoded(kite_postback(**changes))) in {
        "kite_checksum_mismatch",
        "kite_checksum_missing",
    }


@pytest.mark.parametrize("missing", ["checksum", "order_id", "order_timestamp"])
def test_a_kite_postback_without_what_the_checksum_covers_is_refused(missing: str) -> None:
    postback = kite_postback()
    del postback[missing]
    assert refusal("zerodha", {}, encoded(postback)) == "kite_checksum_missing"


def test_the_kite_checksum_does_not_cover_the_status_so_the_event_is_only_a_hint() -> None:
    """WH-2: a changed status keeps a valid checksum. Nothing but the order id is taken from
    the payload; the order is re-fetched from the broker."""
    forged = POLICY.verify("zerodha", {}, encoded(kite_postback(status="REJECTED")), NOW)
    assert forged.verified_by.method is Verification.KITE_CHECKSUM
    assert forged.broker_order_id == "220303000308932"


def test_a_captured_kite_checksum_does_not_verify_another_split_of_its_fields() -> None:
    """Found by QA: the checksum hashes order_id + order_timestamp with no separator, so
    moving digits from the id to the timestamp kept it valid for a new order id."""
    original = kite_postback()
    shifted = {
        **original,
        "order_id": "2203030003089",
        "order_timestamp": "32" + str(original["order_timestamp"]),
    }
    assert refusal("zerodha", {}, encoded(shifted)) == "kite_checksum_missing"


@pytest.mark.parametrize(
    "changes",
    [
        {"order_id": "\ud800"},
        {"order_timestamp": "09:24\n"},
        {"order_id": 220303000308932},
        {"order_id": "ORD-1"},
        {"order_timestamp": "09:24:25"},
    ],
    ids=["lone-surrogate", "control-character", "number", "not-digits", "time-only"],
)
def test_a_kite_postback_whose_checked_fields_are_not_text_is_refused(
    changes: dict[str, object],
) -> None:
    assert refusal("zerodha", {}, encoded(kite_postback(**changes))) == "kite_checksum_missing"


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b"{"])
def test_an_unreadable_kite_postback_is_refused(body: bytes) -> None:
    assert refusal("zerodha", {}, body) in {"kite_body_unreadable", "kite_checksum_missing"}


def test_kite_postbacks_are_refused_when_the_app_secret_is_not_configured() -> None:
    with pytest.raises(WebhookRefused) as refused:
        WebhookPolicy(WebhookSecrets(PRIMARY)).verify("zerodha", {}, encoded(kite_postback()), NOW)
    assert refused.value.reason == "kite_not_configured"


def test_a_kite_postback_without_a_status_is_malformed() -> None:
    postback = kite_postback()
    del postback["status"]
    with pytest.raises(BadRequest):
        POLICY.verify("zerodha", {}, encoded(postback), NOW)


def test_a_kite_postback_needs_no_freshness_and_ignores_generic_headers() -> None:
    delivery = POLICY.verify(
        "zerodha", {"x-broker-signature": "junk"}, encoded(kite_postback()), NOW
    )
    assert delivery.verified_by == VerifiedBy(Verification.KITE_CHECKSUM)


# -- Upstox updates ----------------------------------------------------------------------------


UPSTOX_UPDATE = encoded(
    {
        "update_type": "order",
        "user_id": "7A1B2C",
        "order_id": "240601000123456",
        "status": "complete",
        "order_timestamp": "2024-06-01 09:15:02",
        "tag": "dc4f0a1b",
    }
)


def test_an_upstox_update_is_unsigned_and_deduplicated_by_its_exact_bytes() -> None:
    delivery = POLICY.verify("upstox", {}, UPSTOX_UPDATE, NOW)
    assert delivery == Delivery(
        event_id=f"sha256:{payload_digest(UPSTOX_UPDATE)}",
        kind="order_update",
        verified_by=VerifiedBy(Verification.UNSIGNED),
        broker_order_id="240601000123456",
        account_id="7A1B2C",
        client_reference="dc4f0a1b",
    )


def test_an_upstox_gtt_update_is_not_about_an_order() -> None:
    body = encoded({"update_type": "gtt_order", "gtt_order_id": "GTT-1", "user_id": "7A1B2C"})
    delivery = POLICY.verify("upstox", {}, body, NOW)
    assert (delivery.kind, delivery.broker_order_id) == ("gtt_order_update", None)


@pytest.mark.parametrize(
    "body",
    [b"", b"nope", b"[]", b'{"update_type": 3}', b'{"order_id": "\\ud800"}'],
)
def test_an_unreadable_upstox_update_is_malformed(body: bytes) -> None:
    with pytest.raises(BadRequest):
        POLICY.verify("upstox", {}, body, NOW)


def test_a_deeply_nested_body_is_malformed_not_a_crash() -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(BadRequest):
        POLICY.verify("upstox", {}, body, NOW)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
HEADERS = [
    "x-broker-event-id",
    "x-broker-timestamp",
    "x-broker-signature-alg",
    "x-broker-signature",
]
FIELDS = ["order_id", "order_timestamp", "checksum", "status", "user_id", "type", "update_type"]


@given(
    provider=st.sampled_from(["schwab", "zerodha", "upstox"]),
    body=st.binary(max_size=256)
    | st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES).map(lambda d: json.dumps(d).encode()),
    headers=st.dictionaries(
        st.sampled_from(HEADERS),
        st.text(max_size=80) | st.just("HMAC-SHA256") | st.just(str(STAMP)),
    ),
)
def test_whatever_arrives_is_verified_or_refused_as_a_client_mistake(
    provider: str, body: bytes, headers: dict[str, str]
) -> None:
    """Never an unexpected exception (a 500): a delivery, or refused as the caller's fault."""
    with contextlib.suppress(WebhookRefused, BadRequest):
        POLICY.verify(provider, headers, body, NOW)


# -- secrets -----------------------------------------------------------------------------------


def test_secrets_are_read_from_the_configuration_text() -> None:
    secrets = WebhookSecrets.from_text("p" * 32, f" {PREVIOUS.decode()} ,, {NEXT.decode()} ", UNTIL)
    assert secrets.additional_until == UNTIL
    assert secrets.labelled() == (
        ("primary", PRIMARY),
        ("additional_1", PREVIOUS),
        ("additional_2", NEXT),
    )
    assert WebhookSecrets.from_text(None, None).labelled() == ()
    assert WebhookSecrets.from_text("", "").labelled() == ()


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        WebhookSecrets(b"s" * 31)
    with pytest.raises(ValueError, match="at least 32 bytes"):
        WebhookSecrets(PRIMARY, (b"short",), UNTIL)


def test_additional_secrets_need_a_primary() -> None:
    with pytest.raises(ValueError, match="primary"):
        WebhookSecrets(None, (NEXT,), UNTIL)


def test_additional_secrets_need_an_expiry_and_an_expiry_needs_them() -> None:
    """WH-4: an additional secret that never expires would be a second permanent key."""
    with pytest.raises(ValueError, match="expiry"):
        WebhookSecrets(PRIMARY, (NEXT,))
    with pytest.raises(ValueError, match="expiry"):
        WebhookSecrets(PRIMARY, (), UNTIL)


def test_the_expiry_is_an_aware_instant_kept_in_utc() -> None:
    local = WebhookSecrets(PRIMARY, (NEXT,), UNTIL.astimezone(timezone(timedelta(hours=5.5))))
    assert local.additional_until == UNTIL
    assert local.additional_until.tzinfo is UTC
    with pytest.raises(InvalidInput):
        WebhookSecrets(PRIMARY, (NEXT,), UNTIL.replace(tzinfo=None))


def test_secrets_never_show_in_a_repr() -> None:
    shown = repr(POLICY)
    assert PRIMARY.decode() not in shown
    assert PREVIOUS.decode() not in shown
    assert KITE_SECRET not in shown


@pytest.mark.parametrize(
    "verified_by",
    [
        VerifiedBy(Verification.HMAC_SHA256, "primary"),
        VerifiedBy(Verification.HMAC_SHA256, "additional_3"),
        VerifiedBy(Verification.KITE_CHECKSUM),
        VerifiedBy(Verification.UNSIGNED),
    ],
)
def test_verified_by_reads_back_from_its_spelling(verified_by: VerifiedBy) -> None:
    assert VerifiedBy.parse(str(verified_by)) == verified_by


def test_only_hmac_verifications_name_a_secret() -> None:
    with pytest.raises(ValueError, match="HMAC"):
        VerifiedBy(Verification.HMAC_SHA256)
    with pytest.raises(ValueError, match="HMAC"):
        VerifiedBy(Verification.UNSIGNED, "primary")


# -- events ------------------------------------------------------------------------------------


EVENT_UUID = UUID("00000000-0000-7000-8000-0000000000e1")


def test_an_event_keeps_the_raw_body_and_its_digest() -> None:
    delivery = POLICY.verify("schwab", signed_headers(), BODY, NOW)
    event = WebhookEvent.received(EVENT_UUID, "schwab", delivery, BODY, NOW)
    assert event.body == BODY
    assert event.body_size == len(BODY)
    assert not event.body_truncated
    assert event.payload_digest == payload_digest(BODY)
    assert (event.event_id, event.kind, event.broker_order_id) == (
        EVENT_ID,
        "order.updated",
        "151220000000000",
    )
    assert BODY.decode() not in repr(event)


def test_a_large_body_is_stored_cut_but_digested_whole() -> None:
    body = b'{"update_type": "order", "pad": "' + b"x" * STORED_BODY_MAX + b'"}'
    delivery = POLICY.verify("upstox", {}, body, NOW)
    event = WebhookEvent.received(EVENT_UUID, "upstox", delivery, body, NOW)
    assert event.body == body[:STORED_BODY_MAX]
    assert event.body_size == len(body)
    assert event.body_truncated
    assert event.payload_digest == payload_digest(body)


def test_an_event_is_received_at_an_aware_instant_in_utc() -> None:
    delivery = POLICY.verify("upstox", {}, UPSTOX_UPDATE, NOW)
    local = NOW.astimezone()
    event = WebhookEvent.received(EVENT_UUID, "upstox", delivery, UPSTOX_UPDATE, local)
    assert event.received_at == NOW
    assert event.received_at.tzinfo is UTC
    with pytest.raises(InvalidInput):
        WebhookEvent.received(
            EVENT_UUID, "upstox", delivery, UPSTOX_UPDATE, NOW.replace(tzinfo=None)
        )
