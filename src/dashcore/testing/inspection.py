"""Checks the broker harness applies to whatever an adapter returns.

* :func:`inexact_values` walks a returned object (dataclasses, tuples, lists, dicts) and names
  every value that breaks the money and time rules: a ``float`` anywhere, a non-``Decimal`` in a
  field declared ``Decimal``, a NaN or infinite ``Decimal``, a naive or non-UTC ``datetime``.
* :func:`read_listing` follows a cursor-paged listing to its end and refuses listings that never
  end (a cursor that comes back) or that repeat an item.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache
from typing import TypeVar

from dashcore.domain.portfolio import Page

__all__ = ["inexact_values", "read_listing"]

T = TypeVar("T")

_MAX_PAGES = 10_000


def inexact_values(value: object, path: str) -> list[str]:
    """Every problem in ``value``, each naming its path (``Holding.average_cost.amount``)."""
    if isinstance(value, float):
        return [f"{path} is the float {value!r}; money and quantities must be Decimal"]
    if isinstance(value, Decimal):
        return [] if value.is_finite() else [f"{path} is {value}, not a finite amount"]
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() != timedelta(0):
            return [f"{path} is {value.isoformat()}, not a timezone-aware UTC time"]
        return []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        problems: list[str] = []
        declared_decimal = _decimal_fields(type(value))
        for field in dataclasses.fields(value):
            child = getattr(value, field.name)
            child_path = f"{path}.{field.name}"
            if (
                field.name in declared_decimal
                and child is not None
                and not isinstance(child, Decimal | float)
            ):
                problems.append(
                    f"{child_path} is a {type(child).__name__} ({child!r}); it is declared Decimal"
                )
            problems.extend(inexact_values(child, child_path))
        return problems
    if isinstance(value, tuple | list):
        return [
            problem
            for index, item in enumerate(value)
            for problem in inexact_values(item, f"{path}[{index}]")
        ]
    if isinstance(value, dict):
        return [
            problem
            for key, item in value.items()
            for problem in inexact_values(item, f"{path}[{key!r}]")
        ]
    return []


@cache
def _decimal_fields(cls: type) -> frozenset[str]:
    """The fields of dataclass ``cls`` whose annotation admits ``Decimal``."""
    hints = typing.get_type_hints(cls)
    return frozenset(
        name for name, hint in hints.items() if hint is Decimal or Decimal in typing.get_args(hint)
    )


async def read_listing(
    read: Callable[[str | None], Awaitable[Page[T]]],
    key: Callable[[T], Hashable],
    what: str,
) -> list[T]:
    """Every item of a listing, following ``next_cursor`` until it is ``None``.

    Fails (``AssertionError`` naming ``what``) when a cursor comes back (the listing would never
    end), a page is not a :class:`Page`, or an item appears twice across pages.
    """
    items: list[T] = []
    seen: dict[Hashable, int] = {}
    cursors: set[str] = set()
    cursor: str | None = None
    for page_number in range(1, _MAX_PAGES + 1):
        page = await read(cursor)
        assert isinstance(page, Page), (
            f"{what}: page {page_number} is a {type(page).__name__}, not a Page"
        )
        for item in page.items:
            identity = key(item)
            assert identity not in seen, (
                f"{what}: {identity!r} appears twice (page {seen[identity]} and page "
                f"{page_number}); following the cursors must give every item once"
            )
            seen[identity] = page_number
            items.append(item)
        if page.next_cursor is None:
            return items
        assert page.next_cursor not in cursors, (
            f"{what}: cursor {page.next_cursor!r} came back on page {page_number}; "
            "the listing would never end"
        )
        cursors.add(page.next_cursor)
        cursor = page.next_cursor
    raise AssertionError(f"{what}: no last page after {_MAX_PAGES} pages")
