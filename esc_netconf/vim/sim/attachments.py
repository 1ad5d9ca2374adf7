"""Simulated Nova volume attachments: attach, detach and swap.

``attach``: volume ``attaching -> in-use``; ``detach``: ``detaching -> available``; ``swap``
(Nova's swap-volume, what ESC uses to replace a VM's volume): the new volume goes ``attaching ->
in-use`` on the old one's device while the old one goes ``detaching -> available``. The root
device of a server booted from a volume cannot be detached (it can be swapped).
"""

from __future__ import annotations

import uuid
from typing import Any

from esc_netconf.vim.base import ServerStatus, VimConflict, VolumeAttachment, VolumeStatus
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.store import Kind
from esc_netconf.vim.sim.timeline import Timeline

__all__ = ["attach_volume", "detach_volume", "swap_volume"]

_ATTACHABLE = {ServerStatus.ACTIVE.value, ServerStatus.SHUTOFF.value}
ROOT_DEVICE = "/dev/vda"


def _server(req: Request, server_id: str, action: str) -> dict[str, Any]:
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    if server["status"] not in _ATTACHABLE or server.get("task_state") == "deleting":
        state = server.get("task_state") or server["status"].lower()
        raise messages.instance_invalid_state(action, server_id, "vm_state", state)
    return server


def _free_device(req: Request, server_id: str) -> str:
    used = {ROOT_DEVICE}
    for _, _, timeline in req.store.linked_volumes(req.now, server_id=server_id):
        for fields in [timeline.base, *(changes for _, changes in timeline.steps)]:
            used.update(a["device"] for a in fields.get("attachments", []) if a["server_id"] == server_id)
    return next(f"/dev/vd{c}" for c in "bcdefghijklmnopqrstuvwxyz" if f"/dev/vd{c}" not in used)


def _attachment_to(timeline: Timeline, now: float, server_id: str, volume_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        a for a in timeline.view(now).get("attachments", []) if a["server_id"] == server_id
    ]
    if not found:
        raise messages.attachment_not_found(volume_id)
    return found[0]


def _take(req: Request, volume_id: str) -> tuple[Timeline, dict[str, Any]]:
    """A volume that may be attached now: ``available``, or ``in-use`` and multiattach."""
    timeline = req.load(Kind.VOLUME, volume_id, messages.volume_not_found)
    volume = timeline.view(req.now)
    usable = volume["status"] == VolumeStatus.AVAILABLE.value or (
        volume["status"] == VolumeStatus.IN_USE.value and volume.get("multiattach")
    )
    if not usable:
        raise messages.volume_invalid_status(volume_id, volume["status"], "available")
    return timeline, volume


def attach_volume(req: Request, server_id: str, volume_id: str, device: str | None) -> VolumeAttachment:
    _server(req, server_id, "attach_volume")
    timeline, volume = _take(req, volume_id)
    attachment_id, chosen = str(uuid.uuid4()), device or _free_device(req, server_id)
    attachment = {"id": attachment_id, "server_id": server_id, "device": chosen, "delete_on_termination": False}
    timeline.replace_future(
        req.now,
        (req.now, {"status": VolumeStatus.ATTACHING.value}),
        (req.delay("volume.attach"), {"status": VolumeStatus.IN_USE.value,
                                      "attachments": [*volume["attachments"], attachment]}),
    )
    req.save(Kind.VOLUME, timeline)
    return VolumeAttachment(id=attachment_id, server_id=server_id, volume_id=volume_id, device=chosen)


def _detach_steps(req: Request, timeline: Timeline, server_id: str) -> None:
    remaining = [a for a in timeline.view(req.now)["attachments"] if a["server_id"] != server_id]
    final = VolumeStatus.IN_USE.value if remaining else VolumeStatus.AVAILABLE.value
    timeline.replace_future(
        req.now,
        (req.now, {"status": VolumeStatus.DETACHING.value}),
        (req.delay("volume.detach"), {"status": final, "attachments": remaining}),
    )


def detach_volume(req: Request, server_id: str, volume_id: str) -> None:
    _server(req, server_id, "detach_volume")
    timeline = req.load(Kind.VOLUME, volume_id, messages.volume_not_found)
    attachment = _attachment_to(timeline, req.now, server_id, volume_id)
    if attachment["device"] == ROOT_DEVICE:
        raise VimConflict("Cannot detach a root device volume", code=403)
    _detach_steps(req, timeline, server_id)
    req.save(Kind.VOLUME, timeline)


def swap_volume(req: Request, server_id: str, old_volume_id: str, new_volume_id: str,
                delete_on_termination: bool | None = None) -> None:
    _server(req, server_id, "swap_volume")
    old = req.load(Kind.VOLUME, old_volume_id, messages.volume_not_found)
    attachment = _attachment_to(old, req.now, server_id, old_volume_id)
    if old_volume_id == new_volume_id:
        raise messages.volume_invalid_status(new_volume_id, VolumeStatus.IN_USE.value, "available")
    new, new_volume = _take(req, new_volume_id)
    swapped = {**attachment, "id": str(uuid.uuid4())}
    if delete_on_termination is not None:  # Nova 2.85: the flag can be set in the same update
        swapped["delete_on_termination"] = delete_on_termination
    _detach_steps(req, old, server_id)
    new.replace_future(
        req.now,
        (req.now, {"status": VolumeStatus.ATTACHING.value}),
        (req.delay("volume.attach"), {"status": VolumeStatus.IN_USE.value,
                                      "attachments": [*new_volume["attachments"], swapped]}),
    )
    req.save(Kind.VOLUME, old)
    req.save(Kind.VOLUME, new)
