"""Simulated Neutron ports made ahead of a server (``create_port``), plugged into it at creation.

Ports Nova makes itself live in the server's ``addresses`` and the ``ports`` allocation table only.  A port
made ahead is a document of its own: its address is allocated to the port (owner = the port id), so
deleting the server leaves it, unplugged, as Neutron does with a port the user created; ``delete_port``
frees the address.
"""

from __future__ import annotations

import uuid
from typing import Any

from esc_netconf.vim.base import Port
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.catalog import find_network, subnet_of
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.ipam import allocate_ip, mac_for_port
from esc_netconf.vim.sim.store import Kind
from esc_netconf.vim.sim.timeline import GONE

__all__ = ["create_port", "delete_port", "plug", "unplug"]


def _port(fields: dict[str, Any]) -> Port:
    return Port(id=fields["id"], network_id=fields["network_id"], fixed_ip=fields["fixed_ip"], mac=fields["mac"])


def create_port(req: Request, *, project_id: str, network: str, name: str, fixed_ip: str | None) -> Port:
    resolved = find_network(network)
    port_id = str(uuid.uuid4())
    address = allocate_ip(req.store, resolved, fixed_ip, port_id)
    fields = {"id": port_id, "name": name, "project_id": project_id, "network": resolved.name,
              "network_id": resolved.id, "fixed_ip": address, "mac": mac_for_port(port_id), "device_id": None}
    return _port(req.new(Kind.PORT, fields).view(req.now))


def delete_port(req: Request, port_id: str) -> None:
    timeline = req.load(Kind.PORT, port_id, messages.port_not_found)
    timeline.replace_future(req.now, (req.now, {GONE: True}))
    req.save(Kind.PORT, timeline)
    req.store.release_ports(port_id)


def plug(req: Request, port_id: str, server_id: str, nic: int) -> dict[str, Any]:
    """Attach the port to a server being created; its entry in the server's ``addresses``.

    :raises VimNotFound: no such port.  :raises VimConflict: the port is plugged into another server.
    """
    timeline = req.load(Kind.PORT, port_id, messages.port_not_found)
    fields = timeline.view(req.now)
    if fields.get("device_id"):
        raise messages.port_in_use(port_id, fields["device_id"])
    timeline.replace_future(req.now, (req.now, {"device_id": server_id}))
    req.save(Kind.PORT, timeline)
    return {"nic": nic, "network": fields["network"], "network_id": fields["network_id"],
            "fixed_ip": fields["fixed_ip"], "mac": fields["mac"], "port_id": port_id,
            "subnet_id": subnet_of(find_network(fields["network"])).id}


def unplug(req: Request, server: dict[str, Any]) -> None:
    """The server is deleted: the ports made ahead stay, free for another server."""
    for address in server.get("addresses", []):
        timeline = req.store.get(Kind.PORT, address["port_id"], req.now)
        if timeline is not None:
            timeline.replace_future(req.now, (req.now, {"device_id": None}))
            req.save(Kind.PORT, timeline)
