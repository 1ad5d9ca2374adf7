"""The escEvent payload carries every value exactly as the event holds it, whatever characters it has."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.core.events import EscEvent, EventInterface, EventStatus, EventType, VmSource, VmTarget
from esc_netconf.northbound.esc_xml import ESC_NS
from esc_netconf.northbound.event_xml import esc_event_element

#: What XML 1.0 can carry: no other control character, no surrogate, no U+FFFE/U+FFFF.
xml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufffe\uffff",
                                 min_codepoint=0x20) | st.sampled_from("\t\n\r&<>\"']]>"), max_size=30)
maybe = st.none() | xml_text
nics = st.builds(EventInterface, st.integers(0, 9), xml_text, maybe, maybe, maybe, maybe, maybe, maybe, maybe)
sources = st.none() | st.builds(VmSource, maybe, maybe, maybe, maybe, maybe, maybe, maybe, maybe,
                                st.tuples() | st.tuples(nics) | st.tuples(nics, nics))
targets = st.none() | st.builds(VmTarget, maybe, maybe, maybe, st.tuples() | st.tuples(nics))


def _children(element: etree._Element) -> list[tuple[str, object]]:
    """``(local name, text or children)`` of each child, in order."""
    return [(etree.QName(child).localname, _children(child) if len(child) else child.text or "")
            for child in element]


def _expected_leaves(obj: object, names: tuple[str, ...]) -> list[tuple[str, object]]:
    return [(name, str(getattr(obj, name))) for name in names if getattr(obj, name) is not None]


def _expected_vm(vm: VmSource | VmTarget | None, names: tuple[str, ...]) -> object:
    if vm is None:
        return ""
    nic_names = ("nicid", "type", "port_id", "network", "subnet", "ip_address", "mac_address", "netmask", "gateway")
    rows: list[tuple[str, object]] = _expected_leaves(vm, names)
    if vm.interfaces:
        rows.append(("interfaces", [("interface", _expected_leaves(nic, nic_names)) for nic in vm.interfaces]))
    return rows or ""


@example(status_message="a\rb\r\nc & <d> ]]> \"e\" 'f'\t", depname="", tenant=None, vm_group="\r", source=None,
         target=None)
@given(status_message=xml_text, depname=maybe, tenant=maybe, vm_group=maybe, source=sources, target=targets)
def test_every_value_comes_back_exactly_and_in_the_model_order(
        status_message: str, depname: str | None, tenant: str | None, vm_group: str | None,
        source: VmSource | None, target: VmTarget | None) -> None:
    event = EscEvent(EventType.VM_ALIVE, EventStatus.SUCCESS, 200, status_message, depname, tenant, None, "d-1",
                     vm_group, source, datetime.now(timezone.utc), vm_target=target)
    element = esc_event_element(event)
    # what a client reads: the bytes as sent, parsed again
    again = etree.fromstring(etree.tostring(element))
    assert again.tag == f"{{{ESC_NS}}}escEvent" and all(e.tag.startswith(f"{{{ESC_NS}}}") for e in again.iter())
    source_names = ("vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id", "hostid",
                    "hostname")
    expected = [("status", "SUCCESS"), ("status_code", "200"), ("status_message", status_message)]
    expected += [(name, value) for name, value in (("depname", depname), ("tenant", tenant), ("depid", "d-1"),
                                                   ("vm_group", vm_group)) if value is not None]
    expected += [("vm_source", _expected_vm(source, source_names)),
                 ("vm_target", _expected_vm(target, ("vmid", "hostid", "hostname"))),
                 ("event", [("type", "VM_ALIVE")])]
    assert _children(again) == expected


@pytest.mark.parametrize("bad", ["\x00", "a\x01b", "\x1f", "\ud800"])
def test_a_value_xml_cannot_carry_is_refused_with_value_error(bad: str) -> None:
    event = EscEvent(EventType.VM_ALIVE, EventStatus.FAILURE, 500, bad, "dep", "t", None, "d", None, None,
                     datetime.now(timezone.utc))
    with pytest.raises(ValueError):
        esc_event_element(event)
