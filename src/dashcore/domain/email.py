"""Email addresses as identities (security.md REG-2).

An address is stored exactly as the user typed it (mail goes only to that stored value) and
carries a *canonical key* used for uniqueness and look-up: NFKC, then ``casefold()``, with the
domain IDNA-normalised. Case and width variants (``MIKE@EXAMPLE.ORG``, fullwidth ``ｍike``) share
one key. Control, format (bidi) characters and whitespace are refused; at most 254 octets.

An address a person gives (sign-up, an email change, ``create-admin``) and every address mail
is sent to must also be *one plain mailbox* (:meth:`Email.given`): a local part without the
characters that make an address a list, a display name or a comment (``, < > ( ) [ ] : ; @ \
"``) or stray dots, and a domain of host-name labels. Found by QA: ``attacker@evil.example,
ceo@bank.example`` was stored as one account while the SMTP library mailed its verification to
the first address, so a stranger verified an address naming another's mailbox.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Self

from dashcore.domain.errors import InvalidInput

__all__ = ["Email", "canonical_email_key", "email_fingerprint"]

_MAX_OCTETS = 254
_MAX_LOCAL_OCTETS = 64
_LIST_OR_NAME_CHARACTERS = frozenset(',<>()[]:;@\\"')
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", re.ASCII)


def _refuse(message: str) -> InvalidInput:
    return InvalidInput(message, field="email")


def _check_characters(text: str) -> None:
    for char in text:
        category = unicodedata.category(char)
        if category[0] in {"C", "Z"}:
            raise _refuse("The address contains a control, format or space character.")


def _idna_domain(domain: str) -> str:
    labels = domain.rstrip(".").split(".")
    if len(labels) < 2 or any(not label for label in labels):
        raise _refuse("The domain of the address is not valid.")
    try:
        return ".".join(label.encode("idna").decode("ascii") for label in labels)
    except UnicodeError as exc:
        raise _refuse("The domain of the address is not valid.") from exc


def canonical_email_key(address: str) -> str:
    """The uniqueness key of an address: NFKC + casefold, IDNA domain."""
    normalized = unicodedata.normalize("NFKC", address).casefold()
    local, _, domain = normalized.rpartition("@")
    return f"{local}@{_idna_domain(domain)}"


def email_fingerprint(key: str) -> str:
    """A short, non-reversible label of a canonical address for audit metadata about
    accounts that may not exist (the raw text might be a password typed in the wrong field)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Email:
    """A validated address: ``value`` as given, ``key`` canonical (compare and index on it)."""

    value: str
    key: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        text = self.value
        if len(text.encode("utf-8")) > _MAX_OCTETS:
            raise _refuse("The address is longer than 254 octets.")
        _check_characters(text)
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain:
            raise _refuse("The address must look like name@example.org.")
        if len(local.encode("utf-8")) > _MAX_LOCAL_OCTETS:
            raise _refuse("The part before @ is longer than 64 octets.")
        object.__setattr__(self, "key", canonical_email_key(text))

    @classmethod
    def given(cls, address: str) -> Self:
        """An address as a person gives it, or as mail goes to it: one plain mailbox (see the
        module's rules), else ``InvalidInput`` naming ``email``."""
        email = cls(address)
        local = email.value.rpartition("@")[0]
        if (
            set(local) & _LIST_OR_NAME_CHARACTERS
            or local.startswith(".")
            or local.endswith(".")
            or ".." in local
        ):
            raise _refuse("The address must be one plain address, such as name@example.org.")
        labels = email.key.rpartition("@")[2].split(".")
        if not all(_HOST_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
            raise _refuse("The domain of the address is not valid.")
        return email

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Email) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __str__(self) -> str:
        return self.value
