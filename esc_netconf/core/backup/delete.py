"""Delete a snapshot: the workflow behind ``snapshotAction DELETE``.

Theory of operation
-------------------
``VM_SNAPSHOT_DELETING`` was sent when the request was validated.  Phases::

    REQUEST --delete image and volume snapshot requested--> POLL --both gone--> DELETED (record forgotten)
    REQUEST --the VIM refused--> DELETED/FAILURE (snapshot kept, status error_deleting)
    POLL --error_deleting / timeout--> DELETED/FAILURE

A resumed REQUEST simply asks again: deleting what is already gone (``VimNotFound``) counts as done.
The event is sent before the record is forgotten; ``op.succeeded`` (written with the event) tells a
restart that falls between the two to finish forgetting it.
"""

from __future__ import annotations

from collections.abc import Awaitable

from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.backup.decide import Outcome, judge_delete
from esc_netconf.core.backup.polling import Watch
from esc_netconf.core.backup.records import BackupOperation, Phase, SnapshotRecord, SnapshotStatus
from esc_netconf.core.events import EventType
from esc_netconf.vim.base import VimError, VimNotFound

__all__ = ["run_delete"]


async def run_delete(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> None:
    """Carry ``op`` from its current phase to ``VM_SNAPSHOT_DELETED``."""
    if op.phase is Phase.REQUEST:
        try:
            if snapshot.image_id:
                await _ignore_missing(ctx.driver.delete_image(snapshot.image_id))
            if snapshot.volume_snapshot_id:
                await _ignore_missing(ctx.driver.delete_volume_snapshot(snapshot.volume_snapshot_id))
        except VimError as exc:
            finish_delete(ctx, op, snapshot, Outcome(False, exc.message))
            return
        op.phase = Phase.POLL
        ctx.save_op(op)
    if not snapshot.image_id and not snapshot.volume_snapshot_id:
        finish_delete(ctx, op, snapshot, Outcome(True, f"Snapshot image [{snapshot.id}] has been deleted."))
        return
    image_id, volume_snapshot_id = snapshot.image_id, snapshot.volume_snapshot_id
    watch: Watch[Outcome] = Watch(
        judge=lambda view: judge_delete(view, snapshot.id, image_id, volume_snapshot_id),
        expired=ctx.deadline(op, "snapshot.delete", f"Deletion of snapshot [{snapshot.id}]"),
        period=ctx.period("snapshot.delete"),
        image_ids=(image_id,) if image_id else (),
        volume_snapshot_ids=(volume_snapshot_id,) if volume_snapshot_id else (),
    )
    finish_delete(ctx, op, snapshot, await ctx.poller.wait(watch, immediately=resumed))


def finish_delete(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, outcome: Outcome) -> None:
    """Send ``VM_SNAPSHOT_DELETED``; forget the snapshot on success, mark it ``error_deleting`` otherwise."""
    if not outcome.ok:
        snapshot.status = SnapshotStatus.ERROR_DELETING
        snapshot.status_message = outcome.message
    ctx.emit(op, snapshot, EventType.VM_SNAPSHOT_DELETED, outcome.message, ok=outcome.ok, final=True,
             snapshot_changed=not outcome.ok)
    if outcome.ok:
        ctx.forget(snapshot.id)


async def _ignore_missing(call: Awaitable[None]) -> None:
    try:
        await call
    except VimNotFound:
        pass
