"""Create (and export) a snapshot: the workflow behind ``vmBackupAction``.

Theory of operation
-------------------
Phases of the ``BackupOperation`` (``INIT`` was already sent when the request was validated)::

    REQUEST --VIM accepted (image id recorded, CREATED)--> POLL --image active--> [export] --> COMPLETE
    REQUEST --VIM refused--> COMPLETE/FAILURE (the VIM's message)
    POLL --killed / volume snapshot error / timeout--> COMPLETE/FAILURE
    export: [EXPORT_VOLUME --> EXPORT_UPLOAD -->] EXPORT --> CLEANUP --> COMPLETE (SUCCESS or FAILURE)

An image-backed snapshot is exported by downloading its image (``EXPORT``).  A volume-backed one has an
empty image, so its volume snapshot's data is first staged in a temporary image (``volume_export``);
``CLEANUP`` deletes the temporaries before ``VM_BACKUP_COMPLETE``.  SUCCESS means a non-empty file whose
md5 matched the VIM's checksum; anything less is a FAILURE (the snapshot itself stays ``active``).

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
from esc_netconf.core.backup.records import EXPORT_PHASES, BackupOperation, Phase, SnapshotRecord, SnapshotStatus
from esc_netconf.core.backup.volume_export import discard_temporaries, stage_volume_image
from esc_netconf.core.errors import InvalidRequest
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
        op.phase = Phase.EXPORT_VOLUME if snapshot.volume_snapshot_id else Phase.EXPORT
        op.export_started = ctx.clock()
        ctx.progress(snapshot, op)
    if op.phase in EXPORT_PHASES:
        await _export(ctx, op, snapshot, resumed=resumed)


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


async def _export(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> None:
    """Export, then delete any temporaries, then report; the outcome is durable before the clean-up."""
    if op.phase is not Phase.CLEANUP:
        try:
            ok, message = await _export_data(ctx, op, snapshot, resumed=resumed)
        except Exception as exc:  # the temporaries must still go: decide a FAILURE, then clean up
            log.exception("export of snapshot %s failed", snapshot.id)
            ok, message = False, f"Export of snapshot [{snapshot.id}] failed: internal error: {exc}"
        op.outcome_ok, op.outcome_message = ok, message
        op.phase = Phase.CLEANUP
        ctx.progress(snapshot, op)
    leftover = await discard_temporaries(ctx, op)
    message = op.outcome_message or f"Export of snapshot [{snapshot.id}] ended."
    _complete(ctx, op, snapshot, ok=bool(op.outcome_ok), image_usable=True,
              message=f"{message} {leftover}" if leftover else message)


async def _export_data(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *,
                       resumed: bool) -> tuple[bool, str]:
    """Write the snapshot's data to its file; ``(ok, message)`` for ``VM_BACKUP_COMPLETE``.

    An image-backed snapshot's own image is downloaded; a volume-backed one's data is first staged in a
    temporary image (``volume_export``), because its own image is empty.
    """
    image_id = snapshot.image_id or ""
    source = f"snapshot image [{image_id}]"
    if snapshot.volume_snapshot_id:
        staged = await stage_volume_image(ctx, op, snapshot, resumed=resumed)
        if not staged.ok:
            return False, staged.message
        image_id = op.export_image_id or ""
        source = f"volume snapshot [{snapshot.volume_snapshot_id}] via image [{image_id}]"
    try:
        image = await ctx.driver.get_image(image_id)
        path = export_path(ctx.export_dir, op.destination, snapshot.name, image.disk_format)
        log.info("exporting snapshot %s (%s, %s bytes) to %s", snapshot.id, source, image.size, path)
        written = await export_image(ctx.driver, image.id, image.checksum, image.size, path,
                                     export_dir=ctx.export_dir)
    except VimError as exc:
        return False, f"Export of snapshot [{snapshot.id}] failed: {exc.message}"
    except (ExportFailed, InvalidRequest) as exc:
        return False, exc.message
    snapshot.export_path = str(path)
    return True, (f"Snapshot image for VM [{snapshot.generated_vm_name}] is active and exported to [{path}] "
                  f"({written} bytes of {source}, md5 {image.checksum} verified).")


def _complete(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, ok: bool, message: str,
              image_usable: bool = False) -> None:
    """Record the end of the create and send ``VM_BACKUP_COMPLETE``.

    ``image_usable``: the snapshot itself is fine in the VIM (only its export failed), so it stays ``active``.
    """
    snapshot.status = SnapshotStatus.ACTIVE if ok or image_usable else SnapshotStatus.ERROR
    snapshot.status_message = message
    snapshot.creation_end_date = ctx.clock()
    ctx.emit(op, snapshot, EventType.VM_BACKUP_COMPLETE, message, ok=ok, final=True, snapshot_changed=True)
