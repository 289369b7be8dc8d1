"""anonymize_ip: IPv4 keeps its /24, IPv6 its /48, nothing else survives."""

from __future__ import annotations

import pytest

from sticky.geo.errors import InvalidAddress
from sticky.geo.privacy import anonymize_ip


@pytest.mark.parametrize(
    ("ip", "anonymized"),
    [
        ("203.0.113.7", "203.0.113.0"),
        ("121.72.200.255", "121.72.200.0"),
        ("10.1.2.3", "10.1.2.0"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.0"),
        ("2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("2a02:8108:1234:ffff:ffff:ffff:ffff:ffff", "2a02:8108:1234::"),
        ("2A02:8108:ABCD::1", "2a02:8108:abcd::"),
        ("2001:db8::", "2001:db8::"),
        ("::1", "::"),
        ("fe80::1%eth0", "fe80::"),
        # An IPv4-mapped IPv6 address is the IPv4 address it maps.
        ("::ffff:192.0.2.128", "192.0.2.0"),
    ],
)
def test_anonymize_keeps_only_the_network(ip: str, anonymized: str) -> None:
    assert anonymize_ip(ip) == anonymized


def test_anonymizing_is_idempotent_and_merges_hosts() -> None:
    hosts = [f"198.51.100.{i}" for i in range(256)]
    assert {anonymize_ip(host) for host in hosts} == {"198.51.100.0"}
    assert anonymize_ip(anonymize_ip("2001:db8:1:2:3:4:5:6")) == "2001:db8:1::"
    # Hosts in different /48s stay apart.
    assert anonymize_ip("2001:db8:1::1") != anonymize_ip("2001:db8:2::1")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.com",
        "1.2.3",
        "1.2.3.256",
        "1.2.3.4/24",
        " 1.2.3.4",
        "1.2.3.4\n",
        "::g",
        "1" * 500,
    ],
)
def test_anonymize_refuses_what_is_not_an_address(text: str) -> None:
    with pytest.raises(InvalidAddress):
        anonymize_ip(text)
    with pytest.raises(ValueError, match="not an IPv4 or IPv6 address"):
        anonymize_ip(text)
