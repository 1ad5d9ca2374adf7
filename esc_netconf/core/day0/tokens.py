"""ESC's built-in day-0 tokens, filled in from the VM's interfaces and the networks they are on.

For each interface ``n`` (its ``nicid``): ``NICID_n_IP_ADDRESS``, ``NICID_n_MAC_ADDRESS``,
``NICID_n_NETWORK_ID``, ``NICID_n_GATEWAY``, ``NICID_n_NETMASK``, ``NICID_n_CIDR_ADDRESS`` (the subnet's
network address) and ``NICID_n_CIDR_PREFIX`` (its prefix length); on an IPv6 subnet the same with
``IPV6_`` after the nic id (``NICID_n_IPV6_IP_ADDRESS`` ...).  The gateway and netmask of the group's
``static_ip_address_pool`` for that network win over the subnet's.  Besides ESC's tokens, ``VM_NAME``,
``VM_GROUP_NAME``, ``DEPLOYMENT_NAME`` and ``TENANT`` name the VM (a day-0 variable of the same name wins).

The server does not exist yet when its day-0 files are rendered: an address the VIM will pick (an
interface without ``ip_address`` or pool) and a MAC address are only known once a port exists.  For a
template that refers to them, ``payload`` first makes the port (``ports.reserve_ports``), which fills the
interface in; a token still unknown here is *unavailable*, with a sentence saying why, so a template using
it is refused rather than rendered with a hole.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from esc_netconf.core.model import VmGroupSpec, VmRecord
from esc_netconf.vim.base import Network, Subnet


def _subnet(network: Network | None, address: str | None) -> Subnet | None:
    if network is None or not network.subnets:
        return None
    if address is not None:
        try:
            ip = ipaddress.ip_address(address)
            for subnet in network.subnets:
                if ip in ipaddress.ip_network(subnet.cidr, strict=False):
                    return subnet
        except ValueError:
            pass
    return network.subnets[0]


def builtin_tokens(vm: VmRecord, group: VmGroupSpec,
                   networks: Mapping[str, Network]) -> tuple[dict[str, str], dict[str, str]]:
    """The tokens' values for ``vm``, and the tokens it cannot have yet with the reason for each."""
    values = {"VM_NAME": vm.name, "VM_GROUP_NAME": vm.group, "DEPLOYMENT_NAME": vm.deployment, "TENANT": vm.tenant}
    unavailable: dict[str, str] = {}
    pools = {p.network: p for p in group.scaling.static_ip_pools}
    for nic in vm.interfaces:
        network = networks.get(nic.network)
        subnet = _subnet(network, nic.ip_address)
        six = subnet is not None and ipaddress.ip_network(subnet.cidr, strict=False).version == 6
        prefix = f"NICID_{nic.nicid}_IPV6_" if six else f"NICID_{nic.nicid}_"
        if network is not None:
            values[f"NICID_{nic.nicid}_NETWORK_ID"] = network.id
        if subnet is not None:
            net = ipaddress.ip_network(subnet.cidr, strict=False)
            values[prefix + "CIDR_ADDRESS"] = str(net.network_address)
            values[prefix + "CIDR_PREFIX"] = str(net.prefixlen)
            values[prefix + "NETMASK"] = str(net.netmask)
            if subnet.gateway_ip:
                values[prefix + "GATEWAY"] = subnet.gateway_ip
        pool = pools.get(nic.network)
        if pool is not None and pool.gateway:
            values[prefix + "GATEWAY"] = pool.gateway
        if pool is not None and pool.netmask:
            values[prefix + "NETMASK"] = pool.netmask
        if nic.ip_address:
            values[prefix + "IP_ADDRESS"] = nic.ip_address
        else:
            unavailable[prefix + "IP_ADDRESS"] = (
                f"Token [{prefix}IP_ADDRESS] is only known once the VIM has created the port: give interface "
                f"[{nic.nicid}] an ip_address or a static_ip_address_pool.")
        if nic.mac_address:
            values[f"NICID_{nic.nicid}_MAC_ADDRESS"] = nic.mac_address
        else:
            unavailable[f"NICID_{nic.nicid}_MAC_ADDRESS"] = (
                f"Token [NICID_{nic.nicid}_MAC_ADDRESS] is only known once the VIM has created the port of "
                f"interface [{nic.nicid}].")
    return values, unavailable
