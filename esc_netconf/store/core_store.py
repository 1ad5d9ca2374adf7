"""The core's records in SQL: implements ``esc_netconf.core.store.Store``.

Each record is one row: the key columns the Protocol names (and a few more that operators and the
core look things up by: tenant, deployment name, generated VM name, VIM server id, state), plus the
record's ``to_dict()`` in a JSON column. Key columns are read from that same dict, so this module
depends only on the record's id and key field names, never on the rest of its shape; ``load()``
rebuilds each record with ``RecordClass.from_dict``.

Every method is one ``BEGIN IMMEDIATE`` transaction committed with ``synchronous=FULL``: durable when it
returns, as the core's write-ahead discipline (intent before the VIM call, server id right after)
requires. Saving is an upsert (update, then insert if nothing was there); under the write lock the
two steps cannot race.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select

from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord
from esc_netconf.store.database import Database
from esc_netconf.store.schema import RecordData, core_deployments, core_operations, core_tenants, core_vms
from esc_netconf.store.upsert import upsert

__all__ = ["SqlCoreStore"]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class SqlCoreStore:
    """``core.store.Store`` on a :class:`Database` (tables ``core_*``, revision ``0002_core``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    # --- the Protocol -------------------------------------------------------------------------------

    def load(self) -> CoreState:
        """Everything saved and not deleted, read in one snapshot, as fresh objects."""
        with self._database.read() as connection:
            tenants: Sequence[RecordData] = connection.execute(select(core_tenants.c.data)).scalars().all()
            deployments: Sequence[RecordData] = connection.execute(select(core_deployments.c.data)).scalars().all()
            vms: Sequence[RecordData] = connection.execute(select(core_vms.c.data)).scalars().all()
            operations: Sequence[RecordData] = connection.execute(select(core_operations.c.data)).scalars().all()
        state = CoreState()
        for data in tenants:
            tenant = TenantRecord.from_dict(data)
            state.tenants[tenant.name] = tenant
        for data in deployments:
            deployment = DeploymentRecord.from_dict(data)
            state.deployments[deployment.dep_id] = deployment
        for data in vms:
            vm = VmRecord.from_dict(data)
            state.vms[vm.vm_id] = vm
        for data in operations:
            operation = OperationRecord.from_dict(data)
            state.operations[operation.op_id] = operation
        return state

    def save_tenant(self, tenant: TenantRecord) -> None:
        """Insert or replace the tenant named ``tenant.name``."""
        data = tenant.to_dict()
        with self._database.write() as connection:
            upsert(connection, core_tenants, "name", {"name": data["name"], "data": data})

    def delete_tenant(self, name: str) -> None:
        """Forget a tenant (absent is fine)."""
        with self._database.write() as connection:
            connection.execute(delete(core_tenants).where(core_tenants.c.name == name))

    def save_deployment(self, deployment: DeploymentRecord) -> None:
        """Insert or replace the deployment ``deployment.dep_id``."""
        data = deployment.to_dict()
        row = {
            "dep_id": data["dep_id"],
            "tenant": data["tenant"],
            "name": data["name"],
            "state": str(data["state"]),
            "service_name": data["service_name"],
            "service_version": data["service_version"],
            "data": data,
        }
        with self._database.write() as connection:
            upsert(connection, core_deployments, "dep_id", row)

    def delete_deployment(self, dep_id: str) -> None:
        """Forget a deployment with its VMs and operations, in one transaction."""
        with self._database.write() as connection:
            connection.execute(delete(core_operations).where(core_operations.c.dep_id == dep_id))
            connection.execute(delete(core_vms).where(core_vms.c.dep_id == dep_id))
            connection.execute(delete(core_deployments).where(core_deployments.c.dep_id == dep_id))

    def save_vm(self, vm: VmRecord) -> None:
        """Insert or replace the VM ``vm.vm_id`` (``server_id`` may still be ``None``: an intent)."""
        data = vm.to_dict()
        row = {
            "vm_id": data["vm_id"],
            "dep_id": data["dep_id"],
            "tenant": data["tenant"],
            "deployment": data["deployment"],
            "name": data["name"],
            "server_id": _text(data.get("server_id")),
            "state": str(data["state"]),
            "data": data,
        }
        with self._database.write() as connection:
            upsert(connection, core_vms, "vm_id", row)

    def delete_vm(self, vm_id: str) -> None:
        """Forget a VM (absent is fine)."""
        with self._database.write() as connection:
            connection.execute(delete(core_vms).where(core_vms.c.vm_id == vm_id))

    def save_operation(self, operation: OperationRecord) -> None:
        """Insert or replace the work in flight ``operation.op_id``."""
        data = operation.to_dict()
        row = {
            "op_id": data["op_id"],
            "dep_id": data["dep_id"],
            "vm_id": _text(data.get("vm_id")),
            "kind": str(data["kind"]),
            "data": data,
        }
        with self._database.write() as connection:
            upsert(connection, core_operations, "op_id", row)

    def finish_operation(self, op_id: str) -> None:
        """The operation ended: forget it (absent is fine)."""
        with self._database.write() as connection:
            connection.execute(delete(core_operations).where(core_operations.c.op_id == op_id))

    # --- lookups by the indexed columns (for tools) ---------------------------------------------------

    def deployments_of(self, tenant: str, name: str | None = None) -> list[DeploymentRecord]:
        """The tenant's deployments (only those called ``name`` if given), by deployment id."""
        query = select(core_deployments.c.data).where(core_deployments.c.tenant == tenant)
        if name is not None:
            query = query.where(core_deployments.c.name == name)
        with self._database.read() as connection:
            rows: Sequence[RecordData] = connection.execute(query.order_by(core_deployments.c.dep_id)).scalars().all()
        return [DeploymentRecord.from_dict(data) for data in rows]
