"""From stored views (plain JSON fields) to the driver's frozen dataclasses.

The sim stores times as epoch seconds and statuses as OpenStack strings; the dataclasses carry
aware UTC datetimes and enums. Keeping this translation in one place means the operations code
works on plain dicts and the seam only ever sees typed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from esc_netconf.vim.base import (
    Image,
    ImageStatus,
    Project,
    Server,
    ServerAddress,
    ServerStatus,
    Volume,
    VolumeAttachment,
    VolumeSnapshot,
    VolumeSnapshotStatus,
    VolumeStatus,
)

__all__ = ["to_image", "to_project", "to_server", "to_volume", "to_volume_snapshot", "utc"]


def utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _times(fields: Mapping[str, Any]) -> tuple[datetime, datetime]:
    created = float(fields["created_at"])
    return utc(created), utc(float(fields.get("updated_at", created)))


def to_server(fields: Mapping[str, Any], volumes_attached: Sequence[str]) -> Server:
    created, updated = _times(fields)
    return Server(
        id=fields["id"],
        name=fields["name"],
        status=ServerStatus(fields["status"]),
        project_id=fields["project_id"],
        image_id=fields.get("image_id"),
        flavor=fields["flavor"],
        addresses=tuple(ServerAddress(**address) for address in fields["addresses"]),
        host_id=fields["host_id"],
        hostname=fields["hostname"],
        volumes_attached=tuple(volumes_attached),
        created_at=created,
        updated_at=updated,
        fault=fields.get("fault"),
        task_state=fields.get("task_state"),
        metadata=dict(fields.get("metadata", {})),
    )


def to_image(fields: Mapping[str, Any]) -> Image:
    created, updated = _times(fields)
    return Image(
        id=fields["id"],
        name=fields["name"],
        status=ImageStatus(fields["status"]),
        project_id=fields.get("project_id"),
        size=fields.get("size"),
        checksum=fields.get("checksum"),
        disk_format=fields.get("disk_format"),
        container_format=fields.get("container_format"),
        min_disk=int(fields.get("min_disk", 0)),
        min_ram=int(fields.get("min_ram", 0)),
        visibility=fields.get("visibility", "private"),
        created_at=created,
        updated_at=updated,
        properties=dict(fields.get("properties", {})),
    )


def to_volume(fields: Mapping[str, Any]) -> Volume:
    created, updated = _times(fields)
    return Volume(
        id=fields["id"],
        name=fields["name"],
        status=VolumeStatus(fields["status"]),
        project_id=fields["project_id"],
        size_gb=int(fields["size_gb"]),
        volume_type=fields.get("volume_type"),
        bootable=bool(fields.get("bootable", False)),
        multiattach=bool(fields.get("multiattach", False)),
        source_image_id=fields.get("source_image_id"),
        source_snapshot_id=fields.get("source_snapshot_id"),
        attachments=tuple(
            VolumeAttachment(id=a["id"], server_id=a["server_id"], volume_id=fields["id"], device=a["device"])
            for a in fields.get("attachments", [])
        ),
        created_at=created,
        updated_at=updated,
        description=fields.get("description"),
    )


def to_volume_snapshot(fields: Mapping[str, Any]) -> VolumeSnapshot:
    created, updated = _times(fields)
    return VolumeSnapshot(
        id=fields["id"],
        name=fields["name"],
        status=VolumeSnapshotStatus(fields["status"]),
        project_id=fields["project_id"],
        volume_id=fields["volume_id"],
        size_gb=int(fields["size_gb"]),
        created_at=created,
        updated_at=updated,
        description=fields.get("description"),
    )


def to_project(fields: Mapping[str, Any]) -> Project:
    return Project(
        id=fields["id"], name=fields["name"], description=fields.get("description"), enabled=bool(fields.get("enabled", True))
    )
