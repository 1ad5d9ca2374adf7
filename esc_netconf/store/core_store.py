"""The core's records in SQL: implements ``esc_netconf.core.store.Store``.

Each record is one row: the key columns the Protocol names (and a few more that operators and the
core look things up by: tenant, deployment name, generated VM name, VIM server id, state), plus the
record's ``to_dict()`` in a JSON column. Key columns are read from that same dict, so this module
depends only on the record's id and key field names, never on the rest of its shape; ``load()``
rebuilds each record with ``RecordClass.from_dict``.

Every method is one ``BEGIN IMMEDIATE`` transaction committed with ``synchronous=FULL``: durable when it
returns, as the core's write-ahead discipline (intent before the VIM call, server id right after)
requires. ``apply`` writes a whole batch (``core.groupcommit``) in one transaction; saving replaces the
row (delete by key, then insert) and under the write lock the two steps cannot race.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Delete, Insert, Table, bindparam, delete, insert, select

from esc_netconf.core.model import CoreState, DeploymentRecord, OperationRecord, TenantRecord, VmRecord
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.gilshare import breathe
from esc_netconf.store.database import Database, EncodedJson
from esc_netconf.store.schema import (RecordData, core_deployments, core_event_journal, core_operations, core_tenants,
                                      core_vms)

__all__ = ["SqlCoreStore"]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _json(data: dict[str, Any]) -> EncodedJson:
    return EncodedJson(json.dumps(data))


def _tenant_row(data: dict[str, Any]) -> dict[str, Any]:
    return {"name": data["name"], "data": _json(data)}


def _deployment_row(data: dict[str, Any]) -> dict[str, Any]:
    return {"dep_id": data["dep_id"], "tenant": data["tenant"], "name": data["name"], "state": str(data["state"]),
            "service_name": data["service_name"], "service_version": data["service_version"], "data": _json(data)}


def _vm_row(data: dict[str, Any]) -> dict[str, Any]:
    return {"vm_id": data["vm_id"], "dep_id": data["dep_id"], "tenant": data["tenant"],
            "deployment": data["deployment"], "name": data["name"], "server_id": _text(data.get("server_id")),
            "state": str(data["state"]), "data": _json(data)}


def _operation_row(data: dict[str, Any]) -> dict[str, Any]:
    return {"op_id": data["op_id"], "dep_id": data["dep_id"], "vm_id": _text(data.get("vm_id")),
            "kind": str(data["kind"]), "data": _json(data)}


def _event_row(data: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": data["event_id"], "data": _json(data)}


#: Per kind of record: its table, key column and row (key columns plus the JSON).
_TABLES: dict[RecordKind, tuple[Table, str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    RecordKind.TENANT: (core_tenants, "name", _tenant_row),
    RecordKind.DEPLOYMENT: (core_deployments, "dep_id", _deployment_row),
    RecordKind.VM: (core_vms, "vm_id", _vm_row),
    RecordKind.OPERATION: (core_operations, "op_id", _operation_row),
    RecordKind.EVENT: (core_event_journal, "event_id", _event_row),
}
#: Keys per ``IN (...)`` list: well below SQLite's limit of bound parameters.
_KEYS_PER_STATEMENT = 500
#: Rows per insert: between two, the loop may take the GIL (``gilshare``).
_ROWS_PER_STATEMENT = 64
#: Rows encoded (JSON) between two chances for the loop to take the GIL.
_BREATHE_ROWS = 16

# The statements a batch runs, built once with their parameters bound at execution: a statement built per
# call leaves its bind parameters in reference cycles, hundreds per batch, which the garbage collector then
# frees in pauses that stop the event loop too.
_DELETE_BY_KEYS: dict[RecordKind, Delete] = {
    kind: delete(table).where(table.c[key].in_(bindparam("keys", expanding=True)))
    for kind, (table, key, _) in _TABLES.items()}
_DELETE_DEPLOYMENT: tuple[Delete, ...] = tuple(  # children first: operations, VMs, then the deployment
    delete(table).where(table.c.dep_id == bindparam("dep_id"))
    for table in (core_operations, core_vms, core_deployments))
_INSERT: dict[RecordKind, Insert] = {kind: insert(table) for kind, (table, _, _) in _TABLES.items()}

#: A statement of a batch with its parameters (a dict, or the rows of an insert).
_Statement = tuple[Delete | Insert, Any]


def _statements(writes: list[Write]) -> list[_Statement]:
    """The statements that apply ``writes`` in order, their rows made and encoded: built before the write lock
    is taken. Keys are unique within a batch, so between two deployment deletes (which cascade and must stay
    in place) the order does not matter."""
    statements: list[_Statement] = []
    segment: list[Write] = []
    for write in writes:
        if write.kind is RecordKind.DEPLOYMENT and write.data is None:
            statements += _segment_statements(segment)
            segment = []
            statements += [(statement, {"dep_id": write.key}) for statement in _DELETE_DEPLOYMENT]
        else:
            segment.append(write)
    return statements + _segment_statements(segment)


def _segment_statements(writes: list[Write]) -> list[_Statement]:
    """Writes with distinct keys and no deployment delete among them: replace or delete each row."""
    statements: list[_Statement] = []
    for kind, (_, _, row_of) in _TABLES.items():
        mine = [w for w in writes if w.kind is kind]
        # a journaled event is never saved again: only its delete needs the row gone
        gone = [w for w in mine if w.data is None] if kind is RecordKind.EVENT else mine
        statements += [(_DELETE_BY_KEYS[kind], {"keys": [w.key for w in gone[first:first + _KEYS_PER_STATEMENT]]})
                       for first in range(0, len(gone), _KEYS_PER_STATEMENT)]
        rows = []
        for number, write in enumerate(w for w in mine if w.data is not None):
            if number % _BREATHE_ROWS == 0:
                breathe()
            assert write.data is not None
            rows.append(row_of(write.data))
        statements += [(_INSERT[kind], rows[first:first + _ROWS_PER_STATEMENT])
                       for first in range(0, len(rows), _ROWS_PER_STATEMENT)]
    return statements


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
        self.apply([Write(RecordKind.TENANT, tenant.name, tenant.to_dict())])

    def delete_tenant(self, name: str) -> None:
        """Forget a tenant (absent is fine)."""
        self.apply([Write(RecordKind.TENANT, name, None)])

    def save_deployment(self, deployment: DeploymentRecord) -> None:
        """Insert or replace the deployment ``deployment.dep_id``."""
        self.apply([Write(RecordKind.DEPLOYMENT, deployment.dep_id, deployment.to_dict())])

    def delete_deployment(self, dep_id: str) -> None:
        """Forget a deployment with its VMs and operations, in one transaction."""
        self.apply([Write(RecordKind.DEPLOYMENT, dep_id, None)])

    def save_vm(self, vm: VmRecord) -> None:
        """Insert or replace the VM ``vm.vm_id`` (``server_id`` may still be ``None``: an intent)."""
        self.apply([Write(RecordKind.VM, vm.vm_id, vm.to_dict())])

    def delete_vm(self, vm_id: str) -> None:
        """Forget a VM (absent is fine)."""
        self.apply([Write(RecordKind.VM, vm_id, None)])

    def save_operation(self, operation: OperationRecord) -> None:
        """Insert or replace the work in flight ``operation.op_id``."""
        self.apply([Write(RecordKind.OPERATION, operation.op_id, operation.to_dict())])

    def finish_operation(self, op_id: str) -> None:
        """The operation ended: forget it (absent is fine)."""
        self.apply([Write(RecordKind.OPERATION, op_id, None)])

    def apply(self, writes: list[Write]) -> None:
        """All ``writes`` in one ``BEGIN IMMEDIATE`` transaction, in order.

        Why not one upsert per record: a batch holds hundreds of records (the VMs of a whole edit moving
        at once), and per-row statements cost more than the commit itself. Each table's rows are deleted by
        key (500 keys per statement) and the saved ones inserted again (``executemany`` of 64 rows per
        statement, the writer thread pausing for the loop between two: ``gilshare``). The rows, JSON included,
        are made before the write lock is taken (:func:`_statements`).
        """
        if not writes:
            return
        statements = _statements(writes)
        with self._database.write() as connection:
            for statement, parameters in statements:
                breathe()
                connection.execute(statement, parameters)

    def pending_events(self) -> list[tuple[str, dict[str, Any]]]:
        """The event journal, in the order the events were saved."""
        query = select(core_event_journal.c.event_id, core_event_journal.c.data).order_by(core_event_journal.c.seq)
        with self._database.read() as connection:
            rows = connection.execute(query).all()
        return [(str(row.event_id), dict(row.data)) for row in rows]

    # --- lookups by the indexed columns (for tools) ---------------------------------------------------

    def deployments_of(self, tenant: str, name: str | None = None) -> list[DeploymentRecord]:
        """The tenant's deployments (only those called ``name`` if given), by deployment id."""
        query = select(core_deployments.c.data).where(core_deployments.c.tenant == tenant)
        if name is not None:
            query = query.where(core_deployments.c.name == name)
        with self._database.read() as connection:
            rows: Sequence[RecordData] = connection.execute(query.order_by(core_deployments.c.dep_id)).scalars().all()
        return [DeploymentRecord.from_dict(data) for data in rows]
