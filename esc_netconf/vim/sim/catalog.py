"""The fixed catalog of the simulated cloud (CONTRACT section 6).

Flavors and networks never change, so they live here as constants; the public images are
written into the store when a state directory is first opened (they can be deleted like any
Glance image). Ids are UUIDv5 of the names, so they are the same in every state directory and
every run, which keeps logs and golden files comparable.
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass

from esc_netconf.vim.base import Flavor, Network, Subnet
from esc_netconf.vim.sim import messages

__all__ = [
    "CATALOG_IMAGES",
    "COMPUTE_HOSTS",
    "FLAVORS",
    "NETWORKS",
    "VOLUME_TYPES",
    "CatalogImage",
    "catalog_id",
    "find_flavor",
    "find_network",
    "find_volume_type",
    "subnet_of",
]

_NAMESPACE = uuid.UUID("6f1c3f7e-5b7a-4e0e-9a57-0e5c0d3f5a10")


def catalog_id(kind: str, name: str) -> str:
    """The stable id of a catalog entry (``kind`` keeps an image and a flavor of one name apart)."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}/{name}"))


@dataclass(frozen=True, slots=True)
class CatalogImage:
    name: str
    size: int
    disk_format: str
    min_disk: int
    min_ram: int
    os_distro: str

    @property
    def id(self) -> str:
        return catalog_id("image", self.name)


CATALOG_IMAGES: tuple[CatalogImage, ...] = (
    CatalogImage("cirros", 16_300_544, "qcow2", 0, 0, "cirros"),
    CatalogImage("ubuntu-22.04", 50_659_328, "qcow2", 3, 512, "ubuntu"),
)

FLAVORS: tuple[Flavor, ...] = tuple(
    Flavor(id=catalog_id("flavor", name), name=name, vcpus=vcpus, ram_mb=ram, disk_gb=disk)
    for name, vcpus, ram, disk in (
        ("m1.tiny", 1, 512, 1),
        ("m1.small", 1, 2048, 20),
        ("m1.medium", 2, 4096, 40),
        ("m1.large", 4, 8192, 80),
    )
)


def _network(name: str, cidr: str) -> Network:
    network_id = catalog_id("network", name)
    gateway = str(next(iter(ipaddress.ip_network(cidr).hosts())))  # hosts() is a list for a /31 or /32
    subnet = Subnet(
        id=catalog_id("subnet", name), name=f"{name}-subnet", network_id=network_id, cidr=cidr, gateway_ip=gateway
    )
    return Network(id=network_id, name=name, project_id=None, shared=True, status="ACTIVE", subnets=(subnet,))


# /16s: the benchmark deploys 1,000 servers, each with a NIC on both networks.
NETWORKS: tuple[Network, ...] = (
    _network("net-mgmt", "10.10.0.0/16"),
    _network("net-data", "10.20.0.0/16"),
)

VOLUME_TYPES: tuple[str, ...] = ("__DEFAULT__", "LVM")
"""Cinder volume types: Cinder's default and the ``LVM`` the seed's deployments name. A real Cinder
refuses any other name (checked against Cinder 21 / Nova 26), so the simulator does too."""

COMPUTE_HOSTS: tuple[str, ...] = tuple(f"sim-compute-{n:02d}" for n in range(1, 9))


def subnet_of(network: Network) -> Subnet:
    """The (single, IPv4) subnet of a simulated network."""
    return network.subnets[0]


def find_flavor(name_or_id: str) -> Flavor:
    """:raises VimNotFound: no flavor has that name or id."""
    flavor = next((f for f in FLAVORS if name_or_id in (f.id, f.name)), None)
    if flavor is None:
        raise messages.flavor_not_found(name_or_id)
    return flavor


def find_network(name_or_id: str) -> Network:
    """:raises VimNotFound: no network has that name or id."""
    network = next((n for n in NETWORKS if name_or_id in (n.id, n.name)), None)
    if network is None:
        raise messages.network_not_found(name_or_id)
    return network


def find_volume_type(name: str, *, via_nova: bool = False) -> str:
    """:raises VimNotFound: no volume type has that name (worded as Cinder, or as Nova for a boot request)."""
    if name not in VOLUME_TYPES:
        raise messages.volume_type_not_found(name, via_nova=via_nova)
    return name
