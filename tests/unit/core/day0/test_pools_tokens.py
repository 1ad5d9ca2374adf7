"""Value pools handed out one per VM in order and given back; ESC's tokens from interfaces and subnets."""

from __future__ import annotations

from esc_netconf.core.day0.pools import allocate, variable_values
from esc_netconf.core.day0.tokens import builtin_tokens
from esc_netconf.core.model import (Day0Configuration, Day0Variable, InterfaceSpec, IpPool, ScalingSpec,
                                    VmGroupSpec, VmInterface, VmRecord)
from esc_netconf.vim.base import Network, Subnet

CONFIG = Day0Configuration("--user-data", data="x", variables=(
    Day0Variable("HOSTNAME", ("a", "b", "c")), Day0Variable("DOMAIN", ("example.com",))))
GROUP = VmGroupSpec("g", "img", "m1.tiny", interfaces=(InterfaceSpec(0, "net-mgmt"),), config_data=(CONFIG,))


def vm(index: int) -> VmRecord:
    return VmRecord(vm_id=f"id{index}", dep_id="d", tenant="t", deployment="dep", group="g", index=index,
                    name=f"dep_g_{index}_id{index}")


def test_pool_values_go_one_per_vm_in_order_and_come_back() -> None:
    vms = [vm(i) for i in range(3)]
    for v in vms:
        assert allocate(GROUP, v, vms)
    assert [v.day0_values["--user-data"]["HOSTNAME"] for v in vms] == ["a", "b", "c"]
    assert not allocate(GROUP, vms[0], vms)  # already holds one: nothing changes
    fourth = vm(3)
    assert not allocate(GROUP, fourth, [*vms, fourth])  # exhausted: holds nothing
    values, missing = variable_values(CONFIG, fourth)
    assert values == {"DOMAIN": "example.com"} and missing == {"HOSTNAME": 3}
    survivors = [vms[0], vms[2]]  # vms[1] scaled in: its value is free again
    assert allocate(GROUP, fourth, [*survivors, fourth])
    assert fourth.day0_values == {"--user-data": {"HOSTNAME": "b"}}
    assert variable_values(CONFIG, fourth) == ({"HOSTNAME": "b", "DOMAIN": "example.com"}, {})


def test_tokens_from_fixed_and_pool_addresses_and_subnets() -> None:
    net = Network("nid", "net-mgmt", None, True, "ACTIVE", (Subnet("sid", "s", "nid", "10.10.0.0/16", "10.10.0.1"),))
    net6 = Network("nid6", "net-v6", None, True, "ACTIVE", (Subnet("s6", "s6", "nid6", "fd00::/64", "fd00::1"),))
    group = GROUP.with_changes(scaling=ScalingSpec(1, 1, True, (IpPool("net-mgmt", "10.10.9.9", "255.255.255.0"),)))
    record = vm(0)
    record.interfaces = [VmInterface(0, "net-mgmt", "10.10.3.4"), VmInterface(1, "net-v6", None)]
    values, unavailable = builtin_tokens(record, group, {"net-mgmt": net, "net-v6": net6})
    assert values["NICID_0_IP_ADDRESS"] == "10.10.3.4" and values["NICID_0_NETWORK_ID"] == "nid"
    assert (values["NICID_0_CIDR_ADDRESS"], values["NICID_0_CIDR_PREFIX"]) == ("10.10.0.0", "16")
    assert (values["NICID_0_GATEWAY"], values["NICID_0_NETMASK"]) == ("10.10.9.9", "255.255.255.0")  # the pool's
    assert values["NICID_1_IPV6_GATEWAY"] == "fd00::1" and values["NICID_1_IPV6_CIDR_PREFIX"] == "64"
    assert values["VM_NAME"] == record.name and values["DEPLOYMENT_NAME"] == "dep" and values["TENANT"] == "t"
    assert set(unavailable) == {"NICID_1_IPV6_IP_ADDRESS", "NICID_0_MAC_ADDRESS", "NICID_1_MAC_ADDRESS"}
    assert "ip_address or a static_ip_address_pool" in unavailable["NICID_1_IPV6_IP_ADDRESS"]
