"""Which IP addresses the service may connect to on a user's say-so (a webhook's target, a
URL to fetch): only globally reachable ones, and a host only when every address it resolves
to is one.

The blocks below are written out from the IANA registries, with their names: the IPv4 and
IPv6 Special-Purpose Address Registries (rows whose "Globally Reachable" is False or N/A),
IPv4 multicast, and every part of the IPv6 Address Space Registry outside 2000::/3, Global
Unicast (site-local fec0::/10, deprecated, among them). Python's `is_global` alone is not
enough: it takes fec0::1 for global. An address falls in its most specific block.

Three IPv6 forms carry an IPv4 address that a connection reaches: IPv4-mapped
(::ffff:0:0/96), NAT64 (64:ff9b::/96) and 6to4 (2002::/16); each is judged as the IPv4 it
carries. Teredo (2001::/32) is refused whole: it reaches its client through a relay, and no
service worth calling lives there. So are the few anycast service addresses the registries
mark globally reachable inside a refused block (PCP and TURN anycast 192.0.0.9 and .10,
2001:1::1-3, AMT 2001:3::/32, AS112 2001:4:112::/48, ORCHIDv2, DETs): none is a web server.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

IPAddress = IPv4Address | IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

RESOLVE_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Block:
    network: IPv4Network | IPv6Network
    name: str  # the registry's

    def __str__(self) -> str:
        return f"{self.name}, {self.network}"


def _blocks(*rows: tuple[str, str]) -> tuple[Block, ...]:
    """Most specific first, so the first block holding an address is the one it falls in."""
    blocks = (Block(ip_network(network), name) for network, name in rows)
    return tuple(sorted(blocks, key=lambda block: -block.network.prefixlen))


NOT_GLOBAL = _blocks(
    # IPv4 Special-Purpose Address Registry (RFC 6890 and updates)
    ("0.0.0.0/8", '"This network"'),
    ("0.0.0.0/32", '"This host on this network"'),
    ("10.0.0.0/8", "Private-Use"),
    ("100.64.0.0/10", "Shared Address Space"),
    ("127.0.0.0/8", "Loopback"),
    ("169.254.0.0/16", "Link Local"),
    ("172.16.0.0/12", "Private-Use"),
    ("192.0.0.0/24", "IETF Protocol Assignments"),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix"),
    ("192.0.0.8/32", "IPv4 dummy address"),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery"),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery"),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)"),
    ("192.168.0.0/16", "Private-Use"),
    ("198.18.0.0/15", "Benchmarking"),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)"),
    ("240.0.0.0/4", "Reserved"),
    ("255.255.255.255/32", "Limited Broadcast"),
    # IPv4 Address Space Registry
    ("224.0.0.0/4", "Multicast"),
    # IPv6 Special-Purpose Address Registry (RFC 6890 and updates)
    ("::/128", "Unspecified Address"),
    ("::1/128", "Loopback Address"),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local-use)"),
    ("100::/64", "Discard-Only Address Block"),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix"),
    ("2001::/23", "IETF Protocol Assignments"),
    ("2001::/32", "TEREDO"),
    ("2001:2::/48", "Benchmarking"),
    ("2001:10::/28", "Deprecated (previously ORCHID)"),
    ("2001:db8::/32", "Documentation"),
    ("3fff::/20", "Documentation"),
    ("5f00::/16", "Segment Routing (SRv6) SIDs"),
    ("fc00::/7", "Unique-Local"),
    ("fe80::/10", "Link-Local Unicast"),
    # IPv6 Address Space Registry: all but 2000::/3, Global Unicast
    ("::/8", "Reserved by IETF"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("100::/8", "Reserved by IETF"),
    ("200::/7", "Reserved by IETF"),
    ("400::/6", "Reserved by IETF"),
    ("800::/5", "Reserved by IETF"),
    ("1000::/4", "Reserved by IETF"),
    ("4000::/3", "Reserved by IETF"),
    ("6000::/3", "Reserved by IETF"),
    ("8000::/3", "Reserved by IETF"),
    ("a000::/3", "Reserved by IETF"),
    ("c000::/3", "Reserved by IETF"),
    ("e000::/4", "Reserved by IETF"),
    ("f000::/5", "Reserved by IETF"),
    ("f800::/6", "Reserved by IETF"),
    ("fe00::/9", "Reserved by IETF"),
    ("fec0::/10", "Site-Local (deprecated)"),
    ("ff00::/8", "Multicast"),
)


@dataclass(frozen=True)
class Carrier:
    """An IPv6 block whose addresses carry an IPv4 one, `shift` bits from the right."""

    network: IPv6Network
    name: str
    shift: int

    def carried(self, address: IPv6Address) -> IPv4Address:
        return IPv4Address((int(address) >> self.shift) & 0xFFFF_FFFF)


CARRIERS = (
    Carrier(IPv6Network("::ffff:0:0/96"), "IPv4-mapped Address", 0),
    Carrier(IPv6Network("64:ff9b::/96"), "IPv4-IPv6 Translat.", 0),
    Carrier(IPv6Network("2002::/16"), "6to4", 80),
)


def not_global(address: IPAddress) -> str | None:
    """Why `address` is not globally reachable, in the registries' words ("Loopback,
    127.0.0.0/8"); None when it is."""
    if isinstance(address, IPv6Address):
        for carrier in CARRIERS:
            if address in carrier.network:
                carried = carrier.carried(address)
                why = not_global(carried)
                return None if why is None else f"{carrier.name} of {carried}: {why}"
    block = next((block for block in NOT_GLOBAL if address in block.network), None)
    return None if block is None else str(block)


class AddressRefused(Exception):
    """The host resolves to an address that is not globally reachable."""

    def __init__(self, host: str, address: IPAddress, why: str) -> None:
        super().__init__(f"{host} resolves to {address}, which is not globally reachable ({why})")
        self.host = host
        self.address = address


def check_addresses(host: str, addresses: Iterable[IPAddress]) -> None:
    """Raise `AddressRefused` unless every one of the host's addresses is globally reachable:
    one inside among public ones is enough for a resolver that rotates them to reach in."""
    for address in addresses:
        why = not_global(address)
        if why is not None:
            raise AddressRefused(host, address, why)


class Unresolvable(Exception):
    """The host has no address (or the resolver did not answer in time)."""


async def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Every address of `host`, in the resolver's order, within RESOLVE_TIMEOUT_SECONDS. An
    address literal is its own answer (with its zone, if any, which the resolver may not know);
    other numeric spellings (2130706433, 0x7f.1) are the resolver's to read."""
    try:
        return [ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise Unresolvable(host) from exc
    addresses = list(dict.fromkeys(ip_address(str(info[4][0])) for info in infos))
    if not addresses:
        raise Unresolvable(host)
    return addresses
