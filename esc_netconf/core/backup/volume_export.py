"""The bytes of a volume-backed snapshot: staged in a temporary image, and the temporaries removed after.

Why: Nova's snapshot of a server that boots from a volume is an image with *no data* (size 0); it only
names the Cinder snapshots of the server's volumes.  Downloading it exports nothing.  The volume's data
reaches Glance only through Cinder's "upload to image", which works on a volume, not on a snapshot.
So an EXPORT of such a snapshot makes a temporary volume from the volume snapshot, uploads it to a
temporary image, downloads that image (``export.export_image``: md5 checked against Glance's checksum)
and deletes both temporaries before reporting.

Phases (``BackupOperation.phase``)::

    EXPORT_VOLUME --volume available--> EXPORT_UPLOAD --image active, volume idle--> EXPORT --> CLEANUP
    EXPORT_VOLUME/EXPORT_UPLOAD --error, gone, empty image or timeout--> CLEANUP (the outcome a FAILURE)

Each VIM id is recorded as soon as the VIM returns it.  The temporaries are tagged (the volume's
description ``esc-export:<op id>``, the image's name ``esc-export-<op id>``) so that a restart after a
``kill -9`` between asking and recording finds them instead of making (and leaking) second ones.
``CLEANUP`` is idempotent and runs again on restart; a temporary the VIM will not delete in time is
named in the final event's message.  Waits are bounded by ``vim.asyncpoller.snapshot.export.timeout.mins``
counted from the start of the export.
"""

from __future__ import annotations

import asyncio
import logging

from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.backup.decide import Outcome, judge_export_volume, judge_upload
from esc_netconf.core.backup.polling import Watch
from esc_netconf.core.backup.records import BackupOperation, Phase, SnapshotRecord
from esc_netconf.vim.base import VimError, VimNotFound, VolumeStatus

__all__ = ["EXPORT_OPERATION", "discard_temporaries", "stage_volume_image", "temporary_name", "volume_tag"]

log = logging.getLogger(__name__)

EXPORT_OPERATION = "snapshot.export"
"""The settings family (``vim.asyncpoller.snapshot.export.*``) of the export's waits."""

_DELETABLE = frozenset({VolumeStatus.AVAILABLE, VolumeStatus.ERROR})


def volume_tag(op: BackupOperation) -> str:
    """The description that marks a volume as the temporary of ``op``."""
    return f"esc-export:{op.op_id}"


def temporary_name(op: BackupOperation) -> str:
    """The name of ``op``'s temporary volume and image."""
    return f"esc-export-{op.op_id}"


async def stage_volume_image(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *,
                             resumed: bool) -> Outcome:
    """Carry ``op`` through ``EXPORT_VOLUME`` and ``EXPORT_UPLOAD``: on success ``op.export_image_id`` is an
    active image holding the volume snapshot's data and ``op.phase`` is ``EXPORT``."""
    try:
        if op.phase is Phase.EXPORT_VOLUME:
            outcome = await _make_volume(ctx, op, snapshot, resumed=resumed)
            if not outcome.ok:
                return outcome
            op.phase = Phase.EXPORT_UPLOAD
            ctx.save_op(op)
        if op.phase is Phase.EXPORT_UPLOAD:
            outcome = await _upload(ctx, op, snapshot, resumed=resumed)
            if not outcome.ok:
                return outcome
            op.phase = Phase.EXPORT
            ctx.save_op(op)
    except VimError as exc:
        return Outcome(False, f"Export of snapshot [{snapshot.id}] failed: {exc.message}")
    return Outcome(True, "staged")


