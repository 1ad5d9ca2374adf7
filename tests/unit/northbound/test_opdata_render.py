"""Opdata's ``deployments`` entries are written as text: byte for byte what lxml writes for the same entry built
as elements, for any values (hypothesis draws them, with the characters XML escapes or refuses).

The reference below is the element build opdata used before it wrote text (the YANG model's shape, as the
conformance tests validate it); a value lxml refuses is refused the same way.
"""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.core.model import HistoryEntry
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.northbound.esc_xml import ESC_NS, date_time, leaf, q
from esc_netconf.northbound.opdata import DeploymentValues, VmValues, _render_deployment, _Rendered
from esc_netconf.nsmap import default_namespace


def _reference_vm_instance(values: VmValues, parent: etree._Element) -> None:
    (_group, _state, server_id, name, host_id, hostname), nics, history = values
    instance = etree.SubElement(parent, q("vm_instance"))
    leaf(instance, "vm_id", server_id)
    leaf(instance, "name", name)
    leaf(instance, "host_id", host_id)
    leaf(instance, "hostname", hostname)
    if nics:
        interfaces = etree.SubElement(instance, q("interfaces"))
        for nicid, port_id, network_id, network, subnet, ip_address, mac_address, netmask, gateway in nics:
            interface = etree.SubElement(interfaces, q("interface"))
            for name_, value in (("nicid", nicid), ("port_id", port_id), ("network", network_id or network),
                                 ("subnet", subnet), ("ip_address", ip_address), ("mac_address", mac_address),
                                 ("netmask", netmask), ("gateway", gateway)):
                leaf(interface, name_, value)
    if history:
        history_el = etree.SubElement(instance, q("history"))
        for entry in history:
            row = etree.SubElement(history_el, q("entry"))
            leaf(row, "seq", entry.seq)
            leaf(row, "time", date_time(entry.time))
            leaf(row, "type", entry.type)
            leaf(row, "detail", entry.detail or None)


def reference(values: DeploymentValues) -> bytes:
    (name, service_name, service_version, dep_id, service_id, state), vms = values
    element = etree.Element(q("deployments"), nsmap=default_namespace(ESC_NS))
    leaf(element, "deployment_name", name)
    leaf(element, "service_name", service_name)
    leaf(element, "service_version", service_version)
    leaf(element, "deployment_id", dep_id)
    leaf(element, "service_id", service_id or None)
    machine = etree.SubElement(element, q("state_machine"))
    leaf(machine, "state", state.value)
    if vms:
        vm_machines = etree.SubElement(machine, q("vm_state_machines"))
        for vm in vms:
            row = etree.SubElement(vm_machines, q("vm_state_machine"))
            leaf(row, "vm_name", vm[0][3])
            leaf(row, "state", vm[0][1].value)
    groups: dict[str, list[VmValues]] = {}
    for vm in vms:
        groups.setdefault(vm[0][0], []).append(vm)
    for group_name in sorted(groups):
        group = etree.SubElement(element, q("vm_group"))
        leaf(group, "name", group_name)
        for vm in groups[group_name]:
            if vm[0][2] is not None:
                _reference_vm_instance(vm, group)
    return etree.tostring(element, encoding="UTF-8", xml_declaration=False)


TEXT = st.text(alphabet=st.sampled_from(list("aZ09 -_.:/&<>\"'\r\n\téß€😀")) | st.characters(), max_size=8)
OPTIONAL = st.none() | TEXT
WHEN = st.datetimes(timezones=st.just(timezone.utc), min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))

VMS = st.tuples(
    st.tuples(st.sampled_from(["g1", "g2", "a&b"]), st.sampled_from(list(VmState)), OPTIONAL, TEXT, OPTIONAL, OPTIONAL),
    st.lists(st.tuples(st.integers(0, 3), OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL,
                       OPTIONAL), max_size=2).map(tuple),
    st.lists(st.builds(HistoryEntry, st.integers(0, 99), WHEN, TEXT, TEXT), max_size=2).map(tuple),
)
DEPLOYMENTS = st.tuples(
    st.tuples(TEXT, TEXT, TEXT, TEXT, st.sampled_from(["", "sid-1", "x<y"]), st.sampled_from(list(ServiceState))),
    st.lists(VMS, max_size=3).map(tuple),
)


def _outcome(render: object, values: DeploymentValues) -> bytes | str:
    try:
        return render(values)  # type: ignore[operator, no-any-return]
    except ValueError:  # a value XML cannot hold: refused by both
        return "refused"


@settings(max_examples=300, deadline=None)
@given(DEPLOYMENTS)
def test_written_as_text_is_what_lxml_writes(values: DeploymentValues) -> None:
    assert _outcome(_render_deployment, values) == _outcome(reference, values)


def test_the_content_is_what_follows_the_key_leaf() -> None:
    values: DeploymentValues = (("d</x>1", "-", "-", "id-1", "", ServiceState.ACTIVE), ())
    rendered = _Rendered(_render_deployment(values))
    assert bytes(rendered.content()).startswith(b"<service_name>-</service_name>")
    assert etree.tostring(rendered.element(), encoding="UTF-8") == reference(values)
