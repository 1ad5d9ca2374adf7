"""Domain events (``escEvent``) and the bus that carries them to the adapters.

The core publishes a frozen ``EscEvent`` for every step an operator is told about; the northbound renders
it to an ``escEvent`` notification and REST to a JSON callback (docs/INTERFACES.md section 6).  The bus
calls subscribers synchronously on the core's loop, in subscription order; a subscriber that raises is
logged and the others still get the event, so one broken adapter cannot silence the rest.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Callable, Mapping

log = logging.getLogger(__name__)


class EventType(str, Enum):
    """``event/type`` values."""

    VM_DEPLOYED = "VM_DEPLOYED"
    VM_ALIVE = "VM_ALIVE"
    SERVICE_ALIVE = "SERVICE_ALIVE"
    VM_UNDEPLOYED = "VM_UNDEPLOYED"
    SERVICE_UNDEPLOYED = "SERVICE_UNDEPLOYED"
    SERVICE_UPDATED = "SERVICE_UPDATED"
    VM_UPDATED = "VM_UPDATED"
    VM_STOPPED = "VM_STOPPED"
    SERVICE_STOPPED = "SERVICE_STOPPED"
    VM_STARTED = "VM_STARTED"
    VM_REBOOTED = "VM_REBOOTED"
    SERVICE_REBOOTED = "SERVICE_REBOOTED"
    VM_MONITOR_SET = "VM_MONITOR_SET"
    VM_MONITOR_UNSET = "VM_MONITOR_UNSET"
    SERVICE_MONITOR_SET = "SERVICE_MONITOR_SET"
    SERVICE_MONITOR_UNSET = "SERVICE_MONITOR_UNSET"
    VM_RECOVERY_INIT = "VM_RECOVERY_INIT"
    VM_RECOVERY_COMPLETE = "VM_RECOVERY_COMPLETE"
    VM_SCALE_OUT_INIT = "VM_SCALE_OUT_INIT"
    VM_SCALE_OUT_COMPLETE = "VM_SCALE_OUT_COMPLETE"
    VM_SCALE_IN_INIT = "VM_SCALE_IN_INIT"
    VM_SCALE_IN_COMPLETE = "VM_SCALE_IN_COMPLETE"
    VM_BACKUP_INIT = "VM_BACKUP_INIT"
    VM_BACKUP_CREATED = "VM_BACKUP_CREATED"
    VM_BACKUP_COMPLETE = "VM_BACKUP_COMPLETE"
    VM_SNAPSHOT_DELETING = "VM_SNAPSHOT_DELETING"
    VM_SNAPSHOT_DELETED = "VM_SNAPSHOT_DELETED"
    VM_VOLUME_ACCEPTED_EVENT = "VM_VOLUME_ACCEPTED_EVENT"
    VM_VOLUME_CREATED_EVENT = "VM_VOLUME_CREATED_EVENT"


class EventStatus(str, Enum):
    """``status``: failures always carry FAILURE with ``status_code`` 500."""

    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"


@dataclass(frozen=True, slots=True)
class VmSource:
    """``vm_source``: the VM an event is about."""

    vmid: str | None = None
    vmname: str | None = None
    generated_vmname: str | None = None
    vim_id: str | None = None
    vim_project: str | None = None
    vim_project_id: str | None = None
    hostid: str | None = None
    hostname: str | None = None


@dataclass(frozen=True, slots=True)
class EscEvent:
    """One ``escEvent`` (CONTRACT section 3) plus what REST callbacks need."""

    event_type: EventType
    status: EventStatus
    status_code: int
    status_message: str
    depname: str | None
    tenant: str | None
    tenant_id: str | None
    depid: str | None
    vm_group: str | None
    vm_source: VmSource | None
    event_time: datetime
    transaction_id: str | None = None
    callback_only: bool = False
    parameters: Mapping[str, str | None] = field(default_factory=dict)


Subscriber = Callable[[EscEvent], None]


class EventBus:
    """Publish/subscribe for ``EscEvent``; call it only from the core's event loop."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> Callable[[], None]:
        """Call ``fn`` for every event published from now on; returns the function that stops it."""
        self._subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self._subscribers:
                self._subscribers.remove(fn)

        return unsubscribe

    def publish(self, event: EscEvent) -> None:
        """Hand ``event`` to every subscriber; one that raises is logged and skipped."""
        for fn in list(self._subscribers):
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber %r failed on %s", fn, event.event_type.value)
