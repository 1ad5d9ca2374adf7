"""Records survive the JSON round trip the stores rely on; the memory store behaves like a database."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import (HISTORY_LIMIT, DeploymentRecord, DeploymentSpec, InterfaceSpec, IpPool,
                                    KpiSpec, OperationRecord, RuleSpec, ScalingSpec, StartupPolicy, TenantRecord,
                                    VmGroupSpec, VmInterface, VmRecord, VolumeSpec)
from esc_netconf.core.states import ServiceState, VmState

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def _spec() -> DeploymentSpec:
    group = VmGroupSpec(
        "g1", "cirros", "m1.tiny", bootup_time=30, recovery_wait_time=5,
        interfaces=(InterfaceSpec(0, "net-mgmt"), InterfaceSpec(1, "net-data", "10.0.0.9")),
        volumes=(VolumeSpec("root", size=2, sizeunit="GiB", boot_index=0, image="cirros"),),
        scaling=ScalingSpec(1, 3, True, (IpPool("net-mgmt", "10.1.0.1", "255.255.255.0", ("10.1.0.5", "10.1.0.6")),)),
        kpis=(KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing", 0, 3, "seconds"),),
        rules=(RuleSpec("VM_ALIVE", ("ALWAYS log", "TRUE servicebooted.sh")),))
    return DeploymentSpec("dep", (group, VmGroupSpec("g2", "cirros", "m1.small")), (StartupPolicy("g2", ("g1",)),))


def test_deployment_round_trip_through_json() -> None:
    dep = DeploymentRecord("id-1", "t", "dep", _spec(), ServiceState.STOPPED, NOW)
    again = DeploymentRecord.from_dict(json.loads(json.dumps(dep.to_dict())))
    assert again == dep
    assert again.spec.depends_on("g2") == ("g1",) and again.spec.depends_on("g1") == ()
    assert again.state is ServiceState.STOPPED


def test_a_threshold_stored_as_a_number_reads_back_as_text() -> None:
    """Deployments stored before metric_value became text keep comparing equal to their config."""
    stored = DeploymentRecord("id-1", "t", "dep", _spec(), ServiceState.ACTIVE, NOW).to_dict()
    stored["spec"]["vm_groups"][0]["kpis"][0]["metric_value"] = 1
    again = DeploymentRecord.from_dict(json.loads(json.dumps(stored)))
    assert again.spec == _spec()
    assert again.spec.vm_groups[0].kpis[0].metric_value == "1"


def test_vm_round_trip_and_bounded_history() -> None:
    vm = VmRecord("v1", "id-1", "t", "dep", "g1", 0, "dep_g1_0_v1", VmState.SHUTOFF, True, "srv",
                  interfaces=[VmInterface(0, "net-mgmt", "10.1.0.5", "fa:16:3e:00:00:01", "port")])
    for n in range(HISTORY_LIMIT + 7):
        vm.remember(NOW, "event", str(n))
    assert len(vm.history) == HISTORY_LIMIT
    assert vm.history[0].seq == 8 and vm.history[-1].seq == HISTORY_LIMIT + 7
    assert VmRecord.from_dict(json.loads(json.dumps(vm.to_dict()))) == vm


def test_memory_store_keeps_copies_and_cascades() -> None:
    store = MemoryStore()
    dep = DeploymentRecord("id-1", "t", "dep", _spec())
    vm = VmRecord("v1", "id-1", "t", "dep", "g1", 0, "n")
    other = VmRecord("v2", "id-2", "t", "dep2", "g1", 0, "n2")
    store.save_tenant(TenantRecord("t", "p1"))
    store.save_deployment(dep)
    store.save_vm(vm)
    store.save_vm(other)
    store.save_operation(OperationRecord("op", "DEPLOY", "t", "id-1"))
    vm.state = VmState.ALIVE  # not saved again: the store must not see it
    loaded = store.load()
    assert loaded.vms["v1"].state is VmState.DEPLOYING
    assert loaded.tenants["t"].project_id == "p1" and "op" in loaded.operations
    store.delete_deployment("id-1")
    loaded = store.load()
    assert set(loaded.vms) == {"v2"} and not loaded.operations and not loaded.deployments
    store.finish_operation("absent")
    store.delete_vm("absent")
