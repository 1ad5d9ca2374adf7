"""``esc_datamodel/opdata``: the core's records rendered as the YANG model's state tree.

Shaped as ESC shows it: ``status`` (``OPER_UP``); each tenant from the moment it exists, with its VIM project
id as ``tenant_id``; ``deployments`` keyed by name, ``service_name`` and ``service_version`` (``-`` without a
service registration) with ``deployment_id`` and ``service_id``; each ``vm_instance`` keyed by the VIM's
server id, its NICs with their network and subnet ids.

Built fresh on each ``get`` from the core's in-memory records (no store access), so it is always the
state the core acts on. Only what the ``get``'s filter can reach is built: its :class:`ListScope` over
tenants and their deployments (``OPDATA_LEVELS``) names the entries, and the filter then runs on that
smaller tree, with the same result as on the whole one (``netconf.filters.list_scope`` says why).

In two steps, so a ``get`` of all 10,000 VMs does not hold the event loop for the whole build (issue 13:
no stall over 50 ms): :meth:`OpdataBuilder.snapshot_in_slices` copies what the reply shows out of the records
into plain immutable values (tuples of strings, numbers, dates, enum members and frozen history entries),
:data:`SLICE_SECONDS` of work per turn of the loop, and reads everything again if the core wrote a record
meanwhile, so the reply shows one state of the core, never half of one edit; the :class:`OpdataBuild` it
returns turns those values into XML on the loop, again a slice at a time, reading no record.

Each ``deployments`` entry is written as text (UTF-8 bytes) and kept with the values it was written from,
so only an entry whose values changed is written again. When the ``get``'s filter takes entries whole
(``filters.selects_entries_whole``: no filter, ``esc_datamodel/opdata``, one deployment by its key...), the
``<data>`` tree holds a stand-in per entry and the reply splices the bytes in (``netconf.placeholders``): no
tree of all opdata (some 300,000 elements at 10,000 VMs) is built, copied by the filter, or freed. Any
other filter gets the same stand-ins, and the ``get`` parses the whole ``<data>`` with the bytes spliced in
back into elements in a worker thread (lxml parses without the GIL) before it filters.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator, Sequence
from operator import attrgetter
from typing import Any

from lxml import etree

from esc_netconf.core.backup import SnapshotRecord
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.model import DeploymentRecord, HistoryEntry, VmRecord
from esc_netconf.core.store import RecordKind
from esc_netconf.netconf.filters import ListLevel, ListScope
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.xmlsafe import parse_xml
from esc_netconf.nsmap import default_namespace
from esc_netconf.northbound.esc_xml import ESC_NS, date_time, leaf, q
from esc_netconf.northbound.snapshot_xml import snapshot_element

# The values are read with attrgetter (one C call per record, not one Python step per field), in as few tuples
# as they fit: the snapshot of 10,000 VMs runs on the loop, and this is most of its cost.
_VM_FIELDS = attrgetter("group", "state", "server_id", "name", "host_id", "hostname")
_NIC_FIELDS = attrgetter("nicid", "port_id", "network_id", "network", "subnet_id", "ip_address", "mac_address",
                         "netmask", "gateway")
_NICID = attrgetter("nicid")
_DEPLOYMENT_FIELDS = attrgetter("name", "service_name", "service_version", "dep_id", "service_id", "state")

_Row = tuple[Any, ...]
"""Fields of one record, as an ``attrgetter`` of several names reads them."""

VmValues = tuple[_Row, tuple[_Row, ...], tuple[HistoryEntry, ...]]
"""Everything a ``vm_instance`` and its ``vm_state_machine`` show, as plain values (its fields, NICs and
history entries, which are immutable): equal values render equal XML."""


def _vm_values(vm: VmRecord) -> VmValues:
    nics = vm.interfaces
    return (_VM_FIELDS(vm),
            (_NIC_FIELDS(nics[0]),) if len(nics) == 1 else tuple(map(_NIC_FIELDS, sorted(nics, key=_NICID))),
            tuple(vm.history))


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: object) -> str:
    """A leaf's value as libxml2 writes element text (``&``, ``<``, ``>`` and carriage returns escaped);
    characters XML cannot hold are refused once for the whole entry (:func:`_render_deployment`)."""
    text = value if type(value) is str else str(value)
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


def _leaf(out: list[str], name: str, value: object | None) -> None:
    """``<name>value</name>``; an unknown value is left out rather than sent empty (as ``esc_xml.leaf``)."""
    if value is not None:
        out.append(f"<{name}>{_text(value)}</{name}>")


def _render_vm_instance(values: VmValues, out: list[str]) -> None:
    (_group, _state, server_id, name, host_id, hostname), nics, history = values
    out.append("<vm_instance>")
    _leaf(out, "vm_id", server_id)
    _leaf(out, "name", name)
    _leaf(out, "host_id", host_id)
    _leaf(out, "hostname", hostname)
    if nics:
        out.append("<interfaces>")
        for nicid, port_id, network_id, network, subnet, ip_address, mac_address, netmask, gateway in nics:
            out.append("<interface>")
            _leaf(out, "nicid", nicid)
            _leaf(out, "port_id", port_id)
            _leaf(out, "network", network_id or network)
            _leaf(out, "subnet", subnet)
            _leaf(out, "ip_address", ip_address)
            _leaf(out, "mac_address", mac_address)
            _leaf(out, "netmask", netmask)
            _leaf(out, "gateway", gateway)
            out.append("</interface>")
        out.append("</interfaces>")
    if history:
        out.append("<history>")
        for entry in history:
            out.append("<entry>")
            _leaf(out, "seq", entry.seq)
            _leaf(out, "time", date_time(entry.time))
            _leaf(out, "type", entry.type)
            _leaf(out, "detail", entry.detail or None)
            out.append("</entry>")
        out.append("</history>")
    out.append("</vm_instance>")


DeploymentValues = tuple[_Row, tuple[VmValues, ...]]
"""Everything a ``deployments`` entry shows (its VMs included), as plain values: equal values render equal XML."""


def _deployment_values(dep: DeploymentRecord, vms: list[VmRecord]) -> DeploymentValues:
    return _DEPLOYMENT_FIELDS(dep), tuple(map(_vm_values, vms))


_START = f'<deployments xmlns="{ESC_NS}">'


def _render_deployment(values: DeploymentValues) -> bytes:
    """The ``deployments`` entry as its own document, UTF-8, byte for byte what lxml writes for the same
    entry built as elements (``tests/unit/northbound/test_opdata_render.py`` holds that build and compares):
    written as text, three to four times faster than building the elements and serializing them."""
    (name, service_name, service_version, dep_id, service_id, state), vms = values
    out = [_START]
    _leaf(out, "deployment_name", name)
    _leaf(out, "service_name", service_name)
    _leaf(out, "service_version", service_version)
    _leaf(out, "deployment_id", dep_id)
    _leaf(out, "service_id", service_id or None)
    out.append("<state_machine>")
    _leaf(out, "state", state.value)
    if vms:
        out.append("<vm_state_machines>")
        for vm in vms:
            out.append("<vm_state_machine>")
            _leaf(out, "vm_name", vm[0][3])
            _leaf(out, "state", vm[0][1].value)
            out.append("</vm_state_machine>")
        out.append("</vm_state_machines>")
    out.append("</state_machine>")
    groups: dict[str, list[VmValues]] = {}
    for vm in vms:
        groups.setdefault(vm[0][0], []).append(vm)
    for group_name in sorted(groups):
        out.append("<vm_group>")
        _leaf(out, "name", group_name)
        for vm in groups[group_name]:
            if vm[0][2] is not None:  # no server yet: the VM shows in vm_state_machines only (vm_id is its server id)
                _render_vm_instance(vm, out)
        out.append("</vm_group>")
    out.append("</deployments>")
    text = "".join(out)
    bad = _NOT_XML.search(text)  # the markup is ASCII: only a value can hold one
    if bad is not None:
        raise ValueError(f"All strings must be XML compatible: {bad.group()!r} in {text!r}")  # as lxml refuses
    return text.encode()


_END = b"</deployments>"
_KEY_END = b"</deployment_name>"


class _Rendered:
    """One ``deployments`` entry serialized as its own document (``<deployments xmlns=...>...</deployments>``,
    UTF-8 as a reply is written), the offset where what follows its key leaf starts."""

    __slots__ = ("whole", "content_start")

    def __init__(self, whole: bytes) -> None:
        self.whole = whole
        self.content_start = self.whole.index(_KEY_END) + len(_KEY_END)  # the key leaf comes first

    def content(self) -> memoryview:
        """The entry's children after its key leaf, as the reply writes them under the ``esc`` default
        namespace (the stand-in's marker is replaced by this)."""
        return memoryview(self.whole)[self.content_start:-len(_END)]

    def element(self) -> etree._Element:
        """The entry as a new element (a build without placeholders: :meth:`OpdataBuilder.element`)."""
        return parse_xml(self.whole)


class _RenderedDeployments:
    """Rendered ``deployments`` entries by deployment id, each with the values it was rendered from.

    Rendering is most of what a full ``get`` costs (10,000 VMs make some 300,000 elements), while a
    deployment's values (its VMs' included) rarely change: one whose values equal the remembered ones is
    not rendered again. Equal values render equal XML, so the reply is what rendering afresh gives. Kept as
    bytes, not elements: a reply that takes entries whole splices the bytes in (``netconf.placeholders``),
    and no tree of all of them is made, copied or freed. Entries of deployments that are gone are dropped at
    the next build of every deployment. Loop thread only.
    """

    def __init__(self) -> None:
        self._rendered: dict[str, tuple[DeploymentValues, _Rendered]] = {}

    def get(self, dep_id: str, values: DeploymentValues) -> _Rendered:
        known = self._rendered.get(dep_id)
        if known is None or known[0] != values:
            known = values, _Rendered(_render_deployment(values))
            self._rendered[dep_id] = known
        return known[1]

    def keep_only(self, dep_ids: set[str]) -> None:
        """Forget the deployments not in ``dep_ids`` (every deployment there is)."""
        for dep_id in [d for d in self._rendered if d not in dep_ids]:
            del self._rendered[dep_id]


def _stand_in(name: str, rendered: _Rendered, placeholders: Placeholders) -> etree._Element:
    """A ``deployments`` entry as the filter sees it when it takes entries whole: made as the rendered one
    is, with its key leaf, and a marker for the rest."""
    element = etree.Element(q("deployments"), nsmap=default_namespace(ESC_NS))
    leaf(element, "deployment_name", name)
    placeholders.add(element, rendered.content(), ESC_NS)
    return element


#: ``opdata/status`` while the server serves (it renders opdata only then).
OPER_UP = "OPER_UP"


#: The lists a filter's scope is worked out for: tenants by name, then their deployments by name.
OPDATA_LEVELS = (
    ListLevel((q("esc_datamodel"), q("opdata"), q("tenants"), q("tenant")), q("name")),
    ListLevel((q("deployments"),), q("deployment_name")),
)

#: Above this many deployments (and for a build of all), their VMs are grouped in one pass over all VMs
#: rather than looked up (and sorted) one deployment at a time.
_GROUP_VMS_ABOVE = 4

_TenantValues = tuple[str, str, tuple[tuple[str, DeploymentValues], ...]]
"""A tenant's name, project id, and its deployments in the reply: (deployment id, values)."""

_TenantRecords = tuple[str, str, list[tuple[DeploymentRecord, list[VmRecord]]]]
"""A tenant's name, project id, and its deployments in the reply with their VMs."""


#: Work done between two turns of the loop while a ``get`` reads or builds opdata, in seconds: every
#: other task waits this long at most (issue 13: no stall over 50 ms), and a full ``get`` of 10,000 VMs
#: takes some tens of turns.
SLICE_SECONDS = 0.005



class OpdataBuild:
    """The XML of one snapshot of opdata (:meth:`OpdataBuilder.snapshot`), added to a ``get``'s ``<data>``."""

    def __init__(self, rendered: _RenderedDeployments, tenants: tuple[_TenantValues, ...], *, whole: bool,
                 snapshots: Sequence[SnapshotRecord] | None) -> None:
        self._rendered = rendered
        self._tenants = tenants
        self._whole = whole
        self._snapshots = snapshots

    async def __call__(self, data: etree._Element, placeholders: Placeholders | None = None) -> None:
        """Add the opdata to ``data`` (a ``<data>`` tree), on the loop, letting it run other work after every
        :data:`SLICE_SECONDS`; what is added comes from the snapshot only, so it is one state whatever
        changes meanwhile. With ``placeholders`` (the ``get``'s), each ``deployments`` entry is a stand-in with
        a marker for its bytes; without, the entry itself."""
        for _ in self.steps(data, placeholders):
            await asyncio.sleep(0)

    def add_to(self, data: etree._Element, placeholders: Placeholders | None = None) -> None:
        """Add the opdata to ``data`` in one go (no loop to let run in between: a caller off the ``get`` path)."""
        for _ in self.steps(data, placeholders):
            continue

    def steps(self, data: etree._Element, placeholders: Placeholders | None = None) -> Iterator[None]:
        """Add the opdata to ``data`` step by step, yielding after each :data:`SLICE_SECONDS` of work: under the
        ``esc_datamodel`` it has (the configuration's; an ``opdata`` beside its config), else a new one."""
        top = data.find(q("esc_datamodel"))
        if top is None:
            top = etree.SubElement(data, q("esc_datamodel"), nsmap=default_namespace(ESC_NS))
        opdata = etree.SubElement(top, q("opdata"))
        leaf(opdata, "status", OPER_UP)
        tenants_el = etree.SubElement(opdata, q("tenants"))
        rendered = self._rendered
        started = time.perf_counter()
        for name, project_id, deps in self._tenants:
            tenant_el = etree.SubElement(tenants_el, q("tenant"))
            leaf(tenant_el, "name", name)
            leaf(tenant_el, "tenant_id", project_id)
            for dep_id, values in deps:
                entry = rendered.get(dep_id, values)
                tenant_el.append(entry.element() if placeholders is None
                                 else _stand_in(values[0][0], entry, placeholders))
                if time.perf_counter() - started >= SLICE_SECONDS:
                    yield
                    started = time.perf_counter()
        if self._whole:
            rendered.keep_only({dep_id for _, _, deps in self._tenants for dep_id, _ in deps})
        if self._snapshots is not None:
            container = etree.SubElement(opdata, q("snapshots"))
            for record in self._snapshots:
                snapshot_element(record, container)
                if time.perf_counter() - started >= SLICE_SECONDS:
                    yield
                    started = time.perf_counter()


def _read_again(dep: DeploymentRecord, vms: list[VmRecord], read: dict[str, tuple[tuple[str, ...], DeploymentValues]],
                written: set[tuple[RecordKind, str]]) -> DeploymentValues:
    """The values of ``dep`` now: what was read before unless a write since touched the deployment, one of its
    VMs, or changed which VMs it has."""
    known = read.get(dep.dep_id)
    if known is not None and (RecordKind.DEPLOYMENT, dep.dep_id) not in written:
        ids = tuple(vm.vm_id for vm in vms)
        if ids == known[0] and not any((RecordKind.VM, vm_id) in written for vm_id in ids):
            return known[1]
    return _deployment_values(dep, vms)


class OpdataBuilder:
    """Builds ``<esc_datamodel><opdata>…`` from one core's records; one per server (it keeps rendered
    deployments)."""

    def __init__(self, core: EscCore) -> None:
        self._core = core
        self._deployments = _RenderedDeployments()

    def snapshot(self, scope: ListScope | None = None,
                 snapshots: Sequence[SnapshotRecord] | None = None) -> OpdataBuild:
        """The values of the tenants and deployments in ``scope`` (None: every one the core knows) as they are
        now, read from the records in one go; ``snapshots`` (copies) are listed under ``opdata/snapshots``
        when given. The XML is made from them when the result is called."""
        values = tuple((name, project_id, tuple((dep.dep_id, _deployment_values(dep, vms)) for dep, vms in deps))
                       for name, project_id, deps in self._records(scope))
        return OpdataBuild(self._deployments, values, whole=scope is None, snapshots=snapshots)

    async def snapshot_in_slices(self, scope: ListScope | None = None,
                                 snapshots: Sequence[SnapshotRecord] | None = None) -> OpdataBuild:
        """:meth:`snapshot`, read :data:`SLICE_SECONDS` at a time with the loop running other work in between
        (reading 10,000 VMs in one go held it some 20-90 ms). When the core wrote records meanwhile, what was
        read may mix two states: then the records are looked up again in one go and the deployments a write
        touched (:meth:`EscCore.written_since`: the deployment, one of its VMs, or its set of VMs changed) are
        read again, the others keep what was read (they have not changed since), so the reply shows the state
        of that moment, never half of one edit. Too many writes to tell which: everything is read in one go."""
        mark = self._core.writes()
        tenants: list[_TenantValues] = []
        read: dict[str, tuple[tuple[str, ...], DeploymentValues]] = {}  # by deployment id: its VMs' ids, values
        started = time.perf_counter()
        for name, project_id, deps in self._records(scope):
            values: list[tuple[str, DeploymentValues]] = []
            for dep, vms in deps:
                dep_values = _deployment_values(dep, vms)
                values.append((dep.dep_id, dep_values))
                read[dep.dep_id] = tuple(vm.vm_id for vm in vms), dep_values
                if time.perf_counter() - started >= SLICE_SECONDS:
                    await asyncio.sleep(0)
                    started = time.perf_counter()
            tenants.append((name, project_id, tuple(values)))
        if self._core.writes() != mark:
            written = self._core.written_since(mark)
            if written is None:
                return self.snapshot(scope, snapshots)
            tenants = [(name, project_id, tuple((dep.dep_id, _read_again(dep, vms, read, written)) for dep, vms in deps))
                       for name, project_id, deps in self._records(scope)]
        return OpdataBuild(self._deployments, tuple(tenants), whole=scope is None, snapshots=snapshots)

    def _records(self, scope: ListScope | None) -> list[_TenantRecords]:
        """The records of the tenants and deployments in ``scope``, each deployment with its VMs (references:
        their values are read by the caller)."""
        core = self._core
        pending: list[tuple[str, str, list[DeploymentRecord]]] = []
        by_tenant: dict[str, list[DeploymentRecord]] | None = None
        for tenant in core.tenants():
            if scope is not None and not scope.wants(tenant.name):
                continue
            inner = scope.inner(tenant.name) if scope is not None else None
            names = inner.keys() if inner is not None else None
            if names is not None:  # named deployments: looked up, not sorted out of all of them
                found = {d.dep_id: d for d in (core.find_deployment(tenant.name, n) for n in names) if d is not None}
                deps = sorted((d for d in found.values() if d.tenant == tenant.name and inner is not None
                               and inner.wants(d.name)), key=lambda d: d.name)
            else:
                if by_tenant is None:
                    by_tenant = {}
                    for dep in core.deployments():
                        by_tenant.setdefault(dep.tenant, []).append(dep)
                deps = [d for d in by_tenant.get(tenant.name, ()) if inner is None or inner.wants(d.name)]
            pending.append((tenant.name, tenant.project_id, deps))
        many = scope is None or sum(len(deps) for _, _, deps in pending) > _GROUP_VMS_ABOVE
        grouped = core.vms_by_deployment() if many else None
        return [(name, project_id, [(dep, grouped.get(dep.dep_id, []) if grouped is not None else core.vms(dep.dep_id))
                                    for dep in deps]) for name, project_id, deps in pending]

    def element(self, scope: ListScope | None = None,
                snapshots: Sequence[SnapshotRecord] | None = None) -> etree._Element:
        """:meth:`snapshot` and its XML at once: the ``esc_datamodel`` element."""
        holder = etree.Element("holder")
        self.snapshot(scope, snapshots).add_to(holder)
        return holder[0]
