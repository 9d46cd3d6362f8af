"""Money: an exact ``Decimal`` amount in one ISO 4217 currency.

Business rules:
- amounts are ``Decimal`` (or ``int``/``str`` converted exactly); ``float`` is refused because it
  cannot represent most decimal fractions;
- arithmetic and ordering are defined only between amounts of the same currency;
- a currency a person gives (a manual trade, account or transaction, an order limit) is one
  ISO 4217 lists (:meth:`Currency.issued`); one a broker reports need only have the shape, so an
  unlisted code (``GBX``) never fails a sync;
- NaN and infinities are not money;
- an amount, quantity or price given as input (:func:`input_decimal`) is below 10**18 in
  magnitude and has at most 18 decimal places: nothing real is larger or finer, and arithmetic
  on ``1e999999999`` overflows or writes a gigabyte of digits. Results computed from inputs are
  not bounded;
- an amount leaves as text in positional notation with every digit it has
  (:func:`plain_decimal`): ``str(Decimal)`` switches to an exponent for small and some whole
  numbers (``1E-10``, ``1E+2``), which a person cannot read and some clients cannot parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Final, Self

from dashcore.domain.errors import InvalidInput

__all__ = [
    "ARITHMETIC",
    "ISSUED_CURRENCIES",
    "MAX_INPUT_DIGITS",
    "MAX_INPUT_PLACES",
    "Currency",
    "Money",
    "input_decimal",
    "plain_decimal",
    "to_decimal",
]

MAX_INPUT_DIGITS = 18
"""Digits an input amount may have before its decimal point (below 10**18)."""
MAX_INPUT_PLACES = 18
"""Decimal places an input amount may have."""
ARITHMETIC: Final = Context(prec=100)
"""The context of money arithmetic: exact for every amount dashcore takes. An input has at most
36 significant digits (18 before the point, 18 after), so a sum of them stays under 50 and a
product (quantity x price) under 75; Python's default context keeps 28 and would round."""

_POSITIONAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?", re.ASCII)
"""How a client writes an amount as text: the form responses use (``"1000"``, ``"-0.05"``)."""


def to_decimal(value: Decimal | int | str, *, field: str = "amount") -> Decimal:
    """Convert exactly to a finite ``Decimal``; floats and non-numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise InvalidInput("Amounts must be decimal strings or integers.", field=field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(value)
    except InvalidOperation as exc:
        raise InvalidInput("Not a decimal number.", field=field) from exc
    if not result.is_finite():
        raise InvalidInput("Amounts must be finite.", field=field)
    return result


def input_decimal(value: Decimal | int | str, *, field: str = "amount") -> Decimal:
    """An amount, quantity or price as a client gives it: text in positional notation (digits,
    an optional leading ``-`` and fraction: no exponent, no ``+``, no spaces, so ``"1e3"`` is
    refused rather than read as a thousand shares), :func:`to_decimal`, then at most
    :data:`MAX_INPUT_DIGITS` digits before the decimal point and :data:`MAX_INPUT_PLACES` after
    it (``InvalidInput`` naming ``field`` otherwise). A negative zero (``"-0.00"``) is zero
    (``"0.00"``): the sign of nothing means nothing."""
    if isinstance(value, str) and _POSITIONAL.fullmatch(value) is None:
        raise InvalidInput(
            'Write the number in plain digits, such as "12.50" (no exponent, + or spaces).',
            field=field,
        )
    result = to_decimal(value, field=field)
    if result and result.adjusted() >= MAX_INPUT_DIGITS:
        raise InvalidInput(
            f"At most {MAX_INPUT_DIGITS} digits before the decimal point.", field=field
        )
    exponent = result.as_tuple().exponent
    assert isinstance(exponent, int)  # a finite decimal
    if -exponent > MAX_INPUT_PLACES:
        raise InvalidInput(f"At most {MAX_INPUT_PLACES} decimal places.", field=field)
    return result.copy_abs() if result.is_zero() else result


def plain_decimal(value: Decimal) -> str:
    """The decimal's exact digits without an exponent (``Decimal("1E+2")`` → ``"100"``,
    ``Decimal("1E-10")`` → ``"0.0000000001"``), its scale and sign kept as they are."""
    return format(value, "f")


_ISO_4217_CODES: Final = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
    BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD
    JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA
    XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG
"""
ISSUED_CURRENCIES: Final = frozenset(_ISO_4217_CODES.split())
"""ISO 4217's alphabetic codes in use (currencies, funds, precious metals), without ``XTS``
(reserved for testing) and ``XXX`` (no currency, which dashcore uses for "not known yet")."""


@dataclass(frozen=True, slots=True)
class Currency:
    """An ISO 4217 alphabetic code: three upper-case ASCII letters (``USD``, ``INR``)."""

    code: str

    @classmethod
    def issued(cls, code: str) -> Self:
        """A currency a person names: one ISO 4217 lists, else ``InvalidInput`` (``QQQ`` has
        the shape of a code but is no currency)."""
        currency = cls(code)
        if code not in ISSUED_CURRENCIES:
            raise InvalidInput(f"{code} is not an ISO 4217 currency.", field="currency")
        return currency

    def __post_init__(self) -> None:
        if not (
            len(self.code) == 3
            and self.code.isascii()
            and self.code.isalpha()
            and self.code.isupper()
        ):
            raise InvalidInput("A currency is a three-letter ISO 4217 code.", field="currency")

    def __str__(self) -> str:
        return self.code


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: Currency

    def __post_init__(self) -> None:
        amount = self.amount
        # The common case (a finite Decimal, as decoders produce) is checked without a call:
        # adapters build hundreds of thousands of these per second.
        if type(amount) is not Decimal or not amount.is_finite():
            object.__setattr__(self, "amount", to_decimal(amount))
        if type(self.currency) is not Currency:
            raise InvalidInput("A currency is a Currency.", field="currency")

    @classmethod
    def of(cls, amount: Decimal | int | str, currency: str | Currency) -> Self:
        cur = currency if isinstance(currency, Currency) else Currency(currency)
        return cls(amount, cur)  # type: ignore[arg-type]  # __post_init__ converts exactly

    @classmethod
    def zero(cls, currency: str | Currency) -> Self:
        return cls.of(0, currency)

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise InvalidInput(
                f"Cannot combine {self.currency} with {other.currency}.", field="currency"
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(ARITHMETIC.add(self.amount, other.amount), self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(ARITHMETIC.subtract(self.amount, other.amount), self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, Decimal | int):
            raise TypeError("Money can only be multiplied by a Decimal or an int")
        return Money(ARITHMETIC.multiply(self.amount, factor), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(self.amount.copy_negate(), self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def rounded(self, places: int = 2) -> Money:
        """Round half-to-even (banker's rounding) to ``places`` decimal places."""
        return Money(
            self.amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN), self.currency
        )

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
