"""Create (and export) a snapshot: the workflow behind ``vmBackupAction``.

Theory of operation
-------------------
Phases of the ``BackupOperation`` (``INIT`` was already sent when the request was validated)::

    REQUEST --VIM accepted (image id recorded, CREATED)--> POLL --image active--> [EXPORT] --> COMPLETE
    REQUEST --VIM refused--> COMPLETE/FAILURE (the VIM's message)
    POLL --killed / volume snapshot error / timeout--> COMPLETE/FAILURE
    EXPORT --download or checksum failed--> COMPLETE/FAILURE

The image is requested with the metadata ``esc_snapshot_id = <our id>``: if we die between asking the
VIM and recording its answer, a resumed REQUEST finds that image by name and tag instead of making a
second one.  For a VM booted from a volume the VIM also takes a volume snapshot ("snapshot for <name>",
listed in the image's block device mapping); the snapshot is complete only when both are.
"""

from __future__ import annotations

import logging

from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.backup.decide import Outcome, judge_create
from esc_netconf.core.backup.export import ExportFailed, export_image, export_path
from esc_netconf.core.backup.polling import Watch
from esc_netconf.core.backup.records import BackupOperation, Phase, SnapshotRecord, SnapshotStatus
from esc_netconf.core.events import EventType
from esc_netconf.vim.base import VimError

__all__ = ["SNAPSHOT_TAG", "run_create"]

log = logging.getLogger(__name__)

SNAPSHOT_TAG = "esc_snapshot_id"
"""Image metadata key carrying our snapshot id."""


async def run_create(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> None:
    """Carry ``op`` from its current phase to ``VM_BACKUP_COMPLETE``."""
    if op.phase is Phase.REQUEST and not await _request(ctx, op, snapshot, resumed=resumed):
        return
    if op.phase is Phase.POLL:
        image_id = snapshot.image_id or ""
        watch: Watch[Outcome] = Watch(
            judge=lambda view: judge_create(view, image_id, snapshot.generated_vm_name),
            expired=ctx.deadline(op, "snapshot.create", f"Snapshot of VM [{snapshot.generated_vm_name}]"),
            period=ctx.period("snapshot.create"),
            image_ids=(image_id,),
            follow_volume_snapshots=True,
        )
        outcome = await ctx.poller.wait(watch, immediately=resumed)
        if not outcome.ok:
            _complete(ctx, op, snapshot, ok=False, message=outcome.message)
            return
        snapshot.volume_snapshot_id = outcome.volume_snapshot_id
        snapshot.disk_format = outcome.image.disk_format if outcome.image else None
        if not op.export:
            _complete(ctx, op, snapshot, ok=True, message=outcome.message)
            return
        snapshot.status = SnapshotStatus.EXPORTING
        snapshot.status_message = f"Snapshot image for VM [{snapshot.generated_vm_name}] is being exported."
        op.phase = Phase.EXPORT
        ctx.progress(snapshot, op)
    if op.phase is Phase.EXPORT:
        await _export(ctx, op, snapshot)


async def _request(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> bool:
    """Ask the VIM for the image (or find the one asked for before a crash); False if it refused."""
    try:
        image_id = await _existing_image(ctx, snapshot) if resumed else None
        if image_id is None:
            image_id = await ctx.driver.create_server_image(snapshot.server_id, snapshot.name,
                                                            {SNAPSHOT_TAG: snapshot.id})
    except VimError as exc:
        _complete(ctx, op, snapshot, ok=False, message=exc.message)
        return False
    snapshot.image_id = image_id
    snapshot.status = SnapshotStatus.QUEUED
    snapshot.status_message = f"Snapshot image [{image_id}] for VM [{snapshot.generated_vm_name}] is being created."
    op.phase = Phase.POLL
    ctx.emit(op, snapshot, EventType.VM_BACKUP_CREATED,
             f"Snapshot image [{image_id}] for VM [{snapshot.generated_vm_name}] was accepted by the VIM.",
             snapshot_changed=True)
    return True


async def _existing_image(ctx: BackupContext, snapshot: SnapshotRecord) -> str | None:
    images = await ctx.driver.list_images(name=snapshot.name)
    return next((i.id for i in images if i.properties.get(SNAPSHOT_TAG) == snapshot.id), None)


async def _export(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord) -> None:
    path = export_path(ctx.export_dir, op.destination, snapshot.name, snapshot.disk_format)
    try:
        image = await ctx.driver.get_image(snapshot.image_id or "")
        log.info("exporting snapshot %s (image %s, %s bytes) to %s", snapshot.id, image.id, image.size, path)
        await export_image(ctx.driver, image.id, image.checksum, image.size, path)
    except VimError as exc:
        _complete(ctx, op, snapshot, ok=False, image_usable=True,
                  message=f"Export of snapshot [{snapshot.id}] failed: {exc.message}")
        return
    except ExportFailed as exc:
        _complete(ctx, op, snapshot, ok=False, image_usable=True, message=exc.message)
        return
    snapshot.export_path = str(path)
    _complete(ctx, op, snapshot, ok=True,
              message=f"Snapshot image for VM [{snapshot.generated_vm_name}] is active and exported to [{path}].")


def _complete(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, ok: bool, message: str,
              image_usable: bool = False) -> None:
    """Record the end of the create and send ``VM_BACKUP_COMPLETE``.

    ``image_usable``: the snapshot itself is fine in the VIM (only its export failed), so it stays ``active``.
    """
    snapshot.status = SnapshotStatus.ACTIVE if ok or image_usable else SnapshotStatus.ERROR
    snapshot.status_message = message
    snapshot.creation_end_date = ctx.clock()
    ctx.emit(op, snapshot, EventType.VM_BACKUP_COMPLETE, message, ok=ok, final=True, snapshot_changed=True)
