"""What the backup subsystem keeps: snapshots it manages and its work in flight.

Why two kinds of record: a ``SnapshotRecord`` lives as long as the snapshot exists in the VIM (it is what
listings show and what delete and volume-from-snapshot refer to), while a ``BackupOperation`` lives only
while something is being done (create, export, delete, volume from snapshot) and carries what a restart
needs to resume it: its phase, when it started (for the timeout) and which events were already sent, so
that each event goes out exactly once across a ``kill -9``.  Both are plain dataclasses persisted through
``SnapshotStore`` as key columns plus ``to_dict()``, like the core's own records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from esc_netconf.core.model import PlainRecord

__all__ = [
    "EXPORT_PHASES",
    "BackupOperation",
    "OperationKind",
    "Phase",
    "SnapshotRecord",
    "SnapshotStatus",
    "VolumeRequest",
]


class SnapshotStatus(str, Enum):
    """``status`` of a snapshot as listings show it: Glance's image statuses plus our own phases."""

    PENDING = "pending"          # validated, the VIM has not accepted the request yet
    QUEUED = "queued"
    SAVING = "saving"
    ACTIVE = "active"
    EXPORTING = "exporting"      # active in the VIM, image data being downloaded
    ERROR = "error"              # the create (or export) failed
    DELETING = "deleting"
    ERROR_DELETING = "error_deleting"


class OperationKind(str, Enum):
    """What a ``BackupOperation`` does."""

    CREATE = "CREATE"
    DELETE = "DELETE"
    CREATE_VOLUME = "CREATE_VOLUME"


class Phase(str, Enum):
    """Where an operation is: ``REQUEST`` = the VIM call may not have been made (or answered) yet;
    ``POLL`` = the VIM accepted it and we wait for completion; ``EXPORT`` = downloading the image.

    Exporting a volume-backed snapshot first gets the volume's bytes into an image of their own:
    ``EXPORT_VOLUME`` = a temporary volume made from the volume snapshot; ``EXPORT_UPLOAD`` = that
    volume uploaded to a temporary image; then ``EXPORT`` downloads it and ``CLEANUP`` deletes both
    before the final event (the outcome waits in ``BackupOperation.outcome_*``).
    """

    REQUEST = "REQUEST"
    POLL = "POLL"
    EXPORT_VOLUME = "EXPORT_VOLUME"
    EXPORT_UPLOAD = "EXPORT_UPLOAD"
    EXPORT = "EXPORT"
    CLEANUP = "CLEANUP"


EXPORT_PHASES = frozenset({Phase.EXPORT_VOLUME, Phase.EXPORT_UPLOAD, Phase.EXPORT, Phase.CLEANUP})
"""Phases in which the snapshot itself is complete and only its export is in progress."""


@dataclass(slots=True)
class SnapshotRecord(PlainRecord):
    """One snapshot this server manages, with the VM context its events carry.

    ``id`` is ours (generated at validation, before the VIM is asked); ``image_id`` and
    ``volume_snapshot_id`` are the VIM's, recorded as soon as it returns them.
    """

    id: str
    name: str
    tenant: str
    generated_vm_name: str
    vm_id: str
    server_id: str
    deployment: str
    dep_id: str
    vm_group: str
    vim_id: str
    tenant_id: str | None = None
    host_id: str | None = None
    hostname: str | None = None
    image_id: str | None = None
    volume_snapshot_id: str | None = None
    disk_format: str | None = None
    status: SnapshotStatus = SnapshotStatus.PENDING
    status_message: str = ""
    creation_start_date: datetime | None = None
    creation_end_date: datetime | None = None
    export_path: str | None = None


@dataclass(slots=True)
class VolumeRequest(PlainRecord):
    """A bootable volume being made from a snapshot's volume snapshot (out of band once made)."""

    id: str
    snapshot_id: str
    name: str
    volume_type: str | None = None
    multiattach: bool = False
    bootable: bool = True
    volume_id: str | None = None
    size_gb: int | None = None
    status: str = "pending"


@dataclass(slots=True)
class BackupOperation(PlainRecord):
    """Work in flight, saved before the first VIM call and removed when its last event is sent.

    ``succeeded`` is set together with marking the final event sent (one write), so a restart that
    finds it set only has to finish what follows the event (e.g. forget a deleted snapshot).

    ``export_*`` belong to the export of a volume-backed snapshot: when it began (for its timeout) and
    the temporary volume and image, recorded as soon as the VIM names them so that a restart resumes
    with them, or deletes them, instead of leaking them.  ``outcome_*`` is the end of a create decided
    before ``CLEANUP``, sent once the temporaries are gone.
    """

    op_id: str
    kind: OperationKind
    snapshot_id: str
    started: datetime
    phase: Phase = Phase.REQUEST
    transaction_id: str | None = None
    export: bool = False
    destination: str | None = None
    events_sent: list[str] = field(default_factory=list)
    succeeded: bool | None = None
    volume: VolumeRequest | None = None
    export_started: datetime | None = None
    export_volume_id: str | None = None
    export_image_id: str | None = None
    outcome_ok: bool | None = None
    outcome_message: str | None = None
