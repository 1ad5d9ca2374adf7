"""Pure decisions: validation, startup waves, address allocation, scaling plans."""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import (DeploymentSpec, InterfaceSpec, IpPool, ScalingSpec, StartupPolicy, VmGroupSpec,
                                    VmInterface, VmRecord)
from esc_netconf.core.planning import (GroupPlan, allocate_interfaces, next_index, plan_group, startup_waves,
                                       validate_spec, vm_name)


def _group(name: str, lo: int = 1, hi: int = 2, pool: tuple[str, ...] = ()) -> VmGroupSpec:
    pools = (IpPool("net-mgmt", ip_addresses=pool),) if pool else ()
    return VmGroupSpec(name, "cirros", "m1.tiny", interfaces=(InterfaceSpec(0, "net-mgmt"),),
                       scaling=ScalingSpec(lo, hi, True, pools))


def test_waves_follow_depends_on() -> None:
    spec = DeploymentSpec("d", (_group("c"), _group("a"), _group("b")),
                          (StartupPolicy("c", ("b",)), StartupPolicy("b", ("a",))))
    assert startup_waves(spec) == [["a"], ["b"], ["c"]]
    flat = DeploymentSpec("d", (_group("x"), _group("y")))
    assert startup_waves(flat) == [["x", "y"]]


@pytest.mark.parametrize(("spec", "words"), [
    (DeploymentSpec("d", (_group("a"), _group("b")), (StartupPolicy("a", ("b",)), StartupPolicy("b", ("a",)))),
     "cycle"),
    (DeploymentSpec("d", (_group("a"),), (StartupPolicy("a", ("zz",)),)), "unknown vm_group [zz]"),
    (DeploymentSpec("d", (_group("a", 3, 2),)), "min_active 3 is above max_active 2"),
    (DeploymentSpec("d", (_group("a", 2, 3, ("10.0.0.1",)),)), "too few for 2 VM(s)"),
    (DeploymentSpec("d", ()), "no vm_group"),
])
def test_invalid_specs_are_refused(spec: DeploymentSpec, words: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_spec("t", spec)
    assert words in info.value.message and info.value.status_code == 400


def test_pool_addresses_are_not_reused() -> None:
    group = _group("a", 1, 3, ("10.0.0.1", "10.0.0.2"))
    first = VmRecord("v1", "d", "t", "d", "a", 0, "n", interfaces=allocate_interfaces(group, []))
    assert first.interfaces == [VmInterface(0, "net-mgmt", "10.0.0.1")]
    second = allocate_interfaces(group, [first])
    assert second[0].ip_address == "10.0.0.2"
    with pytest.raises(InvalidRequest):
        allocate_interfaces(group, [first, VmRecord("v2", "d", "t", "d", "a", 1, "m", interfaces=second)])


def test_indices_plans_and_names() -> None:
    vms = [VmRecord("v", "d", "t", "d", "a", i, "n") for i in (0, 2)]
    assert next_index(vms) == 1 and next_index([]) == 0
    assert plan_group(_group("a", 3, 4), 1) == GroupPlan("a", scale_out=2)
    assert plan_group(_group("a", 1, 2), 4) == GroupPlan("a", scale_in=2)
    assert plan_group(_group("a", 1, 3), 2) == GroupPlan("a")
    assert vm_name("dep", "grp", 0, "u-1") == "dep_grp_0_u-1"


def test_names_whose_vm_names_would_exceed_255_are_refused_not_truncated() -> None:
    from esc_netconf.core.planning import NAME_PAIR_LIMIT, VM_NAME_LIMIT, validate_spec, vm_name

    uuid = "12345678-1234-1234-1234-123456789012"
    fits = DeploymentSpec("d" * (NAME_PAIR_LIMIT - 100), (_group("g" * 100),))
    validate_spec("t", fits)
    assert len(vm_name(fits.name, "g" * 100, 9_999_999_999, uuid)) == VM_NAME_LIMIT
    too_long = DeploymentSpec("d" * (NAME_PAIR_LIMIT - 100), (_group("g" * 101),))
    with pytest.raises(InvalidRequest) as refused:
        validate_spec("t", too_long)
    assert "255 characters the VM RPCs accept" in refused.value.message
    assert f"at most {NAME_PAIR_LIMIT} characters together (they have {NAME_PAIR_LIMIT + 1})" in refused.value.message
    with pytest.raises(InvalidRequest):
        vm_name("d" * 200, "g" * 20, 0, uuid)
