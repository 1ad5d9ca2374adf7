"""A bootable volume from a snapshot's volume snapshot (REST ``POST /snapshots/{id}/volumes``).

Theory of operation
-------------------
``VM_VOLUME_ACCEPTED_EVENT`` was sent when the request was validated.  Phases::

    REQUEST --volume requested (id recorded)--> POLL --available--> VM_VOLUME_CREATED_EVENT (201)
    REQUEST --the VIM refused--> VM_VOLUME_CREATED_EVENT/FAILURE (the VIM's message)
    POLL --error / vanished / timeout--> VM_VOLUME_CREATED_EVENT/FAILURE

The volume is sized from the volume snapshot and tagged in its description with our request id, so a
resumed REQUEST finds a volume requested before a crash instead of making a second one.  Once made, the
volume is out of band: nothing here tracks it further.  Both events go to REST callbacks only.
"""

from __future__ import annotations

from esc_netconf.core.backup.context import BackupContext
from esc_netconf.core.backup.decide import Outcome, judge_volume
from esc_netconf.core.backup.notify import volume_parameters
from esc_netconf.core.backup.polling import Watch
from esc_netconf.core.backup.records import BackupOperation, Phase, SnapshotRecord, VolumeRequest
from esc_netconf.core.events import EventType
from esc_netconf.vim.base import VimError, Volume

__all__ = ["request_tag", "run_volume"]


def request_tag(request: VolumeRequest) -> str:
    """The description that marks a volume as made for ``request``."""
    return f"esc-volume-request:{request.id}"


async def run_volume(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, *, resumed: bool) -> None:
    """Carry ``op`` from its current phase to ``VM_VOLUME_CREATED_EVENT``."""
    request = op.volume
    if request is None:  # not a volume operation: nothing to resume
        return
    if op.phase is Phase.REQUEST:
        try:
            volume = await _existing(ctx, snapshot, request) if resumed else None
            if volume is None:
                volume = await _create(ctx, snapshot, request)
        except VimError as exc:
            _finish(ctx, op, snapshot, request, Outcome(False, exc.message))
            return
        request.volume_id, request.size_gb, request.status = volume.id, volume.size_gb, volume.status.value
        op.phase = Phase.POLL
        ctx.save_op(op)
    volume_id = request.volume_id or ""
    watch: Watch[Outcome] = Watch(
        judge=lambda view: judge_volume(view, volume_id, request.name),
        expired=ctx.deadline(op, "volume.create", f"Creation of volume [{request.name}]"),
        period=ctx.period("volume.create"),
        volume_ids=(volume_id,),
    )
    _finish(ctx, op, snapshot, request, await ctx.poller.wait(watch, immediately=resumed))


async def _existing(ctx: BackupContext, snapshot: SnapshotRecord, request: VolumeRequest) -> Volume | None:
    tag = request_tag(request)
    volumes = await ctx.driver.list_volumes(snapshot.tenant_id)
    return next((v for v in volumes if v.description == tag), None)


async def _create(ctx: BackupContext, snapshot: SnapshotRecord, request: VolumeRequest) -> Volume:
    source = await ctx.driver.get_volume_snapshot(snapshot.volume_snapshot_id or "")
    return await ctx.driver.create_volume(
        request.name, project_id=source.project_id, size_gb=source.size_gb, snapshot_id=source.id,
        volume_type=request.volume_type, bootable=request.bootable, multiattach=request.multiattach,
        description=request_tag(request))


def _finish(ctx: BackupContext, op: BackupOperation, snapshot: SnapshotRecord, request: VolumeRequest,
            outcome: Outcome) -> None:
    if outcome.volume is not None:
        request.status = outcome.volume.status.value
        request.size_gb = outcome.volume.size_gb
        request.volume_type = outcome.volume.volume_type or request.volume_type
    elif not outcome.ok:
        request.status = "error"
    ctx.emit(op, snapshot, EventType.VM_VOLUME_CREATED_EVENT, outcome.message, ok=outcome.ok, final=True,
             parameters=volume_parameters(snapshot, request))
