import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashcore.domain.email import Email
from dashcore.domain.errors import InvalidInput


def test_keeps_the_address_as_given_and_compares_by_canonical_key() -> None:
    email = Email("Mike.Smith@Example.ORG")
    assert email.value == "Mike.Smith@Example.ORG"
    assert email.key == "mike.smith@example.org"
    assert email == Email("mike.smith@EXAMPLE.org")


def test_fullwidth_and_case_variants_share_one_key() -> None:
    assert Email("ｍike@example.org").key == Email("MIKE@EXAMPLE.ORG").key == "mike@example.org"


def test_dotless_i_is_a_different_identity() -> None:
    # U+0131 casefolds to itself: it must not collide with (or be sent mail meant for) "mike".
    assert Email("mıke@example.org").key != Email("mike@example.org").key


def test_internationalized_domain_is_idna_encoded() -> None:
    assert Email("user@bücher.example").key == "user@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "address",
    [
        "no-at-sign",
        "@example.org",
        "user@",
        "user@localhost",
        "user@exa..mple.org",
        "us er@example.org",
        "user\u202e@example.org",
        "user\r\n@example.org",
        "a" * 65 + "@example.org",
        "a@" + "b" * 250 + ".org",
    ],
)
def test_invalid_addresses_are_refused(address: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        Email(address)
    assert raised.value.errors[0].field == "email"


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=30))
def test_case_variants_map_to_the_same_key(local: str) -> None:
    assert Email(f"{local.upper()}@Example.org").key == Email(f"{local}@example.ORG").key


@pytest.mark.parametrize(
    "address",
    [
        "attacker@evil.example,ceo@bank.example",
        "x<attacker@evil.example>",
        '"ceo@bank.example"<attacker@evil.example>',
        "a(comment)@evil.com",
        "a@b.com@c.com",
        "a@@b.com",
        "a@[10.0.0.1]",
        "a@-x-.com",
        "a@x_y.com",
        ".a@example.org",
        "a.@example.org",
        "a..b@example.org",
        "a@example.123",
    ],
)
def test_an_address_a_person_gives_is_one_plain_mailbox(address: str) -> None:
    """Found by QA: such strings were stored as one account while the mailer delivered to
    another mailbox parsed out of them."""
    with pytest.raises(InvalidInput) as raised:
        Email.given(address)
    assert raised.value.errors[0].field == "email"


@pytest.mark.parametrize(
    "address",
    [
        "Mike.Smith+tag@Example.ORG",
        "o'brien@example.co.uk",
        "user@bücher.example",
        "ｍike@example.org.",
    ],
)
def test_plain_addresses_are_given_as_they_are(address: str) -> None:
    assert Email.given(address).value == address
