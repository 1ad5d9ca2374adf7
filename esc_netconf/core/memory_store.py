"""An in-memory ``Store``: a real implementation for tests and for runs that keep nothing on disk.

It stores each record as its ``to_dict()`` form, exactly as a database would, so a record changed after
``save_*`` does not change what is stored and ``load()`` returns fresh objects.  That makes it a faithful
stand-in for the SQL store when a test simulates a restart (a new ``EscCore`` on the same store).
"""

from __future__ import annotations

from typing import Any

from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord
from esc_netconf.core.store import RecordKind, Write


class MemoryStore:
    """``core.store.Store`` in a few dicts."""

    def __init__(self) -> None:
        self._tenants: dict[str, dict[str, Any]] = {}
        self._deployments: dict[str, dict[str, Any]] = {}
        self._vms: dict[str, dict[str, Any]] = {}
        self._operations: dict[str, dict[str, Any]] = {}
        self._events: dict[str, dict[str, Any]] = {}  # insertion order is journal order

    def load(self) -> CoreState:
        """Fresh copies of everything stored."""
        return CoreState(
            tenants={k: TenantRecord.from_dict(v) for k, v in self._tenants.items()},
            deployments={k: DeploymentRecord.from_dict(v) for k, v in self._deployments.items()},
            vms={k: VmRecord.from_dict(v) for k, v in self._vms.items()},
            operations={k: OperationRecord.from_dict(v) for k, v in self._operations.items()},
        )

    def save_tenant(self, tenant: TenantRecord) -> None:
        self._tenants[tenant.name] = tenant.to_dict()

    def delete_tenant(self, name: str) -> None:
        self._tenants.pop(name, None)

    def save_deployment(self, deployment: DeploymentRecord) -> None:
        self._deployments[deployment.dep_id] = deployment.to_dict()

    def delete_deployment(self, dep_id: str) -> None:
        self._deployments.pop(dep_id, None)
        for table in (self._vms, self._operations):
            for key in [k for k, v in table.items() if v["dep_id"] == dep_id]:
                del table[key]

    def save_vm(self, vm: VmRecord) -> None:
        self._vms[vm.vm_id] = vm.to_dict()

    def delete_vm(self, vm_id: str) -> None:
        self._vms.pop(vm_id, None)

    def save_operation(self, operation: OperationRecord) -> None:
        self._operations[operation.op_id] = operation.to_dict()

    def finish_operation(self, op_id: str) -> None:
        self._operations.pop(op_id, None)

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The journal, oldest first."""
        return list(self._events.items())

    def apply(self, writes: list[Write]) -> None:
        """Each write in order (nothing here can fail half-way)."""
        tables = {RecordKind.TENANT: self._tenants, RecordKind.VM: self._vms, RecordKind.OPERATION: self._operations,
                  RecordKind.DEPLOYMENT: self._deployments, RecordKind.EVENT: self._events}
        for write in writes:
            if write.kind is RecordKind.DEPLOYMENT and write.data is None:
                self.delete_deployment(write.key)
            elif write.data is None:
                tables[write.kind].pop(write.key, None)
            else:
                tables[write.kind][write.key] = write.data
