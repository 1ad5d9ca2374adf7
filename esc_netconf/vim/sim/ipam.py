"""Fixed-IP allocation on the simulated networks, as Neutron's IPAM does it.

A requested fixed IP must lie inside the subnet (not its network, broadcast or gateway address)
and be free, else the request fails with Neutron's conflict. Automatic allocation draws from a
pool that begins at the subnet's tenth address, leaving the first few for operators' static
plans (ESC's ``static_ip_address_pool``); it hands out the address after the highest one in use
and falls back to the lowest free one once the top of the subnet is reached.
"""

from __future__ import annotations

import hashlib
import ipaddress

from esc_netconf.vim.base import Network
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.catalog import subnet_of
from esc_netconf.vim.sim.store import SimStore

__all__ = ["allocate_ip", "mac_for_port"]

_POOL_OFFSET = 10


def allocate_ip(store: SimStore, network: Network, fixed_ip: str | None, server_id: str) -> str:
    """Reserve an address on ``network`` for ``server_id`` (inside the caller's transaction).

    :raises VimConflict: the fixed IP is outside the subnet or taken; the subnet is full.
    """
    subnet = subnet_of(network)
    net = ipaddress.IPv4Network(subnet.cidr)
    gateway = int(ipaddress.IPv4Address(subnet.gateway_ip)) if subnet.gateway_ip else None
    first, last = int(net.network_address) + 1, int(net.broadcast_address) - 1
    if fixed_ip is not None:
        try:
            wanted = int(ipaddress.IPv4Address(fixed_ip))
        except ValueError:
            raise messages.ip_not_in_subnet(fixed_ip) from None
        if not first <= wanted <= last:
            raise messages.ip_not_in_subnet(fixed_ip)
        if wanted == gateway or store.ip_in_use(network.id, wanted):
            raise messages.ip_already_allocated(fixed_ip, subnet.id)
        store.add_port(network.id, wanted, server_id)
        return fixed_ip
    pool_start = min(first + _POOL_OFFSET - 1, last)
    highest = store.highest_ip(network.id)
    candidate = pool_start if highest is None else max(pool_start, highest + 1)
    if candidate > last or candidate == gateway:
        used = store.used_ips(network.id)
        candidate = next((ip for ip in range(pool_start, last + 1) if ip not in used and ip != gateway), -1)
        if candidate < 0:
            raise messages.no_more_ips(network.id)
    store.add_port(network.id, candidate, server_id)
    return str(ipaddress.IPv4Address(candidate))


def mac_for_port(port_id: str) -> str:
    """A stable MAC with OpenStack's ``fa:16:3e`` prefix."""
    tail = hashlib.sha256(port_id.encode()).digest()[:3]
    return "fa:16:3e:" + ":".join(f"{byte:02x}" for byte in tail)
