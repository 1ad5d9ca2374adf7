"""An ESC operator's view of a live server: edits, ESC RPCs, opdata and escEvents, over raw NETCONF."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from ncclient import manager

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

    def wait_vm_states(self, tenant: str, dep: str, expected: dict[str, str], timeout: float = 30.0) -> None:
        """Poll the deployment's opdata until its VMs are in ``expected`` states (a test's failure names the last seen)."""
        deadline = time.monotonic() + timeout
        while (states := self.vm_states(tenant, dep)) != expected:
            assert time.monotonic() < deadline, states
            time.sleep(0.2)


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


def replay_esc_events(port: int, since: datetime | None = None, timeout: float = 15) -> list[tuple[str, etree._Element]]:
    """Every escEvent the server's replay log holds (from ``since``) as ``(eventTime, escEvent element)``, in
    order, by an ncclient ``startTime`` subscription that ends at ``replayComplete``: what a subscriber that
    reconnects (after a restart or a takeover) receives."""
    start = since or datetime(2000, 1, 1, tzinfo=timezone.utc)
    with manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                         allow_agent=False, look_for_keys=False, timeout=30) as nc:
        nc.create_subscription(stream_name="escEvent", start_time=start.isoformat(),
                               stop_time=(datetime.now(timezone.utc) + timedelta(seconds=5)).isoformat())
        events: list[tuple[str, etree._Element]] = []
        while True:
            notification = nc.take_notification(block=True, timeout=timeout)
            assert notification is not None, "no replayComplete"
            payload = etree.fromstring(notification.notification_xml.encode())
            if payload.find(".//{*}replayComplete") is not None:
                return events
            body = payload.find(f"{{{samples.ESC_NS}}}escEvent")
            if body is not None:
                events.append((payload.findtext("{*}eventTime") or "", body))


def replayed_esc_events(port: int, since: datetime | None = None) -> list[Event]:
    """:func:`replay_esc_events`, parsed."""
    return [parse_event(body) for _, body in replay_esc_events(port, since)]
