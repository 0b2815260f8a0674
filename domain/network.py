"""Where a request came from: the client's address behind trusted proxies, anonymized before any use.

The full address lives only in the request that carries it. ``client_address``
finds it, ``anonymize_ip`` cuts it to its network at once, and only that
network (and the ``Geo`` looked up for it) goes any further.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Final, TypeAlias

import msgspec

from domain.errors import DomainError

__all__ = [
    "Geo",
    "InvalidAddress",
    "ProxyNetwork",
    "anonymize_ip",
    "client_address",
    "is_trusted_proxy",
    "parse_trusted_proxies",
]

ProxyNetwork: TypeAlias = IPv4Network | IPv6Network
_IPAddress: TypeAlias = IPv4Address | IPv6Address

# As Google Analytics and Matomo do: a /24 is a street or an ISP's pool, a /48
# a whole site, and both still place the client in its country and region.
IPV4_KEPT_BITS: Final = 24
IPV6_KEPT_BITS: Final = 48
# A 6to4 address (2002::/16) carries the client's IPv4 address in bits 16-48,
# so a /48 would keep all of it; keep its first 24 bits, as for IPv4.
SIXTOFOUR_KEPT_BITS: Final = 16 + IPV4_KEPT_BITS
_SHOWN_CHARS: Final = 64


class InvalidAddress(DomainError):
    """A value that should be an IP address is not one (e.g. ``unknown`` or ``1.2.3.4:80``)."""


class Geo(msgspec.Struct, frozen=True, kw_only=True):
    """Where an anonymized address is, as far as a geo database knows.

    ``country`` is the ISO 3166-1 alpha-2 code (``DE``); ``region`` the first
    subdivision's ISO 3166-2 code without the country prefix (``BE`` for
    Berlin), or None when the database has none.
    """

    country: str
    region: str | None


def anonymize_ip(address: str) -> str:
    """The network of ``address`` with the host part zeroed: IPv4 keeps its /24, IPv6 its /48.

    ``203.0.113.77`` becomes ``203.0.113.0`` and ``2001:db8:abcd:1234::1``
    becomes ``2001:db8:abcd::``. An IPv4-mapped IPv6 address (``::ffff:1.2.3.4``,
    as a dual-stack socket reports IPv4 clients) is anonymized and returned as
    IPv4; a 6to4 address keeps only the first 24 bits of the IPv4 address it
    embeds. A zone (``%eth0``) is dropped. Raises ``InvalidAddress`` for
    anything that is not an IP address.
    """
    ip = _parse(address)
    if ip is None:
        raise InvalidAddress(f"not an IP address: {address[:_SHOWN_CHARS]!r}")
    if isinstance(ip, IPv4Address):
        return str(_network(ip, IPV4_KEPT_BITS))
    kept = SIXTOFOUR_KEPT_BITS if ip.sixtofour is not None else IPV6_KEPT_BITS
    return str(_network(ip, kept))


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[ProxyNetwork]) -> str | None:
    """The full address of the client: the connecting ``peer``, or what trusted proxies say it was.

    ``X-Forwarded-For`` is read only when the peer itself is inside one of
    ``trusted_proxies``; from any other peer the header is ignored, because
    whoever connects can write anything in it. The header is walked from the
    right (each proxy appends the address it saw): addresses of trusted proxies
    are skipped and the first untrusted one is the client. Entries further left
    were written by the client or untrusted hops and are never read, so a
    spoofed left-most entry changes nothing.

    When the walk meets an entry that is not a bare IP address (``unknown``, an
    obfuscated name, ``1.2.3.4:80``, an empty entry), it stops: nothing to its
    left can be trusted, so the answer is the last trusted hop reached, which
    is the peer itself when the right-most entry is unparsable. When every entry
    is a trusted proxy, the answer is the left-most one, the furthest hop known.

    Returns the address in normal form, IPv4-mapped IPv6 as IPv4 (``::ffff:1.2.3.4``
    → ``1.2.3.4``); the caller anonymizes it at once. None when there is no peer
    or the peer is not an IP address (a Unix socket, a test client's name).
    Trusted networks are compared with the IPv4 form of mapped addresses, so
    list IPv4 proxies as IPv4 networks.
    """
    hop = _parse(peer) if peer is not None else None
    if hop is None:
        return None
    if forwarded_for is None or not _is_trusted(hop, trusted_proxies):
        return str(hop)
    for entry in reversed(forwarded_for.split(",")):
        forwarded = _parse(entry.strip())
        if forwarded is None:
            break
        hop = forwarded
        if not _is_trusted(hop, trusted_proxies):
            break
    return str(hop)


def is_trusted_proxy(peer: str | None, trusted_proxies: Sequence[ProxyNetwork]) -> bool:
    """Whether the connecting ``peer`` is one of ``trusted_proxies``, whose forwarding headers are believed."""
    hop = _parse(peer) if peer is not None else None
    return hop is not None and _is_trusted(hop, trusted_proxies)


def parse_trusted_proxies(value: str) -> tuple[ProxyNetwork, ...]:
    """The networks of a comma-separated setting such as ``10.0.0.0/8, 127.0.0.1, fd00::/8``.

    A bare address stands for itself (a /32 or /128). Blank entries are
    skipped, so an empty value trusts no proxy. Raises ``ValueError`` naming
    the first entry that is not an address or network, including a network
    with host bits set (``10.0.0.1/8``), which is almost always a typo.
    """
    networks: list[ProxyNetwork] = []
    for raw in value.split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as e:
            raise ValueError(
                f"trusted proxy {entry!r} is not an IP address or network (such as 10.0.0.0/8 or 127.0.0.1): {e}"
            ) from None
    return tuple(networks)


def _parse(address: str) -> _IPAddress | None:
    """The address, IPv4-mapped IPv6 as IPv4 and without a zone; None if it is not an address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        # Rebuilt from its integer value, which drops the zone (fe80::1%eth0).
        return IPv6Address(int(ip))
    return ip


def _network(ip: _IPAddress, kept_bits: int) -> IPv4Address | IPv6Address:
    return ipaddress.ip_network(f"{ip}/{kept_bits}", strict=False).network_address


def _is_trusted(ip: _IPAddress, trusted_proxies: Sequence[ProxyNetwork]) -> bool:
    return any(ip in network for network in trusted_proxies)
