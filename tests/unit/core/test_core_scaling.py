"""Service update: scale out and in, refusals that change nothing, composite groups added and removed."""

from __future__ import annotations

import pytest

from esc_netconf.core.errors import InvalidRequest, StateConflict
from esc_netconf.core.model import DeploymentRecord, DeploymentSpec, StartupPolicy
from esc_netconf.core.states import ActionType, ServiceState, VmState

from .conftest import OK, Harness, group, spec

POOL = ("10.10.7.1", "10.10.7.2", "10.10.7.3")


async def _deployed(harness: Harness, first: DeploymentSpec) -> DeploymentRecord:
    harness.core.apply_update("t1", None, first)
    await harness.idle()
    (dep,) = harness.core.deployments()
    return dep


async def _update(harness: Harness, dep: DeploymentRecord, new: DeploymentSpec) -> list[tuple[str, str, int]]:
    mark = len(harness.events)
    harness.core.check_update("t1", dep.spec, new)
    harness.core.apply_update("t1", dep.spec, new)
    await harness.idle()
    return harness.kinds(mark)


async def test_scale_out_then_in(harness: Harness) -> None:
    dep = await _deployed(harness, spec(group("g", 1, 3, pool=POOL)))
    kinds = await _update(harness, dep, spec(group("g", 3, 3, pool=POOL)))
    per_vm = [("VM_SCALE_OUT_INIT", OK, 200), ("VM_SCALE_OUT_DEPLOYED", OK, 200), ("VM_SCALE_OUT_COMPLETE", OK, 200)]
    assert sorted(kinds[:-1]) == sorted(per_vm * 2) and kinds[-1] == ("SERVICE_UPDATED", OK, 200)
    vms = harness.core.vms(dep.dep_id)
    assert [v.index for v in vms] == [0, 1, 2] and all(v.state is VmState.ALIVE for v in vms)
    assert sorted(v.interfaces[0].ip_address or "" for v in vms) == list(POOL)
    assert len(await harness.servers()) == 3

    kinds = await _update(harness, dep, spec(group("g", 1, 1, pool=POOL)))
    per_vm = [("VM_SCALE_IN_INIT", OK, 200), ("VM_SCALE_IN_COMPLETE", OK, 200)]
    assert sorted(kinds[:-1]) == sorted(per_vm * 2) and kinds[-1] == ("SERVICE_UPDATED", OK, 200)
    assert [v.index for v in harness.core.vms(dep.dep_id)] == [0]
    assert len(await harness.servers()) == 1 and dep.state is ServiceState.ACTIVE
    assert len(harness.store.load().vms) == 1


async def test_refused_updates_change_nothing(harness: Harness) -> None:
    dep = await _deployed(harness, spec(group("g", 1, 2, pool=POOL[:2])))
    with pytest.raises(InvalidRequest, match="min_active 3 is above max_active 2"):
        harness.core.check_update("t1", dep.spec, spec(group("g", 3, 2, pool=POOL[:2])))
    with pytest.raises(InvalidRequest, match="has 2 address"):
        harness.core.check_update("t1", dep.spec, spec(group("g", 3, 4, pool=POOL[:2])))
    with pytest.raises(InvalidRequest):
        harness.core.apply_update("t1", dep.spec, spec(group("g", 3, 4, pool=POOL[:2])))
    assert dep.spec == spec(group("g", 1, 2, pool=POOL[:2])) and not harness.core.is_busy(dep.dep_id)
    assert len(harness.core.vms(dep.dep_id)) == 1

    harness.core.service_action("t1", "dep", ActionType.STOP)
    with pytest.raises(StateConflict, match="busy with STOP"):
        harness.core.check_update("t1", dep.spec, spec(group("g", 2, 2, pool=POOL[:2])))
    await harness.idle()
    with pytest.raises(StateConflict, match="stopped; scaling vm_group"):
        harness.core.check_update("t1", dep.spec, spec(group("g", 2, 2, pool=POOL[:2])))
    harness.core.check_update("t1", dep.spec, spec(group("g", 1, 2, pool=POOL[:2], image="ubuntu-22.04")))


async def test_group_added_after_its_dependency_and_removed(harness: Harness) -> None:
    dep = await _deployed(harness, spec(group("a")))
    two = spec(group("a"), group("b"), startup=(StartupPolicy("b", ("a",)),))
    kinds = await _update(harness, dep, two)
    assert kinds == [("VM_SCALE_OUT_INIT", OK, 200), ("VM_SCALE_OUT_DEPLOYED", OK, 200),
                     ("VM_SCALE_OUT_COMPLETE", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert [v.group for v in harness.core.vms(dep.dep_id)] == ["a", "b"]
    kinds = await _update(harness, dep, spec(group("a")))
    assert kinds == [("VM_UNDEPLOYED", OK, 200), ("SERVICE_UPDATED", OK, 200)]
    assert [v.group for v in harness.core.vms(dep.dep_id)] == ["a"] and len(await harness.servers()) == 1


async def test_replaying_an_unchanged_config_does_nothing(harness: Harness) -> None:
    dep = await _deployed(harness, spec(group("g")))
    mark = len(harness.events)
    harness.core.check_update("t1", None, dep.spec)
    harness.core.apply_update("t1", None, dep.spec)
    assert not harness.core.is_busy(dep.dep_id) and harness.kinds(mark) == []
    harness.core.apply_update("t1", dep.spec, None)
    with pytest.raises(StateConflict, match="still being undeployed"):
        harness.core.check_update("t1", None, spec(group("g", 1, 3)))
    await harness.idle()
    harness.core.check_update("t1", None, spec(group("g", 1, 3)))
