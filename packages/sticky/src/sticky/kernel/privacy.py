"""Addresses made anonymous before anything is written: city-level, never a person."""

from __future__ import annotations

import ipaddress


def anonymize_ip(address: str) -> str:
    """Drop the last octet of IPv4 (``a.b.c.0``) and the last 80 bits of IPv6 (keep /48).

    Raises ``ValueError`` for text that is not an IP address.
    """
    text = address.strip()
    octets = text.split(".")
    if len(octets) == 4 and all(_is_octet(o) for o in octets):
        # Dotted IPv4, the tap's usual case, without ipaddress's objects (a tap's hot path).
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    ip = ipaddress.ip_address(text)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(network.network_address)


def _is_octet(text: str) -> bool:
    """What ipaddress accepts as one IPv4 octet: 0-255 in ASCII digits, no leading zero."""
    return (
        0 < len(text) <= 3
        and text.isascii()
        and text.isdigit()
        and (text == "0" or text[0] != "0")
        and int(text) <= 255
    )
