"""Settings of order placement (issue #8): the step-up threshold per currency, the order limits
per currency (security.md ORD-3), the submit deadline and the reconciliation grace, which must
outlast the broker HTTP deadline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits
from dashcore_app.settings import Settings, SettingsError
from dashcore_app.trading import default_order_limits, trading_policy


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.order_step_up_above == {"USD": Decimal(10_000), "INR": Decimal(500_000)}
    policy = trading_policy(settings)
    assert policy.submit_deadline == timedelta(seconds=30)
    assert policy.reconcile_grace == timedelta(seconds=60)
    assert policy.step_up_above[Currency("INR")] == Decimal(500_000)


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "DASHCORE_ORDER_STEP_UP_ABOVE": " USD:2500.50 , EUR:0 ",
            "DASHCORE_ORDER_SUBMIT_DEADLINE_SECONDS": "10",
            "DASHCORE_ORDER_RECONCILE_GRACE_SECONDS": "45",
            "DASHCORE_ORDER_RECONCILE_WINDOW_SECONDS": "600",
            "DASHCORE_PROVIDER_TIMEOUT": "20",
        }
    )
    assert settings.order_step_up_above == {"USD": Decimal("2500.50"), "EUR": Decimal(0)}
    policy = trading_policy(settings)
    assert policy.submit_deadline == timedelta(seconds=10)
    assert policy.reconcile_grace == timedelta(seconds=45)
    assert policy.reconcile_window == timedelta(minutes=10)
    assert not policy.needs_step_up(Decimal(2500), Currency("USD"))
    assert policy.needs_step_up(Decimal("2500.51"), Currency("USD"))
    assert policy.needs_step_up(Decimal(1), Currency("INR"))  # not listed: always
    assert policy.needs_step_up(None, Currency("USD"))  # not priced: always


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "usd:100"),
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "USD"),
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "QQQ:100"),
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "USD:-1"),
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "USD:NaN"),
        ("DASHCORE_ORDER_STEP_UP_ABOVE", "USD:lots"),
        ("DASHCORE_ORDER_MAX_VALUE", "USD:-5"),
        ("DASHCORE_ORDER_MAX_QUANTITY", "100000"),
        ("DASHCORE_ORDER_MAX_DAILY_VALUE", "inr:5000000"),
        ("DASHCORE_ORDER_SUBMIT_DEADLINE_SECONDS", "0"),
        ("DASHCORE_ORDER_RECONCILE_GRACE_SECONDS", "x"),
        ("DASHCORE_ORDER_RECONCILE_WINDOW_SECONDS", "59"),
    ],
)
def test_each_bad_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({variable: value})
    assert [problem.split("=")[0] for problem in raised.value.problems] == [variable]


def test_the_grace_must_outlast_the_broker_deadline() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({"DASHCORE_ORDER_RECONCILE_GRACE_SECONDS": "30"})
    assert raised.value.problems[0].startswith("DASHCORE_ORDER_RECONCILE_GRACE_SECONDS:")


def test_order_limits_default_to_a_retail_platforms_and_are_read_per_currency() -> None:
    defaults = default_order_limits(Settings.from_env({})).limits
    assert defaults.of(Currency("INR")) == CurrencyLimits(
        Decimal(1_000_000), Decimal(100_000), Decimal(5_000_000)
    )
    assert defaults.of(Currency("USD")) == CurrencyLimits(
        Decimal(50_000), Decimal(10_000), Decimal(250_000)
    )
    configured = Settings.from_env(
        {
            "DASHCORE_ORDER_MAX_VALUE": "USD:20000.50",
            "DASHCORE_ORDER_MAX_QUANTITY": "EUR:10",
            "DASHCORE_ORDER_MAX_DAILY_VALUE": "USD:90000",
        }
    )
    limits = default_order_limits(configured).limits
    assert limits.of(Currency("USD")) == CurrencyLimits(
        max_order_value=Decimal("20000.50"), max_daily_value=Decimal(90_000)
    )
    assert limits.of(Currency("EUR")) == CurrencyLimits(max_order_quantity=Decimal(10))
    assert limits.of(Currency("INR")) == CurrencyLimits()  # not listed: no limit