async def _make_volume(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *,
                       resumed: bool) -> Outcome:
    if op.export_volume_id is None:
        volume_id = await _tagged_volume(ctx, op, snapshot) if resumed else None
        if volume_id is None:
            source = await ctx.driver.get_volume_snapshot(snapshot.volume_snapshot_id or "")
            volume = await ctx.driver.create_volume(
                temporary_name(op), project_id=source.project_id, size_gb=source.size_gb, snapshot_id=source.id,
                description=volume_tag(op))
            volume_id = volume.id
        op.export_volume_id = volume_id
        ctx.save_op(op)
        log.info("export of snapshot %s: temporary volume %s from volume snapshot %s", snapshot.id, volume_id,
                 snapshot.volume_snapshot_id)
    volume_id = op.export_volume_id
    watch: Watch[Outcome] = Watch(
        judge=lambda view: judge_export_volume(view, volume_id, snapshot.id),
        expired=ctx.deadline(op, EXPORT_OPERATION, f"Export of snapshot [{snapshot.id}]", since=op.export_started),
        period=ctx.period(EXPORT_OPERATION),
        volume_ids=(volume_id,),
    )
    return await ctx.poller.wait(watch, immediately=resumed)


async def _upload(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> Outcome:
    volume_id = op.export_volume_id or ""
    if op.export_image_id is None:
        image_id = await _named_image(ctx, op) if resumed else None
        if image_id is None:
            image_id = await ctx.driver.upload_volume_to_image(volume_id, temporary_name(op))
        op.export_image_id = image_id
        ctx.save_op(op)
        log.info("export of snapshot %s: volume %s uploading to temporary image %s", snapshot.id, volume_id,
                 image_id)
    image_id = op.export_image_id
    watch: Watch[Outcome] = Watch(
        judge=lambda view: judge_upload(view, image_id, volume_id, snapshot.id),
        expired=ctx.deadline(op, EXPORT_OPERATION, f"Export of snapshot [{snapshot.id}]", since=op.export_started),
        period=ctx.period(EXPORT_OPERATION),
        image_ids=(image_id,),
        volume_ids=(volume_id,),
    )
    return await ctx.poller.wait(watch, immediately=resumed)


async def _tagged_volume(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord) -> str | None:
    tag = volume_tag(op)
    volumes = await ctx.driver.list_volumes(snapshot.tenant_id)
    return next((v.id for v in volumes if v.description == tag), None)


async def _named_image(ctx: BackupContext, op: BackupOperation) -> str | None:
    images = await ctx.driver.list_images(name=temporary_name(op))
    return images[0].id if images else None


async def discard_temporaries(ctx: BackupContext, op: BackupOperation) -> str | None:
    """Delete ``op``'s temporary image, then its volume (once the VIM lets it go); ``None`` when both are
    gone or going, else a sentence naming what is left, for the final event.

    Deleting the image first also ends an upload still in progress, which frees the volume.  Absent
    temporaries are fine (this runs again after a restart).
    """
    problems: list[str] = []
    if op.export_image_id is not None:
        try:
            await ctx.driver.delete_image(op.export_image_id)
        except VimNotFound:
            pass
        except VimError as exc:
            problems.append(f"temporary image [{op.export_image_id}] could not be deleted: {exc.message}")
    if op.export_volume_id is not None:
        problem = await _delete_volume(ctx, op.export_volume_id)
        if problem is not None:
            problems.append(problem)
    if not problems:
        return None
    log.warning("export %s left temporaries behind: %s", op.op_id, "; ".join(problems))
    return f"Clean-up incomplete, delete by hand: {'; '.join(problems)}."


async def _delete_volume(ctx: BackupContext, volume_id: str) -> str | None:
    """Delete the volume as soon as it is idle, waiting at most one export timeout."""
    loop = asyncio.get_running_loop()
    limit = loop.time() + ctx.setting(f"vim.asyncpoller.{EXPORT_OPERATION}.timeout.mins") * 60
    seen = "unknown"
    while True:
        try:
            volume = await ctx.driver.get_volume(volume_id)
            seen = volume.status.value
            if volume.status is VolumeStatus.DELETING:
                return None
            if volume.status in _DELETABLE:
                await ctx.driver.delete_volume(volume_id)
                return None
        except VimNotFound:
            return None
        except VimError as exc:  # busy (conflict) or unreachable: try again
            seen = exc.message
        if loop.time() >= limit:
            return f"temporary volume [{volume_id}] could not be deleted (last seen: {seen})"
        await asyncio.sleep(ctx.setting(f"vim.asyncpoller.{EXPORT_OPERATION}.poll.secs"))
