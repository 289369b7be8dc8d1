"""Parsing IP addresses, and telling the public ones from those no database can place."""

from __future__ import annotations

import ipaddress

from sticky.geo.errors import InvalidAddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Longer than any address, even IPv6 with a zone; refuses huge inputs before parsing them.
MAX_ADDRESS_LENGTH = 64


def parse_address(text: str) -> Address:
    """The address ``text`` names, without its IPv6 zone, IPv4-mapped IPv6 as IPv4.

    Raises :class:`InvalidAddress` for anything else (names, networks, surrounding spaces).
    """
    if len(text) > MAX_ADDRESS_LENGTH or text != text.strip():
        raise InvalidAddress(text[:MAX_ADDRESS_LENGTH])
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidAddress(text) from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(int(address))
    return address


def unroutable_reason(address: Address) -> str | None:
    """Why ``address`` has no place on the map (``loopback``, ``private``...), or None."""
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private or not address.is_global:
        return "private"
    return None
