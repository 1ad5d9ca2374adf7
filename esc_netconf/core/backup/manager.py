"""``SnapshotManager``: VM snapshots (create, export, delete, list) and volumes from snapshots.

Theory of operation
-------------------
Requests are validated synchronously; a refusal raises a ``LifecycleError`` (404/400/409) and nothing has
changed.  An accepted request writes its records first (the snapshot, and a ``BackupOperation`` holding
the work in flight), sends its first event (INIT, DELETING or VOLUME_ACCEPTED) and starts an asyncio
task that carries the operation through its phases (``create``, ``delete``, ``volume``), writing each
VIM id as soon as the VIM returns it.  Waiting is done by one ``BatchPoller`` for all operations.

A snapshot has at most one create or delete in flight; volumes may be made from an active snapshot
concurrently, and a snapshot is not deleted while a volume is being made from it.

``start()`` loads the snapshots and resumes every operation still recorded: an operation whose final
event was already sent is only finished; the others continue from their phase, judging the VIM at
once, and send only the events they have not sent (``BackupOperation.events_sent``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from esc_netconf.core.ids import new_id

from esc_netconf.core.backup.context import BackupContext, Setting
from esc_netconf.core.backup.create import run_create
from esc_netconf.core.backup.delete import run_delete
from esc_netconf.core.backup.export import confine
from esc_netconf.core.backup.notify import volume_parameters
from esc_netconf.core.backup.records import (BackupOperation, OperationKind, Phase, SnapshotRecord,
                                             SnapshotStatus, VolumeRequest)
from esc_netconf.core.backup.store import SnapshotStore
from esc_netconf.core.context import utc_now
from esc_netconf.core.errors import InvalidRequest, NotFound, StateConflict
from esc_netconf.core.backup.volume import run_volume
from esc_netconf.core.events import EventBus, EventType
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.states import VmState
from esc_netconf.vim.base import VimDriver

__all__ = ["MAX_NAME_LENGTH", "SNAPSHOTTABLE_STATES", "SnapshotManager"]

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 255
SNAPSHOTTABLE_STATES = frozenset({VmState.ALIVE, VmState.SHUTOFF})

_FINAL_EVENT = {
    OperationKind.CREATE: EventType.VM_BACKUP_COMPLETE,
    OperationKind.DELETE: EventType.VM_SNAPSHOT_DELETED,
    OperationKind.CREATE_VOLUME: EventType.VM_VOLUME_CREATED_EVENT,
}


class SnapshotManager:
    """Snapshots of the VMs ``core`` manages, taken through ``driver`` and kept in ``store``."""

    def __init__(self, core: EscCore, driver: VimDriver, store: SnapshotStore, bus: EventBus, *,
                 setting: Setting, export_dir: Path, clock: Callable[[], datetime] = utc_now,
                 vim_id: str = "default_openstack_vim") -> None:
        self._core = core
        self._ctx = BackupContext(driver, store, bus, setting=setting, clock=clock, vim_id=vim_id,
                                  export_dir=export_dir)
        self._operations: dict[str, BackupOperation] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        core.add_busy_check(self.capturing)

    # ---- lifetime -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the snapshots and resume the operations in flight (each remaining event sent once)."""
        ctx = self._ctx
        ctx.snapshots = {s.id: s for s in ctx.store.load_snapshots()}
        for op in ctx.store.load_operations():
            snapshot = ctx.snapshots.get(op.snapshot_id)
            if snapshot is None or op.succeeded is not None:
                self._conclude(op, snapshot)
                continue
            log.info("resumed snapshot %s of %s (interrupted at %s; started %s)", op.kind.lower(), snapshot.name,
                     op.phase.value, op.started.isoformat())
            self._launch(op, snapshot, resumed=True)

    def install(self, snapshots: dict[str, SnapshotRecord]) -> None:
        """Put ``snapshots`` (by id) in place of the managed snapshots, in one step, and resume nothing: a
        standby's view of the shared store, read off the loop (``esc_netconf.store.shared_records``)."""
        self._ctx.snapshots = snapshots

    async def stop(self) -> None:
        """Cancel every task; the records keep the work in flight for the next ``start``."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._ctx.poller.close()

    async def wait_idle(self, timeout: float) -> None:
        """Wait until no operation is in flight (for tests).

        :raises TimeoutError: still busy after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    # ---- queries ------------------------------------------------------------------------------

    def list_snapshots(self, tenant: str | None = None, generated_vm_name: str | None = None) -> list[SnapshotRecord]:
        """Managed snapshots (of one tenant, of one VM), oldest first; copies, safe to keep."""
        found = [s for s in self._ctx.snapshots.values()
                 if (tenant is None or s.tenant == tenant)
                 and (generated_vm_name is None or s.generated_vm_name == generated_vm_name)]
        found.sort(key=lambda s: (s.creation_start_date.timestamp() if s.creation_start_date else 0.0, s.id))
        return [copy.copy(s) for s in found]  # every field is immutable: a shallow copy is a safe copy

    def get_snapshot(self, reference: str) -> SnapshotRecord:
        """A managed snapshot by id, or by name when exactly one snapshot has that name (a copy).

        :raises NotFound: ``Snapshot image [<reference>] not found.``
        :raises InvalidRequest: several snapshots have that name.
        """
        return copy.copy(self._resolve(reference))

    def capturing(self, dep_id: str) -> str | None:
        """``"SNAPSHOT of VM [<name>]"`` while a snapshot of one of the deployment's VMs is being taken.

        The core consults this (``EscCore.add_busy_check``): until the image is complete the VIM refuses to
        stop, start or reboot the server (``task_state=image_snapshot``), so the core refuses actions and
        updates of the deployment and the monitor waits.  An export (the image is complete) does not count.
        """
        for op in self._operations.values():
            task = self._tasks.get(op.op_id)
            if task is None or task.done():  # cancelled before it ran (stop): not capturing in this process
                continue
            if op.kind is OperationKind.CREATE and op.phase in (Phase.REQUEST, Phase.POLL):
                snapshot = self._ctx.snapshots.get(op.snapshot_id)
                if snapshot is not None and snapshot.dep_id == dep_id:
                    return f"SNAPSHOT of VM [{snapshot.generated_vm_name}]"
        return None

    # ---- requests -----------------------------------------------------------------------------

    def create_snapshot(self, vm_name: str, name: str, *, export: bool = False, destination: str | None = None,
                        transaction_id: str | None = None) -> SnapshotRecord:
        """``vmBackupAction`` (SNAPSHOT, or EXPORT with ``export``): validate, send ``VM_BACKUP_INIT``, start.

        :raises InvalidRequest: the name is empty or longer than 255 characters; a bad destination, or one
            outside the export directory (``export.confine``).
        :raises NotFound: no VM has that generated name.
        :raises StateConflict: an operation runs on the VM's deployment, the VM is not alive or stopped, or
            it is being snapshotted already.
        """
        _check_name("Snapshot", name)
        if destination is not None:
            confine(self._ctx.export_dir, destination)
        vm = self._core.find_vm(vm_name)
        if vm is None:
            raise NotFound(f"VM [{vm_name}] not found.")
        if vm.state not in SNAPSHOTTABLE_STATES:
            raise StateConflict(f"VM [{vm.name}] is in {vm.state.value}; a snapshot can only be taken of a VM in "
                                f"{VmState.ALIVE.value} or {VmState.SHUTOFF.value}.")
        if vm.server_id is None:
            raise StateConflict(f"VM [{vm.name}] has no server in the VIM yet; a snapshot is not possible.")
        operation = self._core.busy_with(vm.dep_id)
        if operation is not None:
            raise StateConflict(f"Deployment [{vm.tenant}/{vm.deployment}] is busy with {operation}; a snapshot "
                                f"of VM [{vm.name}] can be taken when it finishes.")
        creating = {op.snapshot_id for op in self._operations.values() if op.kind is OperationKind.CREATE}
        busy = next((sid for sid in creating if getattr(self._ctx.snapshots.get(sid), "vm_id", None) == vm.vm_id),
                    None)
        if busy is not None:
            raise StateConflict(f"VM [{vm.name}] is already being snapshotted (snapshot [{busy}]); "
                                f"try again when it finishes.")
        tenant = next((t for t in self._core.tenants() if t.name == vm.tenant), None)
        now = self._ctx.clock()
        snapshot = SnapshotRecord(
            id=new_id(), name=name, tenant=vm.tenant, generated_vm_name=vm.name, vm_id=vm.vm_id,
            server_id=vm.server_id, deployment=vm.deployment, dep_id=vm.dep_id, vm_group=vm.group,
            vim_id=tenant.vim_id if tenant else self._ctx.vim_id, tenant_id=tenant.project_id if tenant else None,
            host_id=vm.host_id, hostname=vm.hostname, creation_start_date=now,
            status_message=f"Snapshot of VM [{vm.name}] requested.")
        op = BackupOperation(new_id(), OperationKind.CREATE, snapshot.id, now, transaction_id=transaction_id,
                             export=export, destination=destination)
        self._ctx.emit(op, snapshot, EventType.VM_BACKUP_INIT,
                       f"Snapshot [{name}] of VM [{vm.name}] validated; snapshot id [{snapshot.id}].",
                       snapshot_changed=True)
        self._launch(op, snapshot, resumed=False)
        return SnapshotRecord.from_dict(snapshot.to_dict())

    def delete_snapshot(self, reference: str, *, transaction_id: str | None = None) -> SnapshotRecord:
        """``snapshotAction DELETE``: validate, send ``VM_SNAPSHOT_DELETING``, start.

        :raises NotFound: ``Snapshot image [<reference>] not found.``
        :raises InvalidRequest: the name is shared by several snapshots (use the id).
        :raises StateConflict: the snapshot is being created, deleted or used to make a volume.
        """
        snapshot = self._resolve(reference)
        running = [op for op in self._operations.values() if op.snapshot_id == snapshot.id]
        if running:
            doing = {OperationKind.CREATE: "being created", OperationKind.DELETE: "already being deleted",
                     OperationKind.CREATE_VOLUME: "being used to create a volume"}[running[0].kind]
            raise StateConflict(f"Snapshot [{snapshot.id}] is {doing}; try again when it finishes.")
        op = BackupOperation(new_id(), OperationKind.DELETE, snapshot.id, self._ctx.clock(),
                             transaction_id=transaction_id)
        snapshot.status = SnapshotStatus.DELETING
        snapshot.status_message = f"Snapshot image [{snapshot.id}] is being deleted."
        self._ctx.emit(op, snapshot, EventType.VM_SNAPSHOT_DELETING, snapshot.status_message, snapshot_changed=True)
        self._launch(op, snapshot, resumed=False)
        return SnapshotRecord.from_dict(snapshot.to_dict())

    def create_volume_from_snapshot(self, snapshot_id: str, name: str, *, volume_type: str | None = None,
                                    multiattach: bool = False, bootable: bool = True,
                                    transaction_id: str | None = None) -> VolumeRequest:
        """A bootable volume from the snapshot's volume snapshot: validate, send ``VM_VOLUME_ACCEPTED_EVENT``
        (REST callbacks only), start.  The volume is out of band once made.

        :raises InvalidRequest: the name is empty or longer than 255 characters; the snapshot has no
            volume snapshot (its VM did not boot from a volume).
        :raises NotFound: no managed snapshot has that id.
        :raises StateConflict: the snapshot is not active (still being made, failed, being deleted).
        """
        _check_name("Volume", name)
        snapshot = self._ctx.snapshots.get(snapshot_id)
        if snapshot is None:
            raise NotFound(f"Snapshot [{snapshot_id}] not found.")
        if snapshot.status is not SnapshotStatus.ACTIVE:
            raise StateConflict(f"Snapshot [{snapshot_id}] is {snapshot.status.value}; a volume can only be made "
                                f"from an active snapshot.")
        if not snapshot.volume_snapshot_id:
            raise InvalidRequest(f"Snapshot [{snapshot_id}] was not taken of a VM with a bootable volume; "
                                 f"it has no volume snapshot to make a volume from.")
        request = VolumeRequest(new_id(), snapshot_id, name, volume_type, multiattach, bootable)
        op = BackupOperation(new_id(), OperationKind.CREATE_VOLUME, snapshot_id, self._ctx.clock(),
                             transaction_id=transaction_id, volume=request)
        self._ctx.emit(op, snapshot, EventType.VM_VOLUME_ACCEPTED_EVENT, "Create volume snapshot request accepted",
                       parameters=volume_parameters(snapshot, request))
        self._launch(op, snapshot, resumed=False)
        return VolumeRequest.from_dict(request.to_dict())

    # ---- helpers ------------------------------------------------------------------------------

    def _resolve(self, reference: str) -> SnapshotRecord:
        snapshots = self._ctx.snapshots
        if reference in snapshots:
            return snapshots[reference]
        named = [s for s in snapshots.values() if s.name == reference]
        if not named:
            raise NotFound(f"Snapshot image [{reference}] not found.")
        if len(named) > 1:
            raise InvalidRequest(f"Snapshot name [{reference}] is not unique ({len(named)} snapshots have it); "
                                 f"use the snapshot id.")
        return named[0]

    def _launch(self, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> None:
        workflow = {OperationKind.CREATE: run_create, OperationKind.DELETE: run_delete,
                    OperationKind.CREATE_VOLUME: run_volume}[op.kind]
        self._operations[op.op_id] = op

        async def run() -> None:
            try:
                await workflow(self._ctx, op, snapshot, resumed=resumed)
            except asyncio.CancelledError:
                raise  # shutdown (or kill): the record stays for the next start
            except Exception as exc:
                log.exception("%s of snapshot %s failed", op.kind.value, snapshot.id)
                self._ctx.fail_internally(op, snapshot, _FINAL_EVENT[op.kind], f"Internal error: {exc}")
            finally:
                self._tasks.pop(op.op_id, None)
                self._operations.pop(op.op_id, None)
            self._conclude(op, snapshot)

        self._tasks[op.op_id] = asyncio.get_running_loop().create_task(
            run(), name=f"backup-{op.kind.value}-{snapshot.id}")

    def _conclude(self, op: BackupOperation, snapshot: SnapshotRecord | None) -> None:
        """The operation's final event is out: finish what follows it and forget the operation."""
        if op.kind is OperationKind.DELETE and op.succeeded and snapshot is not None:
            self._ctx.forget(snapshot.id)
        self._ctx.store.finish_operation(op.op_id)


def _check_name(what: str, name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME_LENGTH:
        raise InvalidRequest(f"{what} name must be 1 to {MAX_NAME_LENGTH} characters long, not {len(name)}.")
