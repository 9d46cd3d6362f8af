"""Webhook configuration: the ``DASHCORE_*`` variables of the secrets and the tolerance, and the
policy the composition root builds from them (Kite's secret from the Zerodha provider's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dashcore.domain.webhooks import Verification, VerifiedBy, kite_checksum, sign_event
from dashcore_app.settings import Settings, SettingsError
from dashcore_app.webhooks import webhook_policy

PRIMARY = "primary-webhook-secret-0123456789abcdef"
OLDER = "older-webhook-secret-0123456789abcdefgh"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_webhooks_are_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.broker_webhook_secret is None
    assert settings.broker_webhook_additional_secrets == ()
    assert settings.webhook_tolerance_seconds == 300
    assert webhook_policy(settings).secrets.labelled() == ()


def test_secrets_and_tolerance_are_read() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": f" {OLDER} , ",
            "DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "60",
            "DASHCORE_PROVIDER_ZERODHA_CLIENT_SECRET": "kite-secret",
        }
    )
    assert (settings.broker_webhook_secret, settings.broker_webhook_additional_secrets) == (
        PRIMARY,
        (OLDER,),
    )
    policy = webhook_policy(settings)
    assert policy.tolerance == timedelta(seconds=60)
    assert [label for label, _ in policy.secrets.labelled()] == ["primary", "additional_1"]
    stamp = int(NOW.timestamp())
    body = b'{"type": "ping"}'
    headers = {
        "x-broker-event-id": "e1",
        "x-broker-timestamp": str(stamp),
        "x-broker-signature-alg": "HMAC-SHA256",
        "x-broker-signature": sign_event(OLDER.encode(), "e1", stamp, body),
    }
    signed = policy.verify("schwab", headers, body, NOW)
    assert signed.verified_by == VerifiedBy(Verification.HMAC_SHA256, "additional_1")
    checksum = kite_checksum("1", "2022-03-03 09:24:25", "kite-secret")
    postback = (
        b'{"order_id": "1", "order_timestamp": "2022-03-03 09:24:25", "status": "OPEN", '
        b'"checksum": "' + checksum.encode() + b'"}'
    )
    kite = policy.verify("zerodha", {}, postback, NOW)
    assert kite.verified_by == VerifiedBy(Verification.KITE_CHECKSUM)


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"DASHCORE_BROKER_WEBHOOK_SECRET": "short"}, "DASHCORE_BROKER_WEBHOOK_SECRET=(hidden)"),
        (
            {"DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY + "," + OLDER},
            "DASHCORE_BROKER_WEBHOOK_SECRET=(hidden): a webhook secret has no comma",
        ),
        (
            {
                "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
                "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": "x",
            },
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS=(hidden): a webhook secret is at least 32",
        ),
        (
            {"DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER},
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS: set DASHCORE_BROKER_WEBHOOK_SECRET",
        ),
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "0"}, "DASHCORE_WEBHOOK_TOLERANCE_SECONDS='0'"),
        ({"DASHCORE_WEBHOOK_TOLERANCE_SECONDS": "3601"}, "between 1 and 3600"),
    ],
)
def test_a_bad_webhook_variable_is_named_and_a_secret_never_echoed(
    variables: dict[str, str], problem: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(variables)
    message = str(refused.value)
    assert problem in message
    for value in variables.values():
        if "secret" in value or value == "short":
            assert value not in message


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_BROKER_WEBHOOK_SECRET": PRIMARY,
            "DASHCORE_BROKER_WEBHOOK_ADDITIONAL_SECRETS": OLDER,
        }
    )
    assert PRIMARY not in repr(settings)
    assert OLDER not in repr(settings)
