"""Password policy and common-password matching (security.md PW-2, PW-3, DOS-1, b.3)."""

from __future__ import annotations

import unicodedata
from importlib import resources

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dashcore.domain.common_passwords import (
    CommonPasswordList,
    fold,
    shipped_common_passwords,
    variants,
)
from dashcore.domain.errors import InvalidInput
from dashcore.domain.passwords import (
    MAX_RAW_CODE_POINTS,
    MAX_RAW_UTF8_BYTES,
    PasswordPolicy,
    normalise_password,
    reject_oversized,
)
from dashcore_security.passwords import CHEAPEST, LibpassHasher

COMMON = shipped_common_passwords()
POLICY = PasswordPolicy(COMMON)
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦: 7 code points

# Any code point except NUL and surrogates (not encodable in UTF-8).
_allowed = st.characters(codec="utf-8", exclude_characters="\x00")


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def nfkc_text(length: int) -> st.SearchStrategy[str]:
    """Text in NFKC form of exactly ``length`` code points (a prefix of NFKC text is NFKC)."""
    return (
        st.text(_allowed, min_size=length, max_size=length + 8)
        .map(lambda text: _nfkc(text)[:length])
        .filter(lambda text: len(text) == length and _nfkc(text) == text)
    )


class CountingList:
    def __init__(self) -> None:
        self.calls = 0

    def is_common(self, password: str) -> bool:
        self.calls += 1
        return False


def refusal(password: str, policy: PasswordPolicy = POLICY) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        policy.check(password)
    error = caught.value
    assert [field_error.field for field_error in error.errors] == ["password"]
    if password:
        assert password not in str(error)
    return error


# ------------------------------------------------------------------ length (PW-2)


@given(st.integers(min_value=15, max_value=128).flatmap(nfkc_text))
def test_any_uncommon_password_of_15_to_128_code_points_is_accepted(password: str) -> None:
    assume(not COMMON.is_common(password))
    assert POLICY.check(password) == password


@given(nfkc_text(14))
def test_14_code_points_are_too_short(password: str) -> None:
    assert refusal(password).code == "password_too_short"


@given(nfkc_text(129))
def test_129_code_points_are_too_long(password: str) -> None:
    assert refusal(password).code == "password_too_long"


def test_length_limits_are_inclusive() -> None:
    assert POLICY.check("kT7#mq2Lp9zR4vW") == "kT7#mq2Lp9zR4vW"
    longest = ("kT7#mq2Lp9zR4vW" * 9)[:128]
    assert POLICY.check(longest) == longest
    assert refusal(longest + "x").code == "password_too_long"
    assert refusal("kT7#mq2Lp9zR4v").code == "password_too_short"
    assert refusal("").code == "password_too_short"


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    # The ligature ﬁ is one code point typed, two after NFKC.
    assert POLICY.check("Xq9#mW2Lp7zR4\ufb01") == "Xq9#mW2Lp7zR4fi"
    assert refusal("Xq9#mW2Lp7zR\ufb01").code == "password_too_short"
    # 15 fullwidth characters are 15 ASCII ones.
    assert POLICY.check("ｋＴ７＃ｍｑ２Ｌｐ９ｚＲ４ｖＷ") == "kT7#mq2Lp9zR4vW"


def test_emoji_zwj_sequences_count_every_code_point() -> None:
    assert len(FAMILY) == 7
    assert refusal(FAMILY * 2).code == "password_too_short"
    assert POLICY.check(FAMILY * 2 + "\U0001f995") == FAMILY * 2 + "\U0001f995"


def test_nfc_and_nfd_give_the_same_password() -> None:
    nfc = unicodedata.normalize("NFC", "crème brûlée à l'été")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert POLICY.check(nfc) == POLICY.check(nfd) == nfc


def test_nothing_is_trimmed_or_case_folded() -> None:
    base = "Correct horse battery staple"
    assert POLICY.check(base + " ") == base + " "
    assert POLICY.check(" " + base) == " " + base
    assert POLICY.check(base + " ") != POLICY.check(base)
    assert POLICY.check(base.upper()) == base.upper()
    assert POLICY.check("pass word gravel lantern") != POLICY.check("password gravel lantern")


def test_a_right_to_left_override_is_an_ordinary_character() -> None:
    password = "gravel\u202elantern orbit"
    assert POLICY.check(password) == password


# ------------------------------------------------------------------ characters (b.3)


@pytest.mark.parametrize(
    "password",
    ["gravel lantern\x00orbit", "\x00" * 20, "gravel lantern \ud800 orbit", "\udfff" * 15],
    ids=["nul", "only-nul", "high-surrogate", "low-surrogates"],
)
def test_nul_and_lone_surrogates_are_refused(password: str) -> None:
    assert refusal(password).code == "password_invalid_characters"


def test_paired_surrogates_are_not_a_thing_in_python_text() -> None:
    # An astral character decoded from JSON is one code point, not a surrogate pair.
    assert POLICY.check("gravel lantern \U0001f995") == "gravel lantern \U0001f995"


# ------------------------------------------------------------------ oversized input (DOS-1)


