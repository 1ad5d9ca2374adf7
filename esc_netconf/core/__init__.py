"""The domain core: tenants, deployments and VMs, their state machines, monitoring, recovery and scaling.

Adapters import from here; the modules behind these names are implementation detail.  The core speaks
to a cloud only through ``esc_netconf.vim.base.VimDriver`` and never sees XML.
"""

from esc_netconf.core.context import CoreSettings
from esc_netconf.core.errors import (IllegalTransition, InvalidRequest, LifecycleError, NotFound, StateConflict,
                                     VimOperationFailed)
from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType, VmSource
from esc_netconf.core.lifecycle import EscCore, OpKind
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import (CoreState, DeploymentRecord, DeploymentSpec, HistoryEntry, InterfaceSpec, IpPool,
                                    KpiSpec, OperationRecord, RuleSpec, ScalingSpec, StartupPolicy, TenantRecord,
                                    VmGroupSpec, VmInterface, VmRecord, VolumeSpec)
from esc_netconf.core.states import ActionType, ServiceState, VmState
from esc_netconf.core.store import Store

__all__ = [
    "ActionType", "CoreSettings", "CoreState", "DeploymentRecord", "DeploymentSpec", "EscCore", "EscEvent",
    "EventBus", "EventStatus", "EventType", "HistoryEntry", "IllegalTransition", "InterfaceSpec", "InvalidRequest",
    "IpPool", "KpiSpec", "LifecycleError", "MemoryStore", "NotFound", "OpKind", "OperationRecord", "RuleSpec",
    "ScalingSpec", "ServiceState", "StartupPolicy", "StateConflict", "Store", "TenantRecord", "VimOperationFailed",
    "VmGroupSpec", "VmInterface", "VmRecord", "VmSource", "VmState", "VolumeSpec",
]
