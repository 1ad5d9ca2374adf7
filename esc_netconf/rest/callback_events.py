"""An ``EscEvent`` as an ESC REST callback: the JSON body and the ``ESC-*`` headers.

The body follows the seed's ``VM_VOLUME_CREATED_EVENT`` example key for key (``escTransactionId``,
``eventType``, ``message``, ``stateMachineEventNBInfo``, ``escParameter``, ``statusCode`` as a string,
``notificationOnlyEvent``...).  ``eventSourceContext`` and ``eventTargetContext`` carry the NETCONF event's
``vm_source`` and ``vm_target`` (with their ``interfaces``) when it has them, null otherwise.  ``escParameter`` is the event's own parameters when it has some (the
volume events); for the other events it carries what the NETCONF ``escEvent`` carries (status,
deployment, VM source), so a REST-only orchestrator learns as much as a NETCONF one.  A few keys are
ours and documented in the OpenAPI description: ``status``, ``eventTime``.
"""

from __future__ import annotations

from datetime import timezone
from typing import Any
from uuid import uuid4

from esc_netconf.core.events import EscEvent, EventInterface
from esc_netconf.netconf.messages import format_date_and_time

__all__ = ["callback_body", "callback_headers", "header_value"]

_SOURCE_FIELDS = ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid",
                  "hostname")


def _event_parameters(event: EscEvent) -> dict[str, str | None]:
    if event.parameters:
        return dict(event.parameters)
    source = event.vm_source
    parameters: dict[str, str | None] = {
        "status": event.status.value,
        "status_code": str(event.status_code),
        "status_message": event.status_message,
        "depname": event.depname,
        "tenant": event.tenant,
        "tenant_id": event.tenant_id,
        "depid": event.depid,
        "vm_group": event.vm_group,
    }
    for name in _SOURCE_FIELDS:
        parameters[name] = getattr(source, name) if source is not None else None
    return parameters


def _interfaces(interfaces: tuple[EventInterface, ...]) -> list[dict[str, Any]]:
    return [{"nicid": i.nicid, "type": i.type, "port_id": i.port_id, "network": i.network, "subnet": i.subnet,
             "ip_address": i.ip_address, "mac_address": i.mac_address, "netmask": i.netmask,
             "gateway": i.gateway} for i in interfaces]


def _source_context(event: EscEvent) -> dict[str, Any] | None:
    source = event.vm_source
    if source is None:
        return None
    context: dict[str, Any] = {name: getattr(source, name) for name in _SOURCE_FIELDS}
    context["interfaces"] = _interfaces(source.interfaces)
    return context


def _target_context(event: EscEvent) -> dict[str, Any] | None:
    target = event.vm_target
    if target is None:
        return None
    return {"vmid": target.vmid, "hostid": target.hostid, "hostname": target.hostname,
            "interfaces": _interfaces(target.interfaces)}


def callback_body(event: EscEvent) -> dict[str, Any]:
    """The JSON object POSTed to the callback URLs for ``event``."""
    time = event.event_time if event.event_time.tzinfo else event.event_time.replace(tzinfo=timezone.utc)
    return {
        "escTransactionId": event.transaction_id,
        "eventType": event.event_type.value,
        "eventSourceContext": _source_context(event),
        "eventTargetContext": _target_context(event),
        "message": event.status_message,
        "stateMachineEventNBInfo": {
            "id": event.event_id or str(uuid4()),  # the core's id: the same when delivered again
            "message": {},
            "logNames": [],
            "keywords": {},
            "actionInfo": {},
            "stackTrace": "",
        },
        "escParameter": _event_parameters(event),
        "vmUpdateType": None,
        "requestDetails": None,
        "statusCode": str(event.status_code),
        "notificationOnlyEvent": event.callback_only,
        "status": event.status.value,
        "eventTime": format_date_and_time(time),
    }


def header_value(text: str, limit: int = 1024) -> str:
    """``text`` made safe for an HTTP header: one line of printable Latin-1, at most ``limit`` characters."""
    cleaned = "".join(c if 0x20 <= ord(c) < 0x7F or 0xA0 <= ord(c) <= 0xFF else "?" for c in text)
    return cleaned[:limit]


def callback_headers(event: EscEvent) -> dict[str, str]:
    """``ESC-Transaction-Id``, ``ESC-Status-Code`` and ``ESC-Status-Message`` for ``event``."""
    return {
        "Content-Type": "application/json",
        "ESC-Transaction-Id": event.transaction_id or "",
        "ESC-Status-Code": str(event.status_code),
        "ESC-Status-Message": header_value(event.status_message),
    }
