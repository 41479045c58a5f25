"""Which addresses the service may connect to on a user's say-so: only the globally reachable
ones, as the IANA special-purpose registries have them, in every spelling."""

from ipaddress import ip_address

import pytest

from shared.addresses import (
    NOT_GLOBAL,
    AddressRefused,
    check_addresses,
    not_global,
    resolve_host,
)

REFUSED = [
    # IPv4
    ("0.0.0.0", '"This host on this network"'),
    ("0.1.2.3", '"This network"'),
    ("10.0.0.1", "Private-Use"),
    ("100.64.0.1", "Shared Address Space"),
    ("127.0.0.1", "Loopback"),
    ("127.8.9.10", "Loopback"),
    ("169.254.169.254", "Link Local"),  # cloud metadata
    ("172.31.255.255", "Private-Use"),
    ("192.0.0.8", "IPv4 dummy address"),
    ("192.0.0.9", "IETF Protocol Assignments"),  # PCP anycast: no web server
    ("192.0.0.170", "NAT64/DNS64 Discovery"),
    ("192.0.2.1", "Documentation (TEST-NET-1)"),
    ("192.88.99.1", "Deprecated (6to4 Relay Anycast)"),
    ("192.168.1.1", "Private-Use"),
    ("198.18.0.1", "Benchmarking"),
    ("198.51.100.7", "Documentation (TEST-NET-2)"),
    ("203.0.113.9", "Documentation (TEST-NET-3)"),
    ("224.0.0.251", "Multicast"),
    ("239.255.255.250", "Multicast"),
    ("240.0.0.1", "Reserved"),
    ("255.255.255.255", "Limited Broadcast"),
    # IPv6
    ("::", "Unspecified Address"),
    ("::1", "Loopback Address"),
    ("::127.0.0.1", "IPv4-compatible (deprecated)"),
    ("::8.8.8.8", "IPv4-compatible (deprecated)"),
    ("::ffff:0:7f00:1", "Reserved by IETF"),  # IPv4-translated (SIIT)
    ("64:ff9b:1::a00:1", "IPv4-IPv6 Translat. (local-use)"),
    ("100::1", "Discard-Only Address Block"),
    ("2001::1", "TEREDO"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "TEREDO"),  # RFC 4380's example, public inside
    ("2001:2::1", "Benchmarking"),
    ("2001:10::1", "Deprecated (previously ORCHID)"),
    ("2001:1ff::1", "IETF Protocol Assignments"),
    ("2001:db8::1", "Documentation"),
    ("3fff::1", "Documentation"),
    ("5f00::1", "Segment Routing (SRv6) SIDs"),
    ("fc00::1", "Unique-Local"),
    ("fd12:3456:789a::1", "Unique-Local"),
    ("fe80::1", "Link-Local Unicast"),
    ("fe80::1%eth0", "Link-Local Unicast"),
    ("fe80::1%1", "Link-Local Unicast"),
    ("fec0::1", "Site-Local (deprecated)"),  # Python's is_global says global
    ("feff::1", "Site-Local (deprecated)"),
    ("ff02::1", "Multicast"),
    ("ff05::1:3", "Multicast"),
    ("4000::1", "Reserved by IETF"),
    ("e000::1", "Reserved by IETF"),
    # IPv4 inside IPv6, judged as the IPv4 it carries
    ("::ffff:127.0.0.1", "IPv4-mapped Address of 127.0.0.1: Loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped Address of 169.254.169.254: Link Local"),
    ("::ffff:100.64.0.1", "IPv4-mapped Address of 100.64.0.1: Shared Address Space"),
    ("64:ff9b::10.0.0.1", "IPv4-IPv6 Translat. of 10.0.0.1: Private-Use"),
    ("64:ff9b::7f00:1", "IPv4-IPv6 Translat. of 127.0.0.1: Loopback"),
    ("2002:0a00:0001::", "6to4 of 10.0.0.1: Private-Use"),
    ("2002:c0a8:101::1", "6to4 of 192.168.1.1: Private-Use"),
    ("2002:a9fe:a9fe::", "6to4 of 169.254.169.254: Link Local"),
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below the shared space
    "100.128.0.0",  # just above it
    "192.31.196.1",  # AS112, globally reachable
    "223.255.255.255",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",
    "64:ff9b::8.8.8.8",  # NAT64 to a public address
    "2002:808:808::1",  # 6to4 around 8.8.8.8
]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_an_address_that_is_not_globally_reachable_is_refused_naming_its_block(
    address: str, why: str
) -> None:
    reason = not_global(ip_address(address))
    assert reason is not None
    assert reason.startswith(f"{why}, ")


@pytest.mark.parametrize("address", ALLOWED)
def test_a_globally_reachable_address_is_allowed(address: str) -> None:
    assert not_global(ip_address(address)) is None


def test_every_block_is_refused_from_its_first_to_its_last_address() -> None:
    for block in NOT_GLOBAL:
        for address in (block.network[0], block.network[-1]):
            assert not_global(address) is not None, block


def test_every_ipv6_address_outside_global_unicast_is_refused() -> None:
    """The IPv6 Address Space Registry's Global Unicast is 2000::/3: an address from each /8
    outside it is refused."""
    for first_byte in range(256):
        if first_byte >> 5 != 0b001:
            address = ip_address(f"{first_byte:02x}00::1")
            assert not_global(address) is not None, address


def test_a_host_is_refused_when_any_of_its_addresses_is_not_global() -> None:
    public = [ip_address("8.8.8.8"), ip_address("2606:4700::1111")]
    check_addresses("hooks.example.com", public)
    with pytest.raises(AddressRefused) as refused:
        check_addresses("hooks.example.com", [*public, ip_address("fec0::1")])
    assert str(refused.value) == (
        "hooks.example.com resolves to fec0::1, which is not globally reachable "
        "(Site-Local (deprecated), fec0::/10)"
    )


@pytest.mark.parametrize("spelling", ["2130706433", "0x7f.1", "0x7f000001", "127.1", "0177.0.0.1"])
async def test_numeric_spellings_of_an_ipv4_address_resolve_to_it(spelling: str) -> None:
    """What the URL parser takes for a host name, the resolver reads as 127.0.0.1; the guard
    judges what it resolves to, never the spelling."""
    assert await resolve_host(spelling, 443) == [ip_address("127.0.0.1")]


async def test_an_address_literal_with_a_zone_is_its_own_answer() -> None:
    (address,) = await resolve_host("fe80::1%25eth0", 443)
    assert not_global(address) == "Link-Local Unicast, fe80::/10"
