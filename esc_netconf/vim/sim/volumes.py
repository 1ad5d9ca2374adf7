"""Simulated Cinder: volumes and volume snapshots.

Volume lifecycle: ``creating -> available`` (or ``error`` under fault ``volume.create=error``);
attachments move it ``attaching -> in-use`` and back ``detaching -> available`` (see
``attachments.py``); deletion goes ``deleting -> gone``. Snapshot lifecycle: ``creating ->
available`` (or ``error``), deletion ``deleting -> gone`` (or ``error_deleting``).
A volume keeps its attachments as ``{id, server_id, device, delete_on_termination}`` dicts.

*Data.* Like an image, a volume's bytes are pseudo-content named by ``(content_seed, content_size)``
(see ``content.py``): a volume made from an image holds that image's bytes, one made from a snapshot
holds the bytes its volume held when the snapshot was taken, and a blank volume holds
``BLANK_VOLUME_DATA`` bytes of its own. Upload-to-image (``images.upload_volume_to_image``) turns
them into a downloadable image.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from esc_netconf.vim.base import ImageStatus, VolumeSnapshotStatus, VolumeStatus
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.catalog import find_volume_type
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.settings import FaultMode, SimOperation
from esc_netconf.vim.sim.store import Kind
from esc_netconf.vim.sim.timeline import GONE

__all__ = [
    "BLANK_VOLUME_DATA",
    "create_volume",
    "create_volume_snapshot",
    "delete_volume",
    "delete_volume_snapshot",
    "new_volume_fields",
]

GIB = 1 << 30

BLANK_VOLUME_DATA = 1 << 20
"""Bytes of data a new blank volume holds (what a fresh file system would occupy)."""


def new_volume_fields(
    req: Request,
    name: str,
    *,
    project_id: str,
    size_gb: int,
    image_id: str | None,
    snapshot_id: str | None,
    volume_type: str | None,
    bootable: bool | None,
    multiattach: bool = False,
    description: str | None = None,
) -> dict[str, Any]:
    """Validate a volume request and return the new volume's fields (status ``creating``)."""
    if size_gb < 1:
        raise messages.bad_request(f"Volume size '{size_gb}' must be an integer and greater than 0")
    if image_id is not None and snapshot_id is not None:
        raise messages.bad_request("Cannot create a volume from both an image and a snapshot.")
    if volume_type is not None:
        find_volume_type(volume_type)
    source_bootable = False
    volume_id = str(uuid.uuid4())
    content: tuple[str, int] = (volume_id, BLANK_VOLUME_DATA)
    if image_id is not None:
        image = req.view(Kind.IMAGE, image_id, messages.image_not_found)
        if image["status"] != ImageStatus.ACTIVE.value:
            raise messages.image_not_active(image_id)
        needed = max(math.ceil((image.get("size") or 0) / GIB), int(image.get("min_disk", 0)))
        if size_gb < needed:
            raise messages.volume_too_small(size_gb, needed, "image")
        source_bootable = True
        content = (str(image.get("content_seed", image_id)), int(image.get("size") or 0))
    if snapshot_id is not None:
        snapshot = req.view(Kind.VOLUME_SNAPSHOT, snapshot_id, messages.snapshot_not_found)
        if snapshot["status"] != VolumeSnapshotStatus.AVAILABLE.value:
            raise messages.snapshot_invalid_status(snapshot["status"])
        if size_gb < int(snapshot["size_gb"]):
            raise messages.volume_too_small(size_gb, int(snapshot["size_gb"]), "snapshot")
        source_bootable = bool(snapshot.get("bootable", False))
        content = (str(snapshot.get("content_seed", snapshot_id)), int(snapshot.get("content_size", BLANK_VOLUME_DATA)))
    return {
        "id": volume_id,
        "name": name,
        "status": VolumeStatus.CREATING.value,
        "project_id": project_id,
        "size_gb": size_gb,
        "volume_type": volume_type or "__DEFAULT__",
        "bootable": source_bootable if bootable is None else bootable,
        "multiattach": multiattach,
        "source_image_id": image_id,
        "source_snapshot_id": snapshot_id,
        "attachments": [],
        "description": description,
        "content_seed": content[0],
        "content_size": content[1],
    }


