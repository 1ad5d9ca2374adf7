"""Fixed-IP allocation on simulated networks."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.vim.base import Network, Subnet, VimConflict
from esc_netconf.vim.sim.ipam import allocate_ip, mac_for_port
from esc_netconf.vim.sim.store import SimStore


def _network(cidr: str) -> Network:
    subnet = Subnet(id="sub-1", name="s", network_id="net-1", cidr=cidr, gateway_ip=cidr.rsplit(".", 1)[0] + ".1")
    return Network(id="net-1", name="n", project_id=None, shared=True, status="ACTIVE", subnets=(subnet,))


@pytest.fixture
def store(tmp_path: Path) -> SimStore:
    return SimStore(tmp_path)


def test_automatic_addresses_start_at_the_pool_and_increase(store: SimStore) -> None:
    net = _network("10.0.0.0/24")
    assert [allocate_ip(store, net, None, "s1") for _ in range(3)] == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]


def test_fixed_ip_is_honoured_once(store: SimStore) -> None:
    net = _network("10.0.0.0/24")
    assert allocate_ip(store, net, "10.0.0.5", "s1") == "10.0.0.5"
    with pytest.raises(VimConflict, match=r"IP address 10\.0\.0\.5 already allocated in subnet sub-1"):
        allocate_ip(store, net, "10.0.0.5", "s2")


@pytest.mark.parametrize("ip", ["10.0.1.5", "10.0.0.0", "10.0.0.255", "not-an-ip"])
def test_fixed_ip_outside_subnet(store: SimStore, ip: str) -> None:
    with pytest.raises(VimConflict, match="not a valid IP for the specified subnet") as info:
        allocate_ip(store, _network("10.0.0.0/24"), ip, "s1")
    assert info.value.code == 400


def test_gateway_is_taken(store: SimStore) -> None:
    with pytest.raises(VimConflict, match="already allocated"):
        allocate_ip(store, _network("10.0.0.0/24"), "10.0.0.1", "s1")


def test_exhaustion_and_reuse_after_release(store: SimStore) -> None:
    net = _network("10.0.0.0/28")  # hosts .1-.14, pool .10-.14
    got = [allocate_ip(store, net, None, f"s{i}") for i in range(5)]
    assert got[-1] == "10.0.0.14"
    with pytest.raises(VimConflict, match="No more IP addresses available on network net-1"):
        allocate_ip(store, net, None, "s9")
    store.release_ports("s1")
    assert allocate_ip(store, net, None, "s9") == "10.0.0.11"


def test_mac_has_openstack_prefix_and_is_stable() -> None:
    mac = mac_for_port("port-1")
    assert mac.startswith("fa:16:3e:") and mac == mac_for_port("port-1") != mac_for_port("port-2")
