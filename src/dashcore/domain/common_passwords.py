"""The shipped common-password list and how a password is matched against it (PW-3).

The list (``data/common-passwords.txt.gz``, provenance in ``data/README.md``) holds common
passwords and first names and surnames. Since a password needs at least 15 code points, almost
nobody types a listed entry as it is: people pad, repeat or decorate one. A password is
*common* when, after case folding (NFKC + ``casefold``), any of these holds:

1. **Repetition of a tiny unit**: it is a repetition of 1 to 3 code points
   (``"aaaaaaaaaaaaaaa"``, ``"abababab…"``, fifteen spaces).
2. **Walk**: it, or one of its variants below, has at least 4 code points and each character
   is next to (or the same as) the previous one on a keyboard row, keyboard column, the
   alphabet or the digits (either direction; the digits wrap 9-0-1):
   ``"qwertyuiopasdfgh"``, ``"123456789012345"``, ``"1qaz2wsx3edc4rfv"``.
3. **Listed**: one of its variants of at least 4 code points is in the list.

The variants are every string reachable from the folded password by repeating these steps:

* *collapse*: a string made of at least two whole copies of a unit, possibly followed by the
  start of another, becomes the unit (``"passwordpassword"`` -> ``"password"``);
* *strip*: leading and trailing characters that are not letters (digits, punctuation, spaces,
  symbols) are removed (``"iloveyou12345678"`` -> ``"iloveyou"``, ``"!!2024dragon!!"``);
* *unleet*: common look-alike substitutions are undone (``@ 4 -> a``, ``8 -> b``, ``3 -> e``,
  ``6 -> g``, ``1 ! -> i``, ``0 -> o``, ``5 $ -> s``, ``7 + -> t``): ``"p@ssw0rd"``.

Not caught here (a breached-password service covers more): two common words joined, words
with letters inserted inside them, and words from general dictionaries.
"""

from __future__ import annotations

import gzip
import itertools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

__all__ = ["CommonPasswordList", "fold", "shipped_common_passwords", "variants"]

_DATA_FILE = "common-passwords.txt.gz"
_MIN_MATCH_LENGTH = 4
_MAX_TINY_UNIT = 3
_UNLEET = str.maketrans(
    {"@": "a", "4": "a", "8": "b", "3": "e", "6": "g", "1": "i", "!": "i", "0": "o"}
    | {"5": "s", "$": "s", "7": "t", "+": "t"}
)
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890",
    "1234567890qwertyuiopasdfghjklzxcvbnm",
    "zxcvbnmasdfghjklqwertyuiop1234567890",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/",
    "qazwsxedcrfvtgbyhnujmikolp",
    "q1w2e3r4t5y6u7i8o9p0",
    "1q2w3e4r5t6y7u8i9o0p",
    "!@#$%^&*()_+",
)


def _neighbour_pairs(sequences: Iterable[str]) -> frozenset[tuple[str, str]]:
    pairs: set[tuple[str, str]] = set()
    for sequence in sequences:
        for left, right in itertools.pairwise(sequence):
            pairs.update({(left, right), (right, left)})
    return frozenset(pairs)


_NEIGHBOURS = _neighbour_pairs(_SEQUENCES)


def fold(password: str) -> str:
    """The form every comparison uses: NFKC, then ``casefold``."""
    return unicodedata.normalize("NFKC", password).casefold()


def _unit(text: str) -> str:
    """The shortest unit ``text`` repeats at least twice (a cut copy may end it), or ``text``."""
    for size in range(1, len(text) // 2 + 1):
        unit = text[:size]
        if all(text[index] == text[index - size] for index in range(size, len(text))):
            return unit
    return text


def _strip(text: str) -> str:
    start, end = 0, len(text)
    while start < end and not text[start].isalpha():
        start += 1
    while end > start and not text[end - 1].isalpha():
        end -= 1
    return text[start:end]


def _is_walk(text: str) -> bool:
    return all(
        left == right or (left, right) in _NEIGHBOURS for left, right in itertools.pairwise(text)
    )


def variants(folded: str) -> frozenset[str]:
    """Every string reachable from ``folded`` by collapse, strip and unleet (itself included)."""
    found = {folded}
    pending = [folded]
    while pending:
        text = pending.pop()
        for step in (_unit(text), _strip(text), text.translate(_UNLEET)):
            if step not in found:
                found.add(step)
                pending.append(step)
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class CommonPasswordList:
    """A set of folded common passwords, matched with the rules of this module."""

    entries: frozenset[str] = field(repr=False)

    @classmethod
    def of(cls, words: Iterable[str]) -> CommonPasswordList:
        return cls(frozenset(fold(word) for word in words))

    def is_common(self, password: str) -> bool:
        folded = fold(password)
        if len(_unit(folded)) <= _MAX_TINY_UNIT:
            return True
        return any(
            len(variant) >= _MIN_MATCH_LENGTH and (variant in self.entries or _is_walk(variant))
            for variant in variants(folded)
        )


@cache
def shipped_common_passwords() -> CommonPasswordList:
    """The list shipped with dashcore, read from the package on first use and kept."""
    resource = resources.files("dashcore.domain") / "data" / _DATA_FILE
    with resource.open("rb") as compressed, gzip.open(compressed, "rt", encoding="utf-8") as text:
        words = [line.rstrip("\n") for line in text if line.strip() and not line.startswith("#")]
    return CommonPasswordList.of(words)
