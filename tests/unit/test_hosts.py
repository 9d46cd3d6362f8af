from __future__ import annotations

import pytest

from dashcore.domain.hosts import is_loopback_host


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.8.9.10", "::1"])
def test_this_machine_is_loopback(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", [None, "", "example.org", "10.0.0.1", "192.168.1.1", "localhost.example.org", "fe80::1"]
)
def test_anything_else_is_not(host: str | None) -> None:
    assert not is_loopback_host(host)
