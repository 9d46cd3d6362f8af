"""The client IP for limits and audit: only a trusted proxy may name it (LOCK-2, b.3, b.8)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

import pytest
from hypothesis import given
from hypothesis import strategies as st
from litestar.types import Scope

from dashcore_http.client_ip import TrustedProxies, parse_ip, rate_limit_bucket

PROXIES = TrustedProxies(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.10"])
CLIENT = "198.51.100.7"


def _scope(peer: tuple[str, int] | None, *forwarded: bytes) -> Scope:
    return {  # type: ignore[return-value]
        "type": "http",
        "client": peer,
        "headers": [(b"host", b"api"), *((b"x-forwarded-for", value) for value in forwarded)],
    }


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert PROXIES.resolve(CLIENT, ["1.2.3.4"]) == ip_address(CLIENT)
    assert PROXIES.resolve(CLIENT, ["10.0.0.1"]) == ip_address(CLIENT)


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    scope = _scope((CLIENT, 5000), b"1.2.3.4")
    assert TrustedProxies().client_ip(scope) == ip_address(CLIENT)


def test_a_trusted_peer_names_the_client() -> None:
    assert PROXIES.resolve("10.1.2.3", [CLIENT]) == ip_address(CLIENT)


def test_the_right_most_untrusted_hop_wins_over_client_chosen_ones() -> None:
    # The client sent "1.2.3.4, 5.6.7.8"; the edge proxy appended the client's real address,
    # an inner proxy appended the edge proxy's.
    forwarded = ["1.2.3.4, 5.6.7.8", f"{CLIENT}, 10.9.9.9"]
    assert PROXIES.resolve("10.0.0.2", forwarded) == ip_address(CLIENT)
    scope = _scope(("10.0.0.2", 443), b"1.2.3.4, 5.6.7.8", f"{CLIENT}, 10.9.9.9".encode())
    assert PROXIES.client_ip(scope) == ip_address(CLIENT)


def test_when_every_hop_is_trusted_the_left_most_is_the_client() -> None:
    assert PROXIES.resolve("10.0.0.2", ["10.0.0.5, 192.0.2.10"]) == ip_address("10.0.0.5")
    assert PROXIES.resolve("10.0.0.2", []) == ip_address("10.0.0.2")


@pytest.mark.parametrize(
    "garbage",
    ["unknown", "", "   ", "_hidden", "1.2.3.999", "999.1.1.1:80", "[::1", "a, , b", "\x00", "é"],
)
def test_a_garbage_hop_stops_at_the_nearest_known_address(garbage: str) -> None:
    assert PROXIES.resolve("10.0.0.2", [f"1.2.3.4, {garbage}"]) == ip_address("10.0.0.2")
    assert PROXIES.resolve("10.0.0.2", [f"1.2.3.4, {garbage}, 10.0.0.7"]) == ip_address("10.0.0.7")


def test_garbage_bytes_in_the_header_do_not_raise() -> None:
    scope = _scope(("10.0.0.2", 443), b"\xff\xfe\x00garbage", b"1.2.3.4")
    assert PROXIES.client_ip(scope) == ip_address("1.2.3.4")
    scope = _scope(("10.0.0.2", 443), b"\xff\xfe\x00garbage")
    assert PROXIES.client_ip(scope) == ip_address("10.0.0.2")


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("198.51.100.7:8080", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        (" 2001:DB8::1 ", "2001:db8::1"),
        ("::ffff:198.51.100.7", "198.51.100.7"),
    ],
)
def test_ports_brackets_and_mapped_addresses(hop: str, address: str) -> None:
    assert parse_ip(hop) == ip_address(address)
    assert PROXIES.resolve("10.0.0.2", [hop]) == ip_address(address)


def test_ipv6_proxies_and_clients() -> None:
    assert PROXIES.resolve("2001:db8:ffff::1", ["2001:db8:1::5"]) == ip_address("2001:db8:1::5")
    assert PROXIES.resolve("2001:db8:fffe::1", ["2001:db8:1::5"]) == ip_address("2001:db8:fffe::1")


def test_a_peer_that_is_not_an_ip_has_no_address() -> None:
    assert PROXIES.client_ip(_scope(None, b"1.2.3.4")) is None
    assert PROXIES.client_ip(_scope(("testclient", 50000), b"1.2.3.4")) is None
    assert PROXIES.resolve(None, ["1.2.3.4"]) is None


def test_a_bad_trusted_proxy_entry_is_named() -> None:
    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33'"):
        TrustedProxies(["10.0.0.0/8", "10.0.0.0/33"])
    with pytest.raises(ValueError, match=r"'proxy\.internal'"):
        TrustedProxies(["proxy.internal"])


def test_buckets() -> None:
    assert rate_limit_bucket(ip_address("198.51.100.7")) == "198.51.100.7"
    assert rate_limit_bucket(ip_address("2001:db8:1:2:3:4:5:6")) == "2001:db8:1:2::/64"
    assert rate_limit_bucket(None) == "unknown"


ipv6 = st.integers(min_value=0, max_value=2**128 - 1).map(IPv6Address)
ipv4 = st.integers(min_value=0, max_value=2**32 - 1).map(IPv4Address)


@given(ipv6, st.integers(min_value=0, max_value=2**64 - 1))
def test_every_address_of_a_64_shares_one_bucket(address: IPv6Address, host: int) -> None:
    network = int(address) >> 64 << 64
    rotated = IPv6Address(network | host)
    if address.ipv4_mapped is None and rotated.ipv4_mapped is None:
        assert rate_limit_bucket(rotated) == rate_limit_bucket(address)


@given(ipv6, ipv6)
def test_different_64s_get_different_buckets(first: IPv6Address, second: IPv6Address) -> None:
    if int(first) >> 64 != int(second) >> 64:
        assert rate_limit_bucket(first) != rate_limit_bucket(second)


@given(ipv4, st.lists(st.one_of(ipv4.map(str), ipv6.map(str), st.text()), max_size=5))
def test_an_untrusted_peer_can_never_choose_its_address(
    peer: IPv4Address, forwarded: list[str]
) -> None:
    if not PROXIES.trusts(peer):
        assert PROXIES.resolve(str(peer), [", ".join(forwarded)]) == peer


@given(st.lists(st.sampled_from(["10.0.0.1", "10.2.3.4", "192.0.2.10"]), max_size=4), ipv4)
def test_through_trusted_proxies_the_client_is_found(chain: list[str], client: IPv4Address) -> None:
    if not PROXIES.trusts(client):
        forwarded = ", ".join(["1.2.3.4", str(client), *chain])
        assert PROXIES.resolve("10.0.0.1", [forwarded]) == client