def test_oversized_input_is_refused_before_any_work() -> None:
    spy = CountingList()
    policy = PasswordPolicy(spy)
    for password in ("x" * 1_000_000, "\x00" * 1_000_000, "\ud800" * (MAX_RAW_CODE_POINTS + 1)):
        assert refusal(password, policy).code == "password_too_long"
        with pytest.raises(InvalidInput):
            reject_oversized(password)
        with pytest.raises(InvalidInput):
            normalise_password(password)
    assert spy.calls == 0


def test_the_raw_bound_leaves_room_for_decomposed_text() -> None:
    # 128 Hangul syllables with a final consonant typed as jamo: 384 code points raw, 128 after.
    syllables = "".join(chr(0xAC01 + index * 28) for index in range(128))
    decomposed = unicodedata.normalize("NFD", syllables)
    assert len(decomposed) == 384 <= MAX_RAW_CODE_POINTS
    assert POLICY.check(decomposed) == syllables
    assert MAX_RAW_UTF8_BYTES == 4 * MAX_RAW_CODE_POINTS
    reject_oversized("x" * MAX_RAW_CODE_POINTS)


# ------------------------------------------------------------------ policy configuration


def test_policy_bounds_are_validated() -> None:
    assert PasswordPolicy(COMMON, min_length=8).check("gravel l") == "gravel l"
    for min_length, max_length in ((7, 128), (15, 129), (20, 16)):
        with pytest.raises(ValueError, match="min_length"):
            PasswordPolicy(COMMON, min_length=min_length, max_length=max_length)


# ------------------------------------------------------------------ common passwords (PW-3)


@pytest.mark.parametrize(
    "password",
    [
        "qwertyuiopasdfgh",
        "123456789012345",
        "passwordpassword",
        "iloveyou12345678",
        "PasswordPassword",
        "Password123Password123",
        "P@ssw0rd2024!!!!",
        "!!2024dragon!!!!",
        "monkey1234567890",
        "Jennifer19851985",
        "1qaz2wsx3edc4rfv",
        "q1w2e3r4t5y6u7i8",
        "poiuytrewqlkjhgf",
        "zxcvbnmasdfghjkl",
        "abcdefghijklmnop",
        "987654321098765",
        "!@#$%^&*()_+_)(*",
        "               ",
        "aaaaaaaaaaaaaaa",
        "abababababababab",
        "123123123123123",
        "ｐａｓｓｗｏｒｄｐａｓｓｗｏｒｄ",
        "TRUSTNO1TRUSTNO1",
        "sunshine........",
    ],
)
def test_common_passwords_padded_repeated_or_walked_are_refused(password: str) -> None:
    assert len(unicodedata.normalize("NFKC", password)) >= 15
    assert refusal(password).code == "password_too_common"


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "kT7#mq2Lp9zR4vW",
        "Xq9!Xq9!Xq9!Xq9!",
        "x8374928374928374",
        "tr0ub4dor&3-gravel",
        "gravel lantern orbit",
        "ça roule pour les écureuils",
        "日本語のパスワードです長い文章",
        "840273915628401",
    ],
)
def test_uncommon_passwords_are_accepted(password: str) -> None:
    assert POLICY.check(password) == unicodedata.normalize("NFKC", password)


def test_variants_collapse_strip_and_unleet() -> None:
    assert "password" in variants(fold("P@ssw0rd2024!!!!"))
    assert "iloveyou" in variants(fold("iloveyou12345678"))
    assert "password" in variants(fold("PasswordPasswordPass"))
    assert variants(fold("gravel")) == {"gravel"}


def test_a_custom_list_is_matched_with_the_same_rules() -> None:
    words = CommonPasswordList.of(["Gravel"])
    assert words.is_common("GRAVEL2024GRAVEL2024")
    assert words.is_common("gr4v3l!!!!!!!!!!!")
    assert not words.is_common("gravel lantern orbit")
    assert not CommonPasswordList.of([]).is_common("gravel lantern orbit")


@given(st.text(_allowed, max_size=128))
def test_common_matching_never_fails_on_any_text(password: str) -> None:
    assert COMMON.is_common(password) in {True, False}


def test_shipped_list_is_loaded_once_and_small() -> None:
    assert shipped_common_passwords() is COMMON
    assert {"password", "iloveyou", "qwertyuiop", "jennifer", "p@ssw0rd"} <= COMMON.entries
    assert len(COMMON.entries) > 40_000
    data = resources.files("dashcore.domain") / "data" / "common-passwords.txt.gz"
    assert len(data.read_bytes()) < 300_000
    assert "entries" not in repr(COMMON)


# ------------------------------------------------------------------ no truncation (b.3)


async def test_passwords_sharing_a_72_byte_prefix_hash_differently() -> None:
    prefix = "gravel lantern orbit " * 4
    first = POLICY.check((prefix + "a" * 100)[:100])
    second = POLICY.check((prefix + "b" * 100)[:100])
    assert len(first) == len(second) == 100
    assert first.encode()[:72] == second.encode()[:72]

    hasher = LibpassHasher(CHEAPEST, allow_weak=True)
    stored = await hasher.hash(first)
    assert (await hasher.verify(first, stored)).valid
    assert not (await hasher.verify(second, stored)).valid