def create_volume(req: Request, name: str, **spec: Any) -> dict[str, Any]:
    """Request a standalone volume; the fault ``volume.create`` decides how it ends."""
    fields = new_volume_fields(req, name, **spec)
    ready = req.delay("volume.create")
    mode = req.fault(SimOperation.VOLUME_CREATE)
    steps: list[tuple[float, dict[str, Any]]] = []
    if mode is FaultMode.NONE:
        steps.append((ready, {"status": VolumeStatus.AVAILABLE.value}))
    elif mode is FaultMode.ERROR:
        steps.append((ready, {"status": VolumeStatus.ERROR.value}))
    return req.new(Kind.VOLUME, fields, *steps).view(req.now)


def delete_volume(req: Request, volume_id: str) -> None:
    timeline = req.load(Kind.VOLUME, volume_id, messages.volume_not_found)
    volume = timeline.view(req.now)
    if volume["attachments"] or volume["status"] not in (VolumeStatus.AVAILABLE.value, VolumeStatus.ERROR.value):
        raise messages.volume_in_use_delete()
    dependents = [
        s for _, s in req.store.select(Kind.VOLUME_SNAPSHOT, req.now, project_id=volume["project_id"])
        if s.base["volume_id"] == volume_id
    ]
    if dependents:
        raise messages.volume_has_snapshots(len(dependents))
    timeline.replace_future(
        req.now,
        (req.now, {"status": VolumeStatus.DELETING.value}),
        (req.delay("volume.delete"), {GONE: True}),
    )
    req.save(Kind.VOLUME, timeline)


def snapshot_steps(req: Request) -> list[tuple[float, dict[str, Any]]]:
    """The future of a new volume snapshot under the fault ``volume.snapshot``."""
    mode = req.fault(SimOperation.VOLUME_SNAPSHOT)
    ready = req.delay("volume.snapshot")
    if mode is FaultMode.NONE:
        return [(ready, {"status": VolumeSnapshotStatus.AVAILABLE.value})]
    if mode is FaultMode.ERROR:
        return [(ready, {"status": VolumeSnapshotStatus.ERROR.value})]
    return []


def create_volume_snapshot(
    req: Request, volume_id: str, name: str, *, force: bool, description: str | None
) -> dict[str, Any]:
    volume = req.view(Kind.VOLUME, volume_id, messages.volume_not_found)
    allowed = {VolumeStatus.AVAILABLE.value} | ({VolumeStatus.IN_USE.value} if force else set())
    if volume["status"] not in allowed:
        raise messages.volume_invalid_status(volume_id, volume["status"], "available")
    fields = {
        "id": str(uuid.uuid4()),
        "name": name,
        "status": VolumeSnapshotStatus.CREATING.value,
        "project_id": volume["project_id"],
        "volume_id": volume_id,
        "size_gb": volume["size_gb"],
        "bootable": bool(volume.get("bootable", False)),
        "description": description,
        "content_seed": volume.get("content_seed", volume_id),
        "content_size": int(volume.get("content_size", BLANK_VOLUME_DATA)),
    }
    return req.new(Kind.VOLUME_SNAPSHOT, fields, *snapshot_steps(req)).view(req.now)


def delete_volume_snapshot(req: Request, snapshot_id: str) -> None:
    timeline = req.load(Kind.VOLUME_SNAPSHOT, snapshot_id, messages.snapshot_not_found)
    status = timeline.view(req.now)["status"]
    if status in (VolumeSnapshotStatus.CREATING.value, VolumeSnapshotStatus.DELETING.value):
        raise messages.snapshot_busy(snapshot_id, status)
    mode = req.fault(SimOperation.VOLUME_SNAPSHOT_DELETE)
    done = req.delay("volume.snapshot.delete")
    steps: list[tuple[float, dict[str, Any]]] = [(req.now, {"status": VolumeSnapshotStatus.DELETING.value})]
    if mode is FaultMode.NONE:
        steps.append((done, {GONE: True}))
    elif mode is FaultMode.ERROR:
        steps.append((done, {"status": VolumeSnapshotStatus.ERROR_DELETING.value}))
    timeline.replace_future(req.now, *steps)
    req.save(Kind.VOLUME_SNAPSHOT, timeline)
