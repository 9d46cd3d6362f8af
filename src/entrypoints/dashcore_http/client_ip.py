"""The client IP used for rate limits and audit (security.md LOCK-2, b.3, b.8).

Rules:
- The client is the ASGI peer (``scope["client"]``) unless that peer is a *trusted proxy*
  (``DASHCORE_TRUSTED_PROXIES``: addresses or CIDRs). Only then is ``X-Forwarded-For`` read, and
  from the right: each trusted proxy appends the address it saw, so the right-most address that
  is *not* a trusted proxy is the client. Everything left of it was written by the client and
  is ignored; a client never chooses its own bucket by sending the header.
- All ``X-Forwarded-For`` fields of a request are read as one list, in order.
- A hop that is not an IP address (garbage, ``unknown``, an obfuscated identifier) stops the
  walk: the client is the last address known for sure, i.e. the nearest proxy. That fails
  closed: such requests share the proxy's bucket rather than a bucket the client could vary.
  Ports (``1.2.3.4:80``, ``[2001:db8::1]:443``) and brackets are accepted and dropped.
- When every hop is a trusted proxy, the client is the left-most one.
- IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) are their IPv4 address.
- A peer that is not an IP address (a Unix socket, a test client's name) has no IP: ``None``.

For rate limiting, :func:`rate_limit_bucket` groups IPv6 addresses by their /64 (one
subscriber usually holds a whole /64 and can rotate inside it for free); IPv4 addresses are
their own bucket; requests without an IP share the bucket ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Final

from litestar.types import Scope

__all__ = ["IPAddress", "TrustedProxies", "parse_ip", "rate_limit_bucket"]

IPAddress = IPv4Address | IPv6Address
_UNKNOWN: Final = "unknown"
_IPV6_BUCKET_PREFIX: Final = 64


def parse_ip(text: str) -> IPAddress | None:
    """An address from a peer or a forwarded hop, or ``None`` when it is not one."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def rate_limit_bucket(address: IPAddress | None) -> str:
    """The rate-limit key of an address: IPv4 as is, IPv6 by its /64, no address ``unknown``."""
    if address is None:
        return _UNKNOWN
    if isinstance(address, IPv6Address):
        return str(IPv6Network((address, _IPV6_BUCKET_PREFIX), strict=False))
    return str(address)


class TrustedProxies:
    """Resolves the client address of a request given the proxies trusted to forward it."""

    def __init__(self, networks: Iterable[str] = ()) -> None:
        """``networks`` are addresses or CIDRs (``10.0.0.0/8``, ``2001:db8::/32``, ``127.0.0.1``).

        Raises ``ValueError`` naming the first entry that is neither.
        """
        parsed: list[IPv4Network | IPv6Network] = []
        for entry in networks:
            try:
                parsed.append(ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"not an IP address or CIDR: {entry!r}") from exc
        self._networks: Final = tuple(parsed)

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)

    def resolve(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> IPAddress | None:
        """The client address for a connection from ``peer`` carrying ``forwarded_for`` fields."""
        client = parse_ip(peer) if peer is not None else None
        if client is None or not self.trusts(client):
            return client
        hops = [hop for field in forwarded_for for hop in field.split(",")]
        for hop in reversed(hops):
            address = parse_ip(hop)
            if address is None:
                return client
            client = address
            if not self.trusts(address):
                return address
        return client

    def client_ip(self, scope: Scope) -> IPAddress | None:
        """:meth:`resolve` on an ASGI scope."""
        peer = scope.get("client")
        if not self._networks:
            return parse_ip(peer[0]) if peer else None
        forwarded = [
            value.decode("latin-1")
            for name, value in scope["headers"]
            if name == b"x-forwarded-for"
        ]
        return self.resolve(peer[0] if peer else None, forwarded)
