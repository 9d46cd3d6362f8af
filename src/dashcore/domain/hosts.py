"""Hosts a URL may name, as far as a rule about the network needs to know."""

from __future__ import annotations

from ipaddress import ip_address

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str | None) -> bool:
    """Whether ``host`` (a URL's host name, ``None`` when it has none) is this machine:
    ``localhost`` or a loopback address. Plain http to such a host never crosses a network,
    which is when dashcore accepts it for an outbound service (a simulator or a stand-in
    several processes share)."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
