"""Ports made ahead of a server, for day-0 tokens the VIM only knows once a port exists.

ESC fills ``NICID_n_IP_ADDRESS`` of an interface without a fixed address (and ``NICID_n_MAC_ADDRESS`` of
any interface) because it creates the Neutron ports before the server.  The core does the same, but only
for an interface whose token a template of the VM refers to: it asks the VIM for a port
(``create_port``), records the port's id, address and MAC in the VM's interface (saved at once, so a
restart plugs the same port instead of making another), and the server is created on that port.  Nova
leaves such a port when the server goes, so a recovery's redeploy plugs it again (same address, same
MAC: the rendered day-0 files stay true) and removing the VM deletes it (``release_ports``).

A ``kill -9`` between the VIM's answer to ``create_port`` and the write of the VM record leaves that one
port unused in the VIM (named ``<vm name>_nic<n>`` so an operator can find it); nothing else is lost.
"""

from __future__ import annotations

from collections.abc import Collection

from esc_netconf.core.context import CoreContext
from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.model import VmRecord
from esc_netconf.vim.base import VimError, VimNotFound


def _needs_port(nicid: int, known_ip: bool, names: Collection[str]) -> bool:
    ip_tokens = {f"NICID_{nicid}_IP_ADDRESS", f"NICID_{nicid}_IPV6_IP_ADDRESS"}
    return f"NICID_{nicid}_MAC_ADDRESS" in names or (not known_ip and bool(ip_tokens & set(names)))


async def reserve_ports(ctx: CoreContext, vm: VmRecord, names: Collection[str]) -> None:
    """Make a port for each interface whose address or MAC the templates (``names``) need and nobody knows.

    :raises VimOperationFailed: the VIM refused a port (e.g. the subnet is full, the fixed IP is taken).
    """
    tenant = await ctx.ensure_tenant(vm.tenant)
    for nic in vm.interfaces:
        if nic.reserved_port or not _needs_port(nic.nicid, nic.ip_address is not None, names):
            continue
        try:
            port = await ctx.driver.create_port(project_id=tenant.project_id, network=nic.network,
                                                name=f"{vm.name}_nic{nic.nicid}", fixed_ip=nic.ip_address)
        except VimError as exc:
            raise VimOperationFailed(exc.message) from exc
        nic.port_id, nic.ip_address, nic.mac_address, nic.reserved_port = port.id, port.fixed_ip, port.mac, True
        ctx.save_vm(vm)


async def release_ports(ctx: CoreContext, vm: VmRecord) -> None:
    """Delete the ports made ahead for the VM (its server is gone); a port already gone is fine.

    :raises VimOperationFailed: the VIM refused to delete one.
    """
    for nic in vm.interfaces:
        if not nic.reserved_port or nic.port_id is None:
            continue
        try:
            await ctx.driver.delete_port(nic.port_id)
        except VimNotFound:
            pass
        except VimError as exc:
            raise VimOperationFailed(exc.message) from exc
        nic.reserved_port, nic.port_id = False, None
        ctx.save_vm(vm)
