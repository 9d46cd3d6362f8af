"""Paging of listings a broker returns whole (holdings, positions, a day's orders).

dashcore pages them itself so that every adapter pages alike: ``size`` items at a time in a
stable order, behind an opaque cursor ``<listing>:<offset>`` that only that listing accepts.
Following ``next_cursor`` until it is ``None`` yields every item exactly once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NoReturn, TypeVar

from dashcore.domain.errors import InvalidInput
from dashcore.domain.portfolio import Page

__all__ = ["bad_cursor", "cursor_at", "page_in_memory", "page_of_items", "start_of"]

R = TypeVar("R")
T = TypeVar("T")
_MAX_OFFSET_DIGITS = 9


def bad_cursor() -> NoReturn:
    raise InvalidInput("This cursor does not belong to this listing.", field="cursor")


def start_of(cursor: str | None, listing: str) -> int:
    """The offset a cursor of ``listing`` stands for (0 without one); ``InvalidInput`` for a
    cursor of another listing or one dashcore did not make."""
    if cursor is None:
        return 0
    name, _, offset = cursor.partition(":")
    if name != listing or not (
        offset.isascii() and offset.isdigit() and len(offset) <= _MAX_OFFSET_DIGITS
    ):
        bad_cursor()
    return int(offset)


def page_in_memory(
    rows: Sequence[R],
    cursor: str | None,
    *,
    listing: str,
    size: int,
    convert: Callable[[Sequence[R]], Sequence[T]],
) -> Page[T]:
    """``size`` rows from the cursor's offset, converted (only the slice is converted). The
    caller passes ``rows`` in a stable order."""
    start = start_of(cursor, listing)
    end = start + size
    return Page(tuple(convert(rows[start:end])), cursor_at(listing, end, len(rows)))


def page_of_items(items: Sequence[T], cursor: str | None, *, listing: str, size: int) -> Page[T]:
    """The same for rows already converted."""
    start = start_of(cursor, listing)
    end = start + size
    return Page(tuple(items[start:end]), cursor_at(listing, end, len(items)))


def cursor_at(listing: str, offset: int, total: int | None = None) -> str | None:
    """The cursor of ``offset`` in ``listing``; ``None`` past the end when ``total`` is known."""
    return None if total is not None and offset >= total else f"{listing}:{offset}"
