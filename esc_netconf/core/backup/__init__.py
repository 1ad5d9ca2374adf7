"""VNF backup: VM snapshots (create, export, delete, list) and bootable volumes from volume snapshots.

``SnapshotManager`` is what the adapters call (NETCONF ``vmBackupAction``/``snapshotAction``, REST
``/snapshots``); ``SnapshotStore`` is the persistence it needs (SQL in ``esc_netconf.store``, in memory
in ``MemorySnapshotStore``).
"""

from esc_netconf.core.backup.export import ExportFailed
from esc_netconf.core.backup.manager import MAX_NAME_LENGTH, SNAPSHOTTABLE_STATES, SnapshotManager
from esc_netconf.core.backup.memory_store import MemorySnapshotStore
from esc_netconf.core.backup.records import (BackupOperation, OperationKind, Phase, SnapshotRecord, SnapshotStatus,
                                             VolumeRequest)
from esc_netconf.core.backup.store import SnapshotStore

__all__ = [
    "MAX_NAME_LENGTH",
    "SNAPSHOTTABLE_STATES",
    "BackupOperation",
    "ExportFailed",
    "MemorySnapshotStore",
    "OperationKind",
    "Phase",
    "SnapshotManager",
    "SnapshotRecord",
    "SnapshotStatus",
    "SnapshotStore",
    "VolumeRequest",
]
