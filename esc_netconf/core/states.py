"""Service and VM state machines, written as data.

Theory of operation
-------------------
A deployment (an ESC "service") and each of its VMs carry one state from the enums below; the names are
exactly those of the ``esc`` YANG model, so opdata shows them unchanged.  A state changes only through
``transition(table, state, trigger)``, which looks the pair up in a transition table and returns the
new state.  A pair that is not in the table is an illegal transition: ``IllegalTransition`` is raised
and, because the function is pure, nothing has changed (h11's rule: "illegal transitions raise an error
and nothing happens").  The orchestrator (``lifecycle.py`` and friends) decides with these tables first
and only then acts on the VIM, so a refused request never touches the cloud.

Service machine::

    (created) DEPLOYING --DEPLOYED--> INERT --ALIVE--> ACTIVE
    ACTIVE --STOP--> STOPPING --STOPPED--> STOPPED --START--> STARTING --ALIVE--> ACTIVE
    ACTIVE --REBOOT--> REBOOTING --ALIVE--> ACTIVE
    any working state --FAIL--> ERROR;  ERROR --STOP/REBOOT/ALIVE--> (recovery paths)
    any state but UNDEPLOYING --UNDEPLOY--> UNDEPLOYING  (then the record is deleted)

Only UNDEPLOY is accepted while a START or REBOOT is running: that is the seed's "only undeploy can
interrupt".  START from ACTIVE is illegal ("you cannot start a VNF which is already running"), and no
trigger leads out of STOPPED except START and UNDEPLOY, so recovery and scaling are impossible there.

VM machine: the same shape per VM, plus monitoring and recovery::

    DEPLOYING --DEPLOYED--> INERT --ALIVE--> ALIVE
    ALIVE --DISABLE_MONITOR--> MONITOR_DISABLED --ENABLE_MONITOR--> ALIVE
    ALIVE --LOST--> MONITOR_UNSET        (the monitor saw it SHUTOFF/ERROR without our asking)
    ALIVE/MONITOR_UNSET/ERROR/INERT --RECOVER--> RECOVERY_REBOOTING --ALIVE--> ALIVE
    RECOVERY_REBOOTING --REDEPLOY--> RECOVERY_UNDEPLOYING --UNDEPLOYED--> RECOVERY_DEPLOYING
    RECOVERY_DEPLOYING --DEPLOYED--> INERT
    ALIVE --STOP--> STOPPING --STOPPED--> SHUTOFF --START--> STARTING --ALIVE--> ALIVE
    ALIVE --REBOOT--> REBOOTING --ALIVE--> ALIVE
    STARTING/REBOOTING --RECOVER--> RECOVERY_REBOOTING   (the VM_ALIVE KPI failed within bootup_time)
    working states --FAIL--> ERROR;  every state but UNDEPLOYING --UNDEPLOY--> UNDEPLOYING
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping, TypeVar

from esc_netconf.core.errors import IllegalTransition


class ServiceState(str, Enum):
    """States of a deployment (names from the ``esc`` YANG model)."""

    DEPLOYING = "SERVICE_DEPLOYING_STATE"
    INERT = "SERVICE_INERT_STATE"
    ACTIVE = "SERVICE_ACTIVE_STATE"
    UNDEPLOYING = "SERVICE_UNDEPLOYING_STATE"
    STOPPING = "SERVICE_STOPPING_STATE"
    STOPPED = "SERVICE_STOPPED_STATE"
    STARTING = "SERVICE_STARTING_STATE"
    REBOOTING = "SERVICE_REBOOTING_STATE"
    ERROR = "SERVICE_ERROR_STATE"


class VmState(str, Enum):
    """States of one VM (names from the ``esc`` YANG model)."""

    DEPLOYING = "VM_DEPLOYING_STATE"
    INERT = "VM_INERT_STATE"
    ALIVE = "VM_ALIVE_STATE"
    STOPPING = "VM_STOPPING_STATE"
    SHUTOFF = "VM_SHUTOFF_STATE"
    STARTING = "VM_STARTING_STATE"
    REBOOTING = "VM_REBOOTING_STATE"
    UNDEPLOYING = "VM_UNDEPLOYING_STATE"
    ERROR = "VM_ERROR_STATE"
    MONITOR_UNSET = "VM_MONITOR_UNSET_STATE"
    MONITOR_DISABLED = "VM_MONITOR_DISABLED_STATE"
    RECOVERY_DEPLOYING = "VM_RECOVERY_DEPLOYING_STATE"
    RECOVERY_REBOOTING = "VM_RECOVERY_REBOOTING_STATE"
    RECOVERY_UNDEPLOYING = "VM_RECOVERY_UNDEPLOYING_STATE"


class ActionType(str, Enum):
    """The ``actionType`` of ``serviceAction`` and ``vmAction``."""

    START = "START"
    STOP = "STOP"
    REBOOT = "REBOOT"
    ENABLE_MONITOR = "ENABLE_MONITOR"
    DISABLE_MONITOR = "DISABLE_MONITOR"


class ServiceTrigger(str, Enum):
    """What can happen to a deployment."""

    DEPLOYED = "DEPLOYED"
    ALIVE = "ALIVE"
    FAIL = "FAIL"
    STOP = "STOP"
    STOPPED = "STOPPED"
    START = "START"
    REBOOT = "REBOOT"
    UNDEPLOY = "UNDEPLOY"


class VmTrigger(str, Enum):
    """What can happen to a VM."""

    DEPLOYED = "DEPLOYED"
    ALIVE = "ALIVE"
    FAIL = "FAIL"
    STOP = "STOP"
    STOPPED = "STOPPED"
    START = "START"
    REBOOT = "REBOOT"
    UNDEPLOY = "UNDEPLOY"
    DISABLE_MONITOR = "DISABLE_MONITOR"
    ENABLE_MONITOR = "ENABLE_MONITOR"
    LOST = "LOST"
    RECOVER = "RECOVER"
    REDEPLOY = "REDEPLOY"
    UNDEPLOYED = "UNDEPLOYED"


_S = ServiceState
_ST = ServiceTrigger

SERVICE_TRANSITIONS: Mapping[tuple[ServiceState, ServiceTrigger], ServiceState] = {
    (_S.DEPLOYING, _ST.DEPLOYED): _S.INERT,
    (_S.DEPLOYING, _ST.FAIL): _S.ERROR,
    (_S.INERT, _ST.ALIVE): _S.ACTIVE,
    (_S.INERT, _ST.FAIL): _S.ERROR,
    (_S.ACTIVE, _ST.STOP): _S.STOPPING,
    (_S.ACTIVE, _ST.REBOOT): _S.REBOOTING,
    (_S.ACTIVE, _ST.FAIL): _S.ERROR,
    (_S.STOPPING, _ST.STOPPED): _S.STOPPED,
    (_S.STOPPING, _ST.FAIL): _S.ERROR,
    (_S.STOPPED, _ST.START): _S.STARTING,
    (_S.STARTING, _ST.ALIVE): _S.ACTIVE,
    (_S.STARTING, _ST.FAIL): _S.ERROR,
    (_S.REBOOTING, _ST.ALIVE): _S.ACTIVE,
    (_S.REBOOTING, _ST.FAIL): _S.ERROR,
    (_S.ERROR, _ST.ALIVE): _S.ACTIVE,
    (_S.ERROR, _ST.STOP): _S.STOPPING,
    (_S.ERROR, _ST.REBOOT): _S.REBOOTING,
    (_S.UNDEPLOYING, _ST.FAIL): _S.ERROR,
    **{(state, _ST.UNDEPLOY): _S.UNDEPLOYING for state in _S if state is not _S.UNDEPLOYING},
}

_V = VmState
_VT = VmTrigger
_WORKING = (_V.DEPLOYING, _V.INERT, _V.ALIVE, _V.STOPPING, _V.STARTING, _V.REBOOTING, _V.UNDEPLOYING,
            _V.MONITOR_UNSET, _V.MONITOR_DISABLED, _V.RECOVERY_DEPLOYING, _V.RECOVERY_REBOOTING,
            _V.RECOVERY_UNDEPLOYING)

VM_TRANSITIONS: Mapping[tuple[VmState, VmTrigger], VmState] = {
    (_V.DEPLOYING, _VT.DEPLOYED): _V.INERT,
    (_V.INERT, _VT.ALIVE): _V.ALIVE,
    (_V.INERT, _VT.STOP): _V.STOPPING,
    (_V.INERT, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.ALIVE, _VT.STOP): _V.STOPPING,
    (_V.ALIVE, _VT.REBOOT): _V.REBOOTING,
    (_V.ALIVE, _VT.DISABLE_MONITOR): _V.MONITOR_DISABLED,
    (_V.ALIVE, _VT.LOST): _V.MONITOR_UNSET,
    (_V.ALIVE, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.MONITOR_DISABLED, _VT.ENABLE_MONITOR): _V.ALIVE,
    (_V.MONITOR_DISABLED, _VT.STOP): _V.STOPPING,
    (_V.MONITOR_DISABLED, _VT.REBOOT): _V.REBOOTING,
    (_V.MONITOR_DISABLED, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.MONITOR_UNSET, _VT.ALIVE): _V.ALIVE,
    (_V.MONITOR_UNSET, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.MONITOR_UNSET, _VT.STOP): _V.STOPPING,
    (_V.STOPPING, _VT.STOPPED): _V.SHUTOFF,
    (_V.SHUTOFF, _VT.START): _V.STARTING,
    (_V.STARTING, _VT.ALIVE): _V.ALIVE,
    (_V.STARTING, _VT.RECOVER): _V.RECOVERY_REBOOTING,  # its VM_ALIVE KPI failed after the power-on
    (_V.REBOOTING, _VT.ALIVE): _V.ALIVE,
    (_V.REBOOTING, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.ERROR, _VT.RECOVER): _V.RECOVERY_REBOOTING,
    (_V.ERROR, _VT.STOP): _V.STOPPING,
    (_V.ERROR, _VT.REBOOT): _V.REBOOTING,
    (_V.RECOVERY_REBOOTING, _VT.ALIVE): _V.ALIVE,
    (_V.RECOVERY_REBOOTING, _VT.REDEPLOY): _V.RECOVERY_UNDEPLOYING,
    (_V.RECOVERY_UNDEPLOYING, _VT.UNDEPLOYED): _V.RECOVERY_DEPLOYING,
    (_V.RECOVERY_DEPLOYING, _VT.DEPLOYED): _V.INERT,
    **{(state, _VT.FAIL): _V.ERROR for state in _WORKING},
    **{(state, _VT.UNDEPLOY): _V.UNDEPLOYING for state in _V if state is not _V.UNDEPLOYING},
}

#: VM states in which the VM counts as "active" for min_active/max_active arithmetic.
ACTIVE_VM_STATES: frozenset[VmState] = frozenset(
    {_V.DEPLOYING, _V.INERT, _V.ALIVE, _V.MONITOR_DISABLED, _V.MONITOR_UNSET, _V.STARTING, _V.REBOOTING,
     _V.RECOVERY_DEPLOYING, _V.RECOVERY_REBOOTING, _V.RECOVERY_UNDEPLOYING, _V.ERROR})

_State = TypeVar("_State", ServiceState, VmState)
_Trigger = TypeVar("_Trigger", ServiceTrigger, VmTrigger)


def transition(table: Mapping[tuple[_State, _Trigger], _State], state: _State, trigger: _Trigger) -> _State:
    """The state that ``trigger`` leads to from ``state``.

    :raises IllegalTransition: the pair is not in ``table`` (the caller's state is untouched).
    """
    try:
        return table[(state, trigger)]
    except KeyError:
        raise IllegalTransition(state.value, trigger.value) from None


def service_transition(state: ServiceState, trigger: ServiceTrigger) -> ServiceState:
    """``transition`` on the service table."""
    return transition(SERVICE_TRANSITIONS, state, trigger)


def vm_transition(state: VmState, trigger: VmTrigger) -> VmState:
    """``transition`` on the VM table."""
    return transition(VM_TRANSITIONS, state, trigger)
