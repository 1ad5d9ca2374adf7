"""Every legal and illegal transition of both state machines: illegal ones raise and change nothing."""

from __future__ import annotations

import itertools

import pytest

from esc_netconf.core.errors import IllegalTransition, StateConflict
from esc_netconf.core.states import (SERVICE_TRANSITIONS, VM_TRANSITIONS, ServiceState, ServiceTrigger, VmState,
                                     VmTrigger, service_transition, vm_transition)

S, ST, V, VT = ServiceState, ServiceTrigger, VmState, VmTrigger

# The service machine written out by hand, independently of the table under test.
EXPECTED_SERVICE = {
    (S.DEPLOYING, ST.DEPLOYED): S.INERT, (S.DEPLOYING, ST.FAIL): S.ERROR,
    (S.INERT, ST.ALIVE): S.ACTIVE, (S.INERT, ST.FAIL): S.ERROR,
    (S.ACTIVE, ST.STOP): S.STOPPING, (S.ACTIVE, ST.REBOOT): S.REBOOTING, (S.ACTIVE, ST.FAIL): S.ERROR,
    (S.STOPPING, ST.STOPPED): S.STOPPED, (S.STOPPING, ST.FAIL): S.ERROR,
    (S.STOPPED, ST.START): S.STARTING,
    (S.STARTING, ST.ALIVE): S.ACTIVE, (S.STARTING, ST.FAIL): S.ERROR,
    (S.REBOOTING, ST.ALIVE): S.ACTIVE, (S.REBOOTING, ST.FAIL): S.ERROR,
    (S.ERROR, ST.ALIVE): S.ACTIVE, (S.ERROR, ST.STOP): S.STOPPING, (S.ERROR, ST.REBOOT): S.REBOOTING,
    (S.UNDEPLOYING, ST.FAIL): S.ERROR,
    **{(s, ST.UNDEPLOY): S.UNDEPLOYING for s in S if s is not S.UNDEPLOYING},
}

_VM_WORKING = [V.DEPLOYING, V.INERT, V.ALIVE, V.STOPPING, V.STARTING, V.REBOOTING, V.UNDEPLOYING, V.MONITOR_UNSET,
               V.MONITOR_DISABLED, V.RECOVERY_DEPLOYING, V.RECOVERY_REBOOTING, V.RECOVERY_UNDEPLOYING]
EXPECTED_VM = {
    (V.DEPLOYING, VT.DEPLOYED): V.INERT,
    (V.INERT, VT.ALIVE): V.ALIVE, (V.INERT, VT.STOP): V.STOPPING, (V.INERT, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.ALIVE, VT.STOP): V.STOPPING, (V.ALIVE, VT.REBOOT): V.REBOOTING,
    (V.ALIVE, VT.DISABLE_MONITOR): V.MONITOR_DISABLED, (V.ALIVE, VT.LOST): V.MONITOR_UNSET,
    (V.ALIVE, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.MONITOR_DISABLED, VT.ENABLE_MONITOR): V.ALIVE, (V.MONITOR_DISABLED, VT.STOP): V.STOPPING,
    (V.MONITOR_DISABLED, VT.REBOOT): V.REBOOTING, (V.MONITOR_DISABLED, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.MONITOR_UNSET, VT.ALIVE): V.ALIVE, (V.MONITOR_UNSET, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.MONITOR_UNSET, VT.STOP): V.STOPPING,
    (V.STOPPING, VT.STOPPED): V.SHUTOFF,
    (V.SHUTOFF, VT.START): V.STARTING,
    (V.STARTING, VT.ALIVE): V.ALIVE, (V.STARTING, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.REBOOTING, VT.ALIVE): V.ALIVE, (V.REBOOTING, VT.RECOVER): V.RECOVERY_REBOOTING,
    (V.ERROR, VT.RECOVER): V.RECOVERY_REBOOTING, (V.ERROR, VT.STOP): V.STOPPING, (V.ERROR, VT.REBOOT): V.REBOOTING,
    (V.RECOVERY_REBOOTING, VT.ALIVE): V.ALIVE, (V.RECOVERY_REBOOTING, VT.REDEPLOY): V.RECOVERY_UNDEPLOYING,
    (V.RECOVERY_UNDEPLOYING, VT.UNDEPLOYED): V.RECOVERY_DEPLOYING,
    (V.RECOVERY_DEPLOYING, VT.DEPLOYED): V.INERT,
    **{(s, VT.FAIL): V.ERROR for s in _VM_WORKING},
    **{(s, VT.UNDEPLOY): V.UNDEPLOYING for s in V if s is not V.UNDEPLOYING},
}


