"""A display name is what other screens show of a person: printable text only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dashcore.domain.errors import InvalidInput
from tests.contract.people import person

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", ["Ada Lovelace", "Zoë", "李小龍", "O'Brien-Smith"])
def test_printable_names_are_kept(name: str) -> None:
    user = person(1, NOW)
    user.rename(f"  {name} ", NOW)
    assert user.display_name == name


@pytest.mark.parametrize(
    "name",
    ["\u202eevil", "a\u200fb", "tab\there", "line\nbreak", "nul\x00", "del\x7f", "", " " * 3],
    ids=["rtl-override", "rtl-mark", "tab", "newline", "nul", "del", "empty", "blank"],
)
def test_control_and_format_characters_are_refused(name: str) -> None:
    """A right-to-left override (U+202E) shows the text after it backwards (found by QA:
    account names refused it, display names did not)."""
    with pytest.raises(InvalidInput) as refused:
        person(1, NOW).rename(name, NOW)
    assert [error.field for error in refused.value.errors] == ["display_name"]
