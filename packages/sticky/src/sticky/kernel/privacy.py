"""Addresses made anonymous before anything is written: city-level, never a person."""

from __future__ import annotations

import ipaddress


def anonymize_ip(address: str) -> str:
    """Drop the last octet of IPv4 (``a.b.c.0``) and the last 80 bits of IPv6 (keep /48).

    Raises ``ValueError`` for text that is not an IP address.
    """
    ip = ipaddress.ip_address(address.strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    network = ipaddress.ip_network(f"{ip}/{prefix}", strict=False)
    return str(network.network_address)
