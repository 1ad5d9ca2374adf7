"""The events of the backup subsystem, built from a snapshot record, and their wording.

Every snapshot event is about the VM the snapshot was taken from, so its ``vm_source`` and deployment
fields come from the context captured in the ``SnapshotRecord`` at creation (the VM may be gone by the
time the snapshot is deleted).  Status codes follow the seed: INIT 200, CREATED 202, COMPLETE 200 or 500;
DELETING 202, DELETED 200 or 500; VOLUME_ACCEPTED 202, VOLUME_CREATED 201.  Any failure carries FAILURE
and 500.  Volume events are for REST callbacks only and carry the seed's ``escParameter`` fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from esc_netconf.core.backup.records import SnapshotRecord, VolumeRequest
from esc_netconf.core.events import EscEvent, EventStatus, EventType, VmSource

__all__ = ["BACKUP_CODES", "snapshot_event", "volume_parameters"]

BACKUP_CODES: Mapping[EventType, int] = {
    EventType.VM_BACKUP_INIT: 200,
    EventType.VM_BACKUP_CREATED: 202,
    EventType.VM_BACKUP_COMPLETE: 200,
    EventType.VM_SNAPSHOT_DELETING: 202,
    EventType.VM_SNAPSHOT_DELETED: 200,
    EventType.VM_VOLUME_ACCEPTED_EVENT: 202,
    EventType.VM_VOLUME_CREATED_EVENT: 201,
}
"""The status code of each event when it reports success."""

_CALLBACK_ONLY = frozenset({EventType.VM_VOLUME_ACCEPTED_EVENT, EventType.VM_VOLUME_CREATED_EVENT})


def snapshot_event(snapshot: SnapshotRecord, type_: EventType, message: str, *, ok: bool, time: datetime,
                   transaction_id: str | None,
                   parameters: Mapping[str, str | None] | None = None) -> EscEvent:
    """The event ``type_`` about ``snapshot`` (FAILURE/500 unless ``ok``)."""
    source = VmSource(vmid=snapshot.server_id, vmname=snapshot.generated_vm_name,
                      generated_vmname=snapshot.generated_vm_name, vim_id=snapshot.vim_id,
                      vim_project=snapshot.tenant, vim_project_id=snapshot.tenant_id,
                      hostid=snapshot.host_id, hostname=snapshot.hostname)
    return EscEvent(
        event_type=type_,
        status=EventStatus.SUCCESS if ok else EventStatus.FAILURE,
        status_code=BACKUP_CODES[type_] if ok else 500,
        status_message=message,
        depname=snapshot.deployment,
        tenant=snapshot.tenant,
        tenant_id=snapshot.tenant_id,
        depid=snapshot.dep_id,
        vm_group=snapshot.vm_group,
        vm_source=source,
        event_time=time,
        transaction_id=transaction_id,
        callback_only=type_ in _CALLBACK_ONLY,
        parameters=dict(parameters or {}),
    )


def volume_parameters(snapshot: SnapshotRecord, volume: VolumeRequest) -> dict[str, str | None]:
    """The ``escParameter`` of the volume events, with the keys of the seed's example.

    ``outOfBand`` is ``"false"`` as in the seed's example callback, although ESC does not manage the
    volume afterwards.
    """
    return {
        "external_volume_id": volume.volume_id,
        "size": None if volume.size_gb is None else str(volume.size_gb),
        "sizeunit": "GiB" if volume.size_gb is not None else None,
        "bus": "virtio",
        "type": volume.volume_type,
        "outOfBand": "false",
        "bootIndex": "0" if volume.bootable else None,
        "name": volume.name,
        "format": None,
        "deviceType": None,
        "storageLocation": None,
        "external_tenant_id": snapshot.tenant_id,
        "internal_tenant_id": snapshot.tenant,
        "internal_volume_id": volume.id,
        "valid": None,
        "event_type": None,
        "image": None,
        "snapshot_id": snapshot.id,
        "volume_snapshot_id": snapshot.volume_snapshot_id,
        "multiattach": "true" if volume.multiattach else "false",
        "bootable": "true" if volume.bootable else "false",
    }