def test_state_names_are_the_yang_names() -> None:
    assert [s.value for s in S] == [
        "SERVICE_DEPLOYING_STATE", "SERVICE_INERT_STATE", "SERVICE_ACTIVE_STATE", "SERVICE_UNDEPLOYING_STATE",
        "SERVICE_STOPPING_STATE", "SERVICE_STOPPED_STATE", "SERVICE_STARTING_STATE", "SERVICE_REBOOTING_STATE",
        "SERVICE_ERROR_STATE"]
    assert {v.value for v in V} == {
        "VM_DEPLOYING_STATE", "VM_INERT_STATE", "VM_ALIVE_STATE", "VM_STOPPING_STATE", "VM_SHUTOFF_STATE",
        "VM_STARTING_STATE", "VM_REBOOTING_STATE", "VM_UNDEPLOYING_STATE", "VM_ERROR_STATE",
        "VM_MONITOR_UNSET_STATE", "VM_MONITOR_DISABLED_STATE", "VM_RECOVERY_DEPLOYING_STATE",
        "VM_RECOVERY_REBOOTING_STATE", "VM_RECOVERY_UNDEPLOYING_STATE"}


def test_tables_are_exactly_the_documented_machines() -> None:
    assert dict(SERVICE_TRANSITIONS) == EXPECTED_SERVICE
    assert dict(VM_TRANSITIONS) == EXPECTED_VM


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(S, ST)))
def test_every_service_pair(state: ServiceState, trigger: ServiceTrigger) -> None:
    current = state
    if (state, trigger) in EXPECTED_SERVICE:
        assert service_transition(current, trigger) is EXPECTED_SERVICE[(state, trigger)]
    else:
        with pytest.raises(IllegalTransition) as info:
            current = service_transition(current, trigger)
        assert current is state
        assert info.value.state == state.value and info.value.trigger == trigger.value
        assert isinstance(info.value, StateConflict) and info.value.status_code == 409


@pytest.mark.parametrize(("state", "trigger"), list(itertools.product(V, VT)))
def test_every_vm_pair(state: VmState, trigger: VmTrigger) -> None:
    current = state
    if (state, trigger) in EXPECTED_VM:
        assert vm_transition(current, trigger) is EXPECTED_VM[(state, trigger)]
    else:
        with pytest.raises(IllegalTransition):
            current = vm_transition(current, trigger)
        assert current is state


def test_seed_rules() -> None:
    # starting a running VNF is refused; a stopped VNF can only start or be undeployed
    with pytest.raises(IllegalTransition):
        service_transition(S.ACTIVE, ST.START)
    assert {t for (s, t) in SERVICE_TRANSITIONS if s is S.STOPPED} == {ST.START, ST.UNDEPLOY}
    # only undeploy interrupts a start or a reboot
    for busy in (S.STARTING, S.REBOOTING):
        assert {t for (s, t) in SERVICE_TRANSITIONS if s is busy} == {ST.ALIVE, ST.FAIL, ST.UNDEPLOY}
    # a stopped VM cannot be recovered
    with pytest.raises(IllegalTransition):
        vm_transition(V.SHUTOFF, VT.RECOVER)
