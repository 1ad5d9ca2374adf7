"""Pure decisions: what one polling round means for an operation in flight.

Each ``judge_*`` takes what the VIM showed (``VimView``) and returns an ``Outcome`` once the operation
has finished, well or badly, or ``None`` while it is still in progress.  They never act: the workflows
(``create``, ``delete``, ``volume``) act on the outcome.  Keeping them pure lets the tests walk every
status combination without a cloud.
"""

from __future__ import annotations

from dataclasses import dataclass

from esc_netconf.core.backup.polling import VimView
from esc_netconf.vim.base import Image, ImageStatus, Volume, VolumeSnapshotStatus, VolumeStatus

__all__ = ["Outcome", "judge_create", "judge_delete", "judge_export_volume", "judge_upload", "judge_volume",
           "timed_out"]

_IMAGE_FAILED = frozenset({ImageStatus.KILLED, ImageStatus.DEACTIVATED, ImageStatus.DELETED,
                           ImageStatus.PENDING_DELETE})
_IMAGE_GONE = frozenset({ImageStatus.DELETED})


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an operation ended; ``image``/``volume`` is what the VIM showed at the end (on success)."""

    ok: bool
    message: str
    image: Image | None = None
    volume_snapshot_id: str | None = None
    volume: Volume | None = None


def judge_create(view: VimView, image_id: str, vm_name: str) -> Outcome | None:
    """The snapshot is done when its image is ``active`` and every volume snapshot behind it is
    ``available``; it failed when the image is killed or gone, or a volume snapshot errs or vanishes."""
    image = view.images.get(image_id)
    if image is None:
        return Outcome(False, f"Snapshot image [{image_id}] of VM [{vm_name}] disappeared from the VIM.")
    if image.status in _IMAGE_FAILED:
        return Outcome(False, f"Snapshot image [{image_id}] of VM [{vm_name}] failed in the VIM "
                              f"(image status {image.status.value}).")
    if image.status is not ImageStatus.ACTIVE:
        return None
    snapshot_ids = image.volume_snapshot_ids()
    for snapshot_id in snapshot_ids:
        snapshot = view.volume_snapshots.get(snapshot_id)
        if snapshot is None:
            return Outcome(False, f"Volume snapshot [{snapshot_id}] of VM [{vm_name}] disappeared from the VIM.")
        if snapshot.status is VolumeSnapshotStatus.ERROR:
            return Outcome(False, f"Volume snapshot [{snapshot_id}] of VM [{vm_name}] failed in the VIM "
                                  f"(status error).")
        if snapshot.status is not VolumeSnapshotStatus.AVAILABLE:
            return None
    return Outcome(True, f"Snapshot image for VM [{vm_name}] is active.", image=image,
                   volume_snapshot_id=snapshot_ids[0] if snapshot_ids else None)


def judge_delete(view: VimView, snapshot_id: str, image_id: str | None,
                 volume_snapshot_id: str | None) -> Outcome | None:
    """Deleted when neither the image nor the volume snapshot is left; failed when Cinder reports
    ``error_deleting``."""
    image = view.images.get(image_id) if image_id else None
    if image is not None and image.status not in _IMAGE_GONE:
        return None
    snapshot = view.volume_snapshots.get(volume_snapshot_id) if volume_snapshot_id else None
    if snapshot is not None:
        if snapshot.status is VolumeSnapshotStatus.ERROR_DELETING:
            return Outcome(False, f"Volume snapshot [{volume_snapshot_id}] of snapshot [{snapshot_id}] could not "
                                  f"be deleted (status error_deleting).")
        if snapshot.status is not VolumeSnapshotStatus.DELETED:
            return None
    return Outcome(True, f"Snapshot image [{snapshot_id}] has been deleted.")


def judge_volume(view: VimView, volume_id: str, name: str) -> Outcome | None:
    """The volume is made when ``available``; failed on ``error`` or when it vanished."""
    volume = view.volumes.get(volume_id)
    if volume is None:
        return Outcome(False, f"Volume [{name}] ({volume_id}) disappeared from the VIM.")
    if volume.status is VolumeStatus.ERROR:
        return Outcome(False, f"Volume [{name}] ({volume_id}) could not be created (status error).")
    if volume.status in (VolumeStatus.AVAILABLE, VolumeStatus.IN_USE):
        return Outcome(True, "Create volume snapshot request completed", volume=volume)
    return None


def judge_export_volume(view: VimView, volume_id: str, snapshot_id: str) -> Outcome | None:
    """The temporary volume an export reads is ready when ``available``; failed on ``error`` or gone."""
    volume = view.volumes.get(volume_id)
    if volume is None:
        return Outcome(False, f"Temporary volume [{volume_id}] for the export of snapshot [{snapshot_id}] "
                              f"disappeared from the VIM.")
    if volume.status is VolumeStatus.ERROR:
        return Outcome(False, f"Temporary volume [{volume_id}] for the export of snapshot [{snapshot_id}] "
                              f"could not be created from its volume snapshot (status error).")
    if volume.status is VolumeStatus.AVAILABLE:
        return Outcome(True, "ready", volume=volume)
    return None


def judge_upload(view: VimView, image_id: str, volume_id: str, snapshot_id: str) -> Outcome | None:
    """The upload of the temporary volume is done when its image is ``active`` with data and the volume
    has left ``uploading``; failed when the image is killed, gone, or active without any data."""
    image = view.images.get(image_id)
    what = f"Upload of the volume of snapshot [{snapshot_id}] to image [{image_id}]"
    if image is None:
        return Outcome(False, f"{what} failed: the image disappeared from the VIM.")
    if image.status in _IMAGE_FAILED:
        return Outcome(False, f"{what} failed in the VIM (image status {image.status.value}).")
    if image.status is not ImageStatus.ACTIVE:
        return None
    if not image.size or not image.checksum:
        return Outcome(False, f"{what} produced an empty image (size {image.size or 0}, no data to export).")
    volume = view.volumes.get(volume_id)
    if volume is not None and volume.status is VolumeStatus.UPLOADING:
        return None
    return Outcome(True, "uploaded", image=image)


def timed_out(elapsed_seconds: float, limit_minutes: float, what: str) -> Outcome | None:
    """A failure once ``elapsed_seconds`` exceeds ``limit_minutes`` (fractions allowed)."""
    if elapsed_seconds <= limit_minutes * 60:
        return None
    return Outcome(False, f"{what} did not complete within {limit_minutes:g} minute(s).")
