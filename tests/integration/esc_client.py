"""An ESC operator's view of a live server: edits, ESC RPCs, opdata and escEvents, over raw NETCONF."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree

from tests.integration import samples
from tests.integration.raw_client import RawNetconf

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
ESC = samples.ESC_NS
NS = {"e": ESC, "nc": BASE}


@dataclass(frozen=True)
class Event:
    type: str
    status: str
    status_code: str
    status_message: str
    fields: dict[str, Any]

    @property
    def vmname(self) -> str | None:
        return self.fields.get("vm_source", {}).get("vmname")


def parse_event(payload: etree._Element) -> Event:
    def value(el: etree._Element) -> Any:
        children = [c for c in el if isinstance(c.tag, str)]
        if not children:
            return (el.text or "").strip()
        return {etree.QName(c).localname: value(c) for c in children}

    fields = value(payload)
    return Event(
        type=fields["event"]["type"],
        status=fields["status"],
        status_code=fields["status_code"],
        status_message=fields.get("status_message", ""),
        fields=fields,
    )


class RpcFailed(Exception):
    def __init__(self, reply: etree._Element) -> None:
        self.reply = reply
        self.tag = reply.findtext(".//nc:error-tag", namespaces=NS)
        self.message = reply.findtext(".//nc:error-message", namespaces=NS)
        self.error_code = reply.findtext(".//nc:error-info/e:error_code", namespaces=NS)
        super().__init__(f"{self.tag}: {self.message} ({self.error_code})")


class EscClient:
    def __init__(self, port: int, connect: Callable[[int], RawNetconf] = RawNetconf) -> None:
        self.nc = connect(port)

    def close(self) -> None:
        self.nc.close()

    def call(self, operation: str) -> etree._Element:
        reply = self.nc.call(operation.encode())
        if not reply.ok and reply.element.find(f"{{{BASE}}}rpc-error") is not None:
            raise RpcFailed(reply.element)
        return reply.element

    def edit(self, config: str) -> None:
        self.call(f'<edit-config xmlns="{BASE}"><target><running/></target>{config}</edit-config>')

    def service_action(self, action: str, tenant: str, dep: str) -> None:
        self.call(
            f'<serviceAction xmlns="{ESC}"><actionType>{action}</actionType><tenantName>{tenant}</tenantName>'
            f"<depName>{dep}</depName></serviceAction>"
        )

    def vm_action(self, action: str, vm: str, force: bool | None = None) -> None:
        force_xml = "" if force is None else f"<force>{str(force).lower()}</force>"
        self.call(f'<vmAction xmlns="{ESC}"><actionType>{action}</actionType><vmName>{vm}</vmName>{force_xml}</vmAction>')

    def recovery(self, vm: str) -> None:
        self.call(f'<recoveryVmAction xmlns="{ESC}"><actionType>DO</actionType><vmName>{vm}</vmName></recoveryVmAction>')

    def opdata(self, tenant: str, dep: str) -> etree._Element:
        reply = self.call(
            f'<get xmlns="{BASE}"><filter type="xpath" '
            f"select=\"esc_datamodel/opdata/tenants/tenant[name='{tenant}']/deployments[deployment_name='{dep}']\"/></get>"
        )
        found = reply.find(".//e:deployments", namespaces=NS)
        assert found is not None, etree.tostring(reply)
        return found

    def service_state(self, tenant: str, dep: str) -> str:
        return self.opdata(tenant, dep).findtext("e:state_machine/e:state", namespaces=NS) or ""

    def vm_states(self, tenant: str, dep: str) -> dict[str, str]:
        rows = self.opdata(tenant, dep).findall("e:state_machine/e:vm_state_machines/e:vm_state_machine", namespaces=NS)
        return {r.findtext("e:vm_name", namespaces=NS) or "": r.findtext("e:state", namespaces=NS) or "" for r in rows}


class EventWatcher:
    """A session subscribed to escEvent; collects events until a predicate holds."""

    def __init__(self, port: int, connect: Callable[[int], RawNetconf] = RawNetconf) -> None:
        self.nc = connect(port)
        reply = self.nc.call(f'<create-subscription xmlns="{NOTIF}"><stream>escEvent</stream></create-subscription>'.encode())
        assert reply.ok
        self.events: list[Event] = []
        self.payloads: list[etree._Element] = []  # each escEvent as received, for independent validation

    def until(self, event_type: str, *, count: int = 1, timeout: float = 30.0) -> list[Event]:
        """Every event received until ``count`` events of ``event_type`` have arrived; returns the new ones."""
        start = len(self.events)
        deadline = time.monotonic() + timeout
        while sum(1 for e in self.events[start:] if e.type == event_type) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                got = [(e.type, e.status) for e in self.events[start:]]
                raise TimeoutError(f"waiting for {count} x {event_type}; got {got}")
            notification = self.nc.notification(remaining)
            assert notification.payload is not None
            self.payloads.append(notification.payload)
            self.events.append(parse_event(notification.payload))
        return self.events[start:]

    def close(self) -> None:
        self.nc.close()
