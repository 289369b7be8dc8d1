"""The kernel's anonymize_ip: its dotted-IPv4 fast path agrees with ipaddress on every input."""

from __future__ import annotations

import ipaddress

import pytest

from sticky.kernel.privacy import anonymize_ip


def by_ipaddress(text: str) -> str:
    ip = ipaddress.ip_address(text.strip())
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


@pytest.mark.parametrize(
    "text",
    [
        "203.0.113.7",
        "0.0.0.0",
        "255.255.255.255",
        " 10.1.2.3 ",
        "::ffff:192.0.2.128",
        "2001:db8::1",
    ],
)
def test_the_fast_path_gives_what_ipaddress_gives(text: str) -> None:
    assert anonymize_ip(text) == by_ipaddress(text)


@pytest.mark.parametrize(
    "text",
    ["01.2.3.4", "1.2.3.04", "1.2.3.256", "1.2.3.-1", "1.2.3.", "1.2.3.٣", "1.2.3.+4", "1..3.4"],
)
def test_what_ipaddress_refuses_the_fast_path_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        by_ipaddress(text)
    with pytest.raises(ValueError):
        anonymize_ip(text)
