"""The cost of building one escEvent payload, which the server does on its event loop for every event.

    .venv/bin/python bench/event_xml.py [--events 20000]

Prints microseconds per event for ``esc_event_element`` (a copied template) and, for comparison, for the
same payload built element by element with ``etree.SubElement`` (how the server built it before; kept
here only as the yardstick). The event is a VM_ALIVE with two NICs, about 40 elements, as a deploy sends.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timezone

from lxml import etree

from esc_netconf.core.events import EscEvent, EventInterface, EventStatus, EventType, VmSource
from esc_netconf.northbound.esc_xml import ESC_NS
from esc_netconf.northbound.event_xml import esc_event_element


def sample_event() -> EscEvent:
    nics = tuple(EventInterface(i, "virtual", f"port-{i}", f"net-{i}", f"subnet-{i}", f"10.0.{i}.5",
                                "fa:16:3e:00:00:01", "255.255.255.0", f"10.0.{i}.1") for i in range(2))
    source = VmSource("3f1c9a7e-0000-4000-8000-000000000001", "dep_g_0_abcd", "dep_g_0_abcd", "vim-1", "t1",
                      "p-1", "host-1", "host-1", nics)
    return EscEvent(EventType.VM_ALIVE, EventStatus.SUCCESS, 200, "VM_Alive event received, VM ID: [dep_g_0_abcd]",
                    "dep", "t1", "p-1", "d-1", "g", source, datetime.now(timezone.utc))


def by_subelement(event: EscEvent) -> etree._Element:
    """The yardstick: one ``SubElement`` per node (values only; the order matches ``esc_event_element``)."""
    def leaf(parent: etree._Element, name: str, value: object | None) -> None:
        if value is not None:
            etree.SubElement(parent, f"{{{ESC_NS}}}{name}").text = str(value)

    root = etree.Element(f"{{{ESC_NS}}}escEvent", nsmap={None: ESC_NS})  # type: ignore[dict-item]
    for name in ("status", "status_code", "status_message", "depname", "tenant", "tenant_id", "depid", "vm_group"):
        value = getattr(event, name)
        leaf(root, name, value.value if isinstance(value, EventStatus) else value)
    vm = etree.SubElement(root, f"{{{ESC_NS}}}vm_source")
    source = event.vm_source
    assert source is not None
    for name in ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid",
                 "hostname"):
        leaf(vm, name, getattr(source, name))
    nics = etree.SubElement(vm, f"{{{ESC_NS}}}interfaces")
    for nic in source.interfaces:
        row = etree.SubElement(nics, f"{{{ESC_NS}}}interface")
        for name in ("nicid", "type", "port_id", "network", "subnet", "ip_address", "mac_address", "netmask",
                     "gateway"):
            leaf(row, name, getattr(nic, name))
    etree.SubElement(root, f"{{{ESC_NS}}}vm_target")
    leaf(etree.SubElement(root, f"{{{ESC_NS}}}event"), "type", event.event_type.value)
    return root


def per_event_us(build: Callable[[EscEvent], etree._Element], event: EscEvent, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        build(event)
    return (time.perf_counter() - started) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20000)
    args = parser.parse_args()
    event = sample_event()
    same = etree.tostring(esc_event_element(event)) == etree.tostring(by_subelement(event))
    print(f"same bytes from both builders  {same}")
    for name, build in (("esc_event_element", esc_event_element), ("SubElement per node", by_subelement)):
        best = min(per_event_us(build, event, args.events // 5) for _ in range(5))
        print(f"{name:<30} {best:.1f} us per event (best of 5 x {args.events // 5})")


if __name__ == "__main__":
    main()
