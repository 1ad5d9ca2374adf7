"""Simulated Glance images and Nova's ``createImage``.

Lifecycle of a server snapshot: ``queued -> saving -> active`` (fault ``image.create=error``:
``killed``; ``timeout``: stuck ``saving``). While the hypervisor captures the disk the server
shows ``task_state=image_snapshot`` and refuses other actions, as Nova does.

A server booted from a volume is snapshotted the way Nova does it: every attached volume gets a
Cinder snapshot (``volume.snapshot`` fault applies) and the image is an empty (size 0)
placeholder whose ``block_device_mapping`` property lists those snapshots; it becomes ``active``
when the volume snapshots are taken. Booting a server from that image restores the volumes.

Deleting is synchronous in Glance: the image is gone when the call returns (fault ``timeout``:
it stays ``pending_delete``; ``error``: the call fails and nothing changes). Deleting an image that
a volume upload is still filling ends that upload (``uploads.release_upload``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from esc_netconf.vim.base import Image, ImageStatus, ServerStatus, VolumeStatus
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.catalog import CATALOG_IMAGES, find_flavor
from esc_netconf.vim.sim.content import content_md5
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.records import to_image
from esc_netconf.vim.sim.settings import FaultMode, SimOperation
from esc_netconf.vim.sim.store import Kind, SimStore
from esc_netconf.vim.sim.timeline import GONE, Timeline
from esc_netconf.vim.sim.uploads import release_upload
from esc_netconf.vim.sim.volumes import create_volume_snapshot

__all__ = [
    "DEFAULT_SNAPSHOT_SIZE",
    "create_server_image",
    "delete_image",
    "download_source",
    "get_image",
    "list_images",
    "seed_catalog",
    "snapshot_size",
]

DEFAULT_SNAPSHOT_SIZE = 16 * 1024 * 1024
"""Size of the snapshot of a server whose source image is gone."""

_SNAPSHOTTABLE = {ServerStatus.ACTIVE, ServerStatus.SHUTOFF, ServerStatus.PAUSED, ServerStatus.SUSPENDED}
_ROOT_DEVICE = "/dev/vda"


def seed_catalog(store: SimStore, now: float) -> None:
    """Write the public catalog images into a new state directory (once: deleted ones stay deleted)."""
    if store.get_meta("catalog_seeded") is not None:
        return
    with store.transaction():
        for entry in CATALOG_IMAGES:
            fields = {
                "id": entry.id,
                "name": entry.name,
                "status": ImageStatus.ACTIVE.value,
                "project_id": None,
                "size": entry.size,
                "checksum": content_md5(entry.id, entry.size),
                "content_seed": entry.id,
                "disk_format": entry.disk_format,
                "container_format": "bare",
                "min_disk": entry.min_disk,
                "min_ram": entry.min_ram,
                "visibility": "public",
                "properties": {"os_distro": entry.os_distro, "hw_disk_bus": "virtio"},
                "created_at": now,
                "updated_at": now,
            }
            store.put(Kind.IMAGE, entry.id, None, entry.name, Timeline(base=fields))
        store.set_meta("catalog_seeded", str(now))


def get_image(req: Request, image_id: str) -> Image:
    return to_image(req.view(Kind.IMAGE, image_id, messages.image_not_found))


def list_images(req: Request, ids: Sequence[str] | None, name: str | None) -> list[Image]:
    rows = req.store.select(Kind.IMAGE, req.now, ids=list(ids) if ids is not None else None, name=name)
    return [to_image(timeline.view(req.now)) for _, timeline in rows]


def snapshot_size(req: Request, server_id: str) -> int:
    """How many bytes a snapshot of the server will have (0 when it boots from a volume)."""
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    if server.get("image_id") is None:
        return 0
    source = req.store.get(Kind.IMAGE, server["image_id"], req.now)
    size = source.view(req.now).get("size") if source is not None else None
    return int(size) if size else DEFAULT_SNAPSHOT_SIZE


def _check_snapshottable(server: Mapping[str, Any]) -> None:
    if server["status"] not in {s.value for s in _SNAPSHOTTABLE}:
        raise messages.instance_invalid_state("createImage", server["id"], "vm_state", server["status"].lower())
    if server.get("task_state") is not None:
        raise messages.instance_invalid_state("createImage", server["id"], "task_state", server["task_state"])


def create_server_image(
    req: Request,
    server_id: str,
    name: str,
    metadata: Mapping[str, str] | None,
    *,
    image_id: str,
    size: int,
    checksum: str,
) -> str:
    """Start a snapshot; ``size``/``checksum`` were computed off the loop for ``image_id``."""
    server_timeline = req.load(Kind.SERVER, server_id, messages.server_not_found)
    server = server_timeline.view(req.now)
    _check_snapshottable(server)
    captured = req.delay("server.snapshot.capture")
    server_timeline.schedule((req.now, {"task_state": "image_snapshot"}), (captured, {"task_state": None}))
    req.save(Kind.SERVER, server_timeline)
    source = req.store.get(Kind.IMAGE, server["image_id"], req.now) if server.get("image_id") else None
    source_view = source.view(req.now) if source is not None else {}
    fields: dict[str, Any] = {
        "id": image_id,
        "name": name,
        "status": ImageStatus.QUEUED.value,
        "project_id": server["project_id"],
        "size": None,
        "checksum": None,
        "content_seed": image_id,
        "disk_format": source_view.get("disk_format", "qcow2") if server.get("image_id") else "raw",
        "container_format": "bare",
        "min_disk": max(find_flavor(server["flavor"]).disk_gb, int(source_view.get("min_disk", 0))),
        "min_ram": int(source_view.get("min_ram", 0)),
        "visibility": "private",
        "properties": {
            **{str(k): str(v) for k, v in (metadata or {}).items()},
            "image_type": "snapshot",
            "instance_uuid": server_id,
            "base_image_ref": server.get("image_id") or "",
        },
    }
    mode = req.fault(SimOperation.IMAGE_CREATE)
    if server.get("image_id"):
        done = req.after(captured, "image.upload")
        steps: list[tuple[float, dict[str, Any]]] = [(captured, {"status": ImageStatus.SAVING.value})]
        final = {"status": ImageStatus.ACTIVE.value, "size": size, "checksum": checksum}
    else:
        fields["properties"].update(_snapshot_volumes(req, server_id, name))
        done = req.delay("volume.snapshot")
        steps = []
        final = {"status": ImageStatus.ACTIVE.value, "size": 0, "checksum": content_md5(image_id, 0)}
    if mode is FaultMode.NONE:
        steps.append((done, final))
    elif mode is FaultMode.ERROR:
        steps.append((done, {"status": ImageStatus.KILLED.value}))
    req.new(Kind.IMAGE, fields, *steps)
    return image_id


def _snapshot_volumes(req: Request, server_id: str, name: str) -> dict[str, str]:
    """Cinder snapshots of every volume attached to the server, as Nova's image properties."""
    entries = []
    for _, volume_id, timeline in req.store.linked_volumes(req.now, server_id=server_id):
        volume = timeline.view(req.now)
        attachment = next((a for a in volume.get("attachments", []) if a["server_id"] == server_id), None)
        if attachment is None or volume["status"] != VolumeStatus.IN_USE.value:
            continue
        snapshot = create_volume_snapshot(req, volume_id, f"snapshot for {name}", force=True, description=None)
        entries.append(
            {
                "source_type": "snapshot",
                "destination_type": "volume",
                "snapshot_id": snapshot["id"],
                "volume_id": None,
                "image_id": None,
                "volume_size": volume["size_gb"],
                "boot_index": 0 if attachment["device"] == _ROOT_DEVICE else None,
                "device_name": attachment["device"],
                "delete_on_termination": bool(attachment.get("delete_on_termination", False)),
                "disk_bus": "virtio",
                "device_type": "disk",
                "guest_format": None,
                "no_device": None,
                "tag": None,
                "volume_type": None,
            }
        )
    entries.sort(key=lambda e: (e["boot_index"] is None, str(e["device_name"])))
    return {
        "bdm_v2": "True",
        "root_device_name": _ROOT_DEVICE,
        "block_device_mapping": json.dumps(entries),
    }


def delete_image(req: Request, image_id: str) -> None:
    timeline = req.load(Kind.IMAGE, image_id, messages.image_not_found)
    mode = req.fault(SimOperation.IMAGE_DELETE)
    if mode is FaultMode.ERROR:
        raise messages.image_delete_failed(image_id)
    release_upload(req, timeline.view(req.now))
    if mode is FaultMode.TIMEOUT:
        timeline.replace_future(req.now, (req.now, {"status": ImageStatus.PENDING_DELETE.value}))
    else:
        timeline.replace_future(req.now, (req.now, {"status": ImageStatus.DELETED.value, GONE: True}))
    req.save(Kind.IMAGE, timeline)


def download_source(req: Request, image_id: str) -> tuple[str, int]:
    """``(content seed, size)`` of an active image.

    :raises VimNotFound: no such image.
    :raises VimConflict: the image is not active.
    """
    image = req.view(Kind.IMAGE, image_id, messages.image_not_found)
    if image["status"] != ImageStatus.ACTIVE.value:
        raise messages.image_not_downloadable(image_id, image["status"])
    return str(image.get("content_seed", image_id)), int(image.get("size") or 0)
