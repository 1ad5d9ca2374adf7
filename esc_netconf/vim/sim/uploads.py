"""Simulated Cinder "upload to image" (``os-volume_upload_image``): a volume's bytes become a Glance image.

Lifecycle: the volume shows ``uploading`` and the new image ``saving`` (it was ``queued`` for an
instant); after the ``volume.upload`` delay the image is ``active`` with the volume's pseudo-content
(``size``/``checksum`` of ``(content_seed, content_size)``, see ``volumes.py``) and the volume is back
to the status it had (``available``, or ``in-use`` for a forced upload). Fault ``volume.upload=error``:
the image ends ``killed`` and the volume goes back; ``timeout``: both stay in transit.

As in Cinder, deleting the image before it is ``active`` ends the copy and returns the volume to its
previous status at once (``release_upload``), so an abandoned upload never strands a volume in
``uploading``. The image remembers which volume feeds it in the internal field ``upload_of``.
"""

from __future__ import annotations

from typing import Any

from esc_netconf.vim.base import ImageStatus, VolumeStatus
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.settings import FaultMode, SimOperation
from esc_netconf.vim.sim.store import Kind
from esc_netconf.vim.sim.volumes import BLANK_VOLUME_DATA

__all__ = ["release_upload", "upload_source", "upload_volume_to_image"]

UPLOAD_OF = "upload_of"
"""Internal image field: ``{"volume_id": ..., "restore": <volume status after the copy>}``."""


def upload_source(req: Request, volume_id: str, force: bool) -> tuple[str, int]:
    """``(content seed, size)`` of the volume to upload, after checking that it may be uploaded.

    :raises VimNotFound: no such volume.
    :raises VimConflict: the volume is not ``available`` (``in-use`` needs ``force``).
    """
    volume = req.view(Kind.VOLUME, volume_id, messages.volume_not_found)
    allowed = {VolumeStatus.AVAILABLE.value} | ({VolumeStatus.IN_USE.value} if force else set())
    if volume["status"] not in allowed:
        wanted = "available or in-use" if force else "available"
        raise messages.volume_invalid_status(volume_id, volume["status"], wanted)
    return str(volume.get("content_seed", volume_id)), int(volume.get("content_size", BLANK_VOLUME_DATA))


def upload_volume_to_image(
    req: Request,
    volume_id: str,
    image_name: str,
    *,
    disk_format: str,
    container_format: str,
    force: bool,
    image_id: str,
    checksum: str,
) -> str:
    """Start the copy into the new image ``image_id`` (``checksum`` computed off the loop)."""
    seed, size = upload_source(req, volume_id, force)
    timeline = req.load(Kind.VOLUME, volume_id, messages.volume_not_found)
    volume = timeline.view(req.now)
    restore = volume["status"]
    done = req.delay("volume.upload")
    mode = req.fault(SimOperation.VOLUME_UPLOAD)
    volume_steps: list[tuple[float, dict[str, Any]]] = [(req.now, {"status": VolumeStatus.UPLOADING.value})]
    image_steps: list[tuple[float, dict[str, Any]]] = [(req.now, {"status": ImageStatus.SAVING.value})]
    if mode is not FaultMode.TIMEOUT:
        volume_steps.append((done, {"status": restore}))
    if mode is FaultMode.NONE:
        image_steps.append((done, {"status": ImageStatus.ACTIVE.value, "size": size, "checksum": checksum}))
    elif mode is FaultMode.ERROR:
        image_steps.append((done, {"status": ImageStatus.KILLED.value}))
    timeline.replace_future(req.now, *volume_steps)
    req.save(Kind.VOLUME, timeline)
    fields: dict[str, Any] = {
        "id": image_id,
        "name": image_name,
        "status": ImageStatus.QUEUED.value,
        "project_id": volume["project_id"],
        "size": None,
        "checksum": None,
        "content_seed": seed,
        "disk_format": disk_format,
        "container_format": container_format,
        "min_disk": int(volume["size_gb"]),
        "min_ram": 0,
        "visibility": "private",
        "properties": {},
        UPLOAD_OF: {"volume_id": volume_id, "restore": restore},
    }
    req.new(Kind.IMAGE, fields, *image_steps)
    return image_id


def release_upload(req: Request, image: dict[str, Any]) -> None:
    """The image is being deleted: if it was still receiving a volume's data, that copy ends now."""
    upload = image.get(UPLOAD_OF)
    if not upload or image["status"] in (ImageStatus.ACTIVE.value, ImageStatus.KILLED.value):
        return
    timeline = req.store.get(Kind.VOLUME, upload["volume_id"], req.now)
    if timeline is None or timeline.view(req.now)["status"] != VolumeStatus.UPLOADING.value:
        return
    timeline.replace_future(req.now, (req.now, {"status": upload["restore"]}))
    req.save(Kind.VOLUME, timeline)
