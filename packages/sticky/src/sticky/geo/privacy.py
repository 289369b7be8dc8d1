"""Anonymizing IP addresses, so what Sticky stores cannot single out one device.

IPv4 keeps its /24 (the last octet becomes 0); IPv6 keeps its /48 (the last 80 bits become
0), the same truncation analytics tools use for city-level location without personal data.
The rule itself is the kernel's, shared with the api, which applies it before a tap's event
is written.
"""

from __future__ import annotations

from sticky.geo.addresses import parse_address
from sticky.kernel import privacy


def anonymize_ip(ip: str) -> str:
    """``ip`` with its host part zeroed: ``203.0.113.7`` -> ``203.0.113.0``,
    ``2001:db8:85a3:8d3:1319:8a2e:370:7348`` -> ``2001:db8:85a3::``.

    An IPv4-mapped IPv6 address is anonymized as the IPv4 address it maps. Raises
    :class:`~sticky.geo.errors.InvalidAddress` (a ``ValueError``) for anything that is not
    an address.
    """
    return privacy.anonymize_ip(str(parse_address(ip)))
