"""The persistence the core needs (implemented with SQLAlchemy in ``esc_netconf.store``).

Why this shape: the core must survive ``kill -9`` without duplicating VMs, so it writes an intent
(``save_operation``, ``save_vm`` with ``server_id=None``) *before* calling the VIM and the server id right
after the VIM answers.  Every method is therefore synchronous and durable when it returns.  The core does
not call the single-record methods one by one while it runs: ``core.groupcommit`` gathers the writes of a
loop turn and hands them to ``apply`` as one transaction (a commit costs a disk flush; thousands of VMs
moving at once would otherwise spend the loop on flushes).

Records are the dataclasses of ``core.model`` (``TenantRecord``, ``DeploymentRecord``, ``VmRecord``,
``OperationRecord``).  An implementation keeps each as its key columns plus ``record.to_dict()`` in a JSON
column, and rebuilds it with ``RecordClass.from_dict(data)``; it never needs to know the fields.  Saving is
an upsert keyed by the record's id (``TenantRecord.name``, ``DeploymentRecord.dep_id``, ``VmRecord.vm_id``,
``OperationRecord.op_id``).  Deleting something absent is not an error.

Events (``RecordKind.EVENT``) are journaled through ``apply`` like records and never rewritten: a save
inserts, a delete removes; ``pending_events`` returns those not yet removed, in the order they were saved,
so a restart (or a standby taking over) delivers them again.

Key columns an implementation may want for its own queries: VM -> ``dep_id``, ``name``;
deployment -> ``tenant``, ``name``; operation -> ``dep_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord


class RecordKind(str, Enum):
    """Which table a ``Write`` goes to."""

    TENANT = "tenant"
    DEPLOYMENT = "deployment"
    VM = "vm"
    OPERATION = "operation"
    #: The event journal: an event held until the writes before it are durable, stored in the same
    #: transaction as they are (``data`` is ``core.serial.to_plain(event)``, ``key`` its ``event_id``), and
    #: deleted once every subscriber has stored it (``core.events.EventBus.journal``).
    EVENT = "event"


@dataclass(frozen=True, slots=True)
class Write:
    """One save (``data`` is the record's ``to_dict()``) or delete (``data`` None) of the record ``key``.

    Deleting a deployment also deletes its VMs and operations, as ``Store.delete_deployment`` does.
    """

    kind: RecordKind
    key: str
    data: dict[str, Any] | None


class Store(Protocol):
    """Durable storage of the core's records."""

    def load(self) -> CoreState:
        """Everything saved and not deleted, as fresh objects (mutating them changes nothing stored)."""
        ...

    def save_tenant(self, tenant: TenantRecord) -> None:
        """Insert or replace the tenant named ``tenant.name``."""
        ...

    def delete_tenant(self, name: str) -> None:
        """Forget a tenant."""
        ...

    def save_deployment(self, deployment: DeploymentRecord) -> None:
        """Insert or replace the deployment ``deployment.dep_id``."""
        ...

    def delete_deployment(self, dep_id: str) -> None:
        """Forget a deployment together with its VMs and operations (one transaction)."""
        ...

    def save_vm(self, vm: VmRecord) -> None:
        """Insert or replace the VM ``vm.vm_id``."""
        ...

    def delete_vm(self, vm_id: str) -> None:
        """Forget a VM."""
        ...

    def save_operation(self, operation: OperationRecord) -> None:
        """Insert or replace the work in flight ``operation.op_id``."""
        ...

    def finish_operation(self, op_id: str) -> None:
        """The operation ended (well or badly): forget it."""
        ...

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The journaled events not yet deleted, as ``(event_id, data)``, in the order they were saved."""
        ...

    def apply(self, writes: list[Write]) -> None:
        """Carry out ``writes`` in order in one transaction: all of them are durable when it returns, or
        none (it raises).  At most one write per ``(kind, key)``, except that a deployment's delete may
        follow writes of its VMs and operations (which it deletes)."""
        ...
