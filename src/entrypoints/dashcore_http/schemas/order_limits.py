"""Bodies of the order limits endpoints (security.md ORD-3): per currency, the most one order
may be worth, its largest quantity, and the most a day's orders may be worth; ``null`` is no
such limit (in a user's own limits: the deployment's default holds)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import msgspec

from dashcore.application.order_limits import UserOrderLimits
from dashcore.domain.errors import InvalidInput
from dashcore.domain.money import Currency
from dashcore.domain.order_limits import CurrencyLimits, OrderLimits
from dashcore_http.schemas.accounts import CurrencyCode
from dashcore_http.schemas.numbers import optional_decimal_string
from dashcore_http.schemas.transactions import DecimalInput, decimal_input

__all__ = [
    "CurrencyLimitsInput",
    "CurrencyLimitsView",
    "OrderLimitsUpdate",
    "OrderLimitsView",
    "order_limits_of",
    "order_limits_view",
]


class CurrencyLimitsInput(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    currency: CurrencyCode
    max_order_value: DecimalInput | None = None
    max_order_quantity: DecimalInput | None = None
    max_daily_value: DecimalInput | None = None


class OrderLimitsUpdate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A user's own limits, all of them: a currency or a limit left out falls back to the
    deployment's default; ``[]`` clears them."""

    limits: Annotated[list[CurrencyLimitsInput], msgspec.Meta(max_length=50)]


class CurrencyLimitsView(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    max_order_value: str | None
    max_order_quantity: str | None
    max_daily_value: str | None


class OrderLimitsView(msgspec.Struct, frozen=True, kw_only=True):
    effective: list[CurrencyLimitsView]
    """The limits in force: the defaults, with the user's own in their place."""
    own: list[CurrencyLimitsView]
    """The limits set for this user alone (by an administrator)."""


def order_limits_of(update: OrderLimitsUpdate) -> OrderLimits:
    """The limits an update asks for; a currency named twice, or a limit that is not a
    non-negative decimal string, is a 422 naming the field."""
    by_currency: dict[Currency, CurrencyLimits] = {}
    for index, item in enumerate(update.limits):
        at = f"limits[{index}]"
        try:
            currency = Currency.issued(item.currency)
        except InvalidInput as error:
            raise InvalidInput(error.message, field=f"{at}.currency") from error
        if currency in by_currency:
            raise InvalidInput(f"{currency} is listed twice.", field=f"{at}.currency")
        amounts: dict[str, Decimal | None] = {}
        for name, given in (
            ("max_order_value", item.max_order_value),
            ("max_order_quantity", item.max_order_quantity),
            ("max_daily_value", item.max_daily_value),
        ):
            amount = None if given is None else decimal_input(given, f"{at}.{name}")
            if amount is not None and amount < 0:
                raise InvalidInput("A limit is not negative.", field=f"{at}.{name}")
            amounts[name] = amount
        by_currency[currency] = CurrencyLimits(**amounts)
    return OrderLimits(by_currency)


def _views(limits: OrderLimits) -> list[CurrencyLimitsView]:
    return [
        CurrencyLimitsView(
            currency=currency.code,
            max_order_value=optional_decimal_string(each.max_order_value),
            max_order_quantity=optional_decimal_string(each.max_order_quantity),
            max_daily_value=optional_decimal_string(each.max_daily_value),
        )
        for currency, each in limits.by_currency.items()
    ]


def order_limits_view(limits: UserOrderLimits) -> OrderLimitsView:
    return OrderLimitsView(effective=_views(limits.effective), own=_views(limits.own))
