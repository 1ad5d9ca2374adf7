"""Opdata built from the filter: the same reply as building everything and filtering it, for every filter.

A real core (in-memory store, simulated cloud, nothing deployed by it: its records are stored before it
starts, unmonitored so the monitor leaves them alone) holds three tenants, same-named deployments in two of
them, VMs with and without servers. Each filter is applied twice: to the opdata of every tenant, and to the
opdata built only for ``list_scope(filter)``; the two ``<data>`` trees must serialize to the same bytes.
Table-driven cases pin the scope each filter gets (so pruning is shown to happen); hypothesis draws random
subtree and XPath filters over the opdata's shape.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from copy import deepcopy
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.store import RecordKind
from esc_netconf.core.model import (DeploymentRecord, DeploymentSpec, InterfaceSpec, ScalingSpec, TenantRecord,
                                    VmGroupSpec, VmInterface, VmRecord)
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.filters import (FilterSpec, FilterType, ListScope, Reach, apply_filter, copy_within_reach,
                                         list_scope, selects_entries_whole, top_reach)
from esc_netconf.netconf.messages import BASE_NS
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.session import serialize_body
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.domain import SNAPSHOT_LEVELS
from esc_netconf.northbound.esc_xml import ESC_NS
from esc_netconf.northbound import opdata as opdata_module
from esc_netconf.northbound.opdata import OPDATA_LEVELS, OpdataBuilder
from esc_netconf.vim.sim import SimCloud, SimSettings


YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
LAYOUT = {"a": {"d1": ("g1", "g2"), "d2": ("g1",)}, "b": {"d1": ("g1",), "d3": ("g1", "g2")}, "c": {}}


def _group(name: str) -> VmGroupSpec:
    return VmGroupSpec(name, "cirros", "m1.tiny", bootup_time=5, recovery_wait_time=2,
                       interfaces=(InterfaceSpec(0, "net-mgmt"),), scaling=ScalingSpec(1, 2, True, ()))


def _store() -> MemoryStore:
    store = MemoryStore()
    for tenant, deployments in LAYOUT.items():
        store.save_tenant(TenantRecord(tenant, f"pid-{tenant}", "default_openstack_vim", vim_project=tenant))
        for dep_name, groups in deployments.items():
            dep_id = f"{tenant}-{dep_name}-id"
            spec = DeploymentSpec(dep_name, tuple(_group(g) for g in groups), ())
            store.save_deployment(DeploymentRecord(dep_id, tenant, dep_name, spec, ServiceState.ACTIVE, T0,
                                                   service_id=f"sid-{dep_id}"))
            for g in groups:
                for index in range(2):
                    name = f"{dep_name}_{g}_{index}_{tenant}"
                    vm = VmRecord(f"vm-{name}", dep_id, tenant, dep_name, g, index, name, VmState.ALIVE,
                                  server_id=None if (g, index) == ("g2", 1) else f"srv-{name}",
                                  host_id="h1", hostname="host-1",
                                  interfaces=[VmInterface(0, "net-mgmt", f"10.0.0.{index}", "fa:16:3e:00:00:01",
                                                          "port-1", "net-id", "sub-id", "255.255.255.0", "10.0.0.1")])
                    vm.remember(T0, "VM_DEPLOYED", "deployed")
                    vm.remember(T0, "VM_ALIVE")
                    store.save_vm(vm)
    return store


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture
async def core(tmp_path: Path) -> AsyncIterator[EscCore]:
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.0))
    escore = EscCore(sim, _store(), EventBus(), settings=CoreSettings(monitor_interval=3600.0))
    await escore.start()
    try:
        yield escore
    finally:
        await escore.stop()
        await sim.close()


RUNNING = etree.fromstring(
    f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC_NS}"><tenants><tenant><name>a</name><deployments>'
    "<deployment><name>d1</name><vm_group><name>g1</name><image>cirros</image></vm_group></deployment>"
    "</deployments></tenant><tenant><name>b</name></tenant></tenants></esc_datamodel>"
    '<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"><schemas><schema>'
    "<identifier>esc</identifier><version>1</version></schema></schemas></netconf-state></data>")
"""A running configuration next to the opdata, and a top-level state node: what a ``get`` filters."""


def _data(builder: OpdataBuilder, spec: FilterSpec, scope: ListScope | None, reach: Reach | None,
          placeholders: Placeholders | None) -> etree._Element:
    """As ``get`` assembles it: the running configuration (only what ``reach`` names), then the opdata."""
    data = copy_within_reach(RUNNING, reach)
    builder.snapshot(scope).add_to(data, placeholders)
    return data


def both(core: EscCore, model: YangModel, spec: FilterSpec) -> tuple[bytes, bytes, ListScope | None]:
    """(built whole then filtered, built from the filter then filtered, the scope) for one filter, as the
    reply's bytes. Built from the filter as ``get`` does: with stand-ins for the deployments, spliced in as
    bytes when the filter takes them whole (``selects_entries_whole``), else parsed back into elements."""

    def keys(path: tuple[str, ...]) -> tuple[str, ...]:
        node = model.node(path)
        return tuple(node.keys) if node is not None else ()

    def reply(data: etree._Element, placeholders: Placeholders | None = None) -> bytes:
        if placeholders is not None and placeholders.needs_elements:
            data, placeholders = placeholders.elements(data), None
        try:
            filtered = apply_filter(data, spec, keys)
        except NetconfError as error:  # a bad filter fails the same way whatever was built
            return f"{error.tag}: {error.message}".encode()
        return (placeholders.serialize(filtered) if placeholders else serialize_body([filtered])).data

    scope = list_scope(spec, OPDATA_LEVELS)
    builder = OpdataBuilder(core)  # the scoped build reuses the VMs the whole one rendered
    # the reference: the whole running configuration with all opdata added into its esc_datamodel
    reference = deepcopy(RUNNING)
    reference[0].extend(list(builder.element()))
    whole = reply(reference)
    placeholders = Placeholders()
    placeholders.needs_elements = not selects_entries_whole(spec, OPDATA_LEVELS)
    return whole, reply(_data(builder, spec, scope, top_reach(spec), placeholders), placeholders), scope


def subtree(body: str) -> FilterSpec:
    element = etree.fromstring(f'<filter xmlns="{BASE_NS}" type="subtree">{body}</filter>')
    return FilterSpec(FilterType.SUBTREE, element=element)


def xpath(select: str, nsmap: dict[str, str] | None = None) -> FilterSpec:
    return FilterSpec(FilterType.XPATH, select=select, nsmap=nsmap or {})


def opdata(body: str) -> str:
    return f'<esc_datamodel xmlns="{ESC_NS}"><opdata>{body}</opdata></esc_datamodel>'


def tenant(body: str) -> str:
    return opdata(f"<tenants><tenant>{body}</tenant></tenants>")


# (filter, the tenants it builds (None: all), the deployments it builds in tenant "a" (None: all))
CASES: list[tuple[FilterSpec, frozenset[str] | None, frozenset[str] | None]] = [
    (subtree(tenant("<name>a</name><deployments><deployment_name>d1</deployment_name></deployments>")),
     frozenset("a"), frozenset({"d1"})),
    (subtree(tenant("<name>a</name>")), frozenset("a"), None),
    (subtree(tenant("<name> a </name><deployments/>")), frozenset("a"), None),
    (subtree(tenant("<deployments><deployment_name>d1</deployment_name></deployments>")), None, frozenset({"d1"})),
    (subtree(tenant("<name>zz</name>")), frozenset({"zz"}), frozenset()),
    (subtree(tenant("<name>a</name><name>b</name>")), frozenset(), frozenset()),
    (subtree(opdata("")), None, None),
    (subtree(opdata("<status/>")), frozenset(), frozenset()),
    (subtree(opdata("<tenants/>")), None, None),
    (subtree(opdata("<tenants><tenant><name>a</name></tenant><tenant><name>b</name><tenant_id/></tenant>"
                    "</tenants>")), frozenset("ab"), None),
    (subtree(tenant("<name>a</name><deployments><deployment_name>d1</deployment_name><vm_group><name>g1</name>"
                    "</vm_group></deployments>")), frozenset("a"), frozenset({"d1"})),
    (subtree(tenant("<tenant_id>pid-b</tenant_id><deployments><state_machine><state>SERVICE_ACTIVE_STATE"
                    "</state></state_machine></deployments>")), None, None),
    (subtree(f'<esc_datamodel xmlns="{ESC_NS}"><tenants/></esc_datamodel>'), frozenset(), frozenset()),
    (subtree(f'<esc_datamodel xmlns="{ESC_NS}"><tenants><tenant><name>a</name></tenant></tenants><opdata>'
             "<tenants><tenant><name>b</name></tenant></tenants></opdata></esc_datamodel>"), frozenset("b"), frozenset()),
    (subtree("<esc_datamodel><tenants><tenant><deployments><deployment><vm_group><image/></vm_group></deployment>"
             "</deployments></tenant></tenants></esc_datamodel>"), frozenset(), frozenset()),
    (subtree("<esc_datamodel/>"), None, None),
    (subtree("<schemas/>"), frozenset(), frozenset()),
    (xpath("esc_datamodel/tenants/tenant[name='a']/deployments/deployment/name | netconf-state/schemas"),
     frozenset(), frozenset()),
    (xpath("esc_datamodel[tenants/tenant/name='a']/opdata/status"), None, None),
    (xpath("esc_datamodel"), None, None),
    (xpath("*/opdata/tenants/tenant[name='a']"), None, None),
    (subtree('<netconf-state xmlns="urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"/>'),
     frozenset(), frozenset()),
    (subtree('<esc_datamodel xmlns="urn:other"><opdata/></esc_datamodel>'), frozenset(), frozenset()),
    (subtree(""), frozenset(), frozenset()),
    (subtree("<esc_datamodel><opdata><tenants><tenant><name>b</name></tenant></tenants></opdata></esc_datamodel>"),
     frozenset("b"), frozenset()),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d1']"),
     frozenset("a"), frozenset({"d1"})),
    (xpath("/esc_datamodel/opdata/tenants/tenant[name='a']"), frozenset("a"), None),
    (xpath("esc_datamodel/opdata/tenants/tenant/deployments[deployment_name='d1']"), None, frozenset({"d1"})),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d2'] | "
           "esc_datamodel/opdata/tenants/tenant[name='b']"), frozenset("ab"), frozenset({"d2"})),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a'][name='b']"), frozenset(), frozenset()),
    (xpath("esc_datamodel/opdata/tenants/tenant[position()=1]"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[2]/deployments"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d1']/../tenant_id"),
     None, None),
    (xpath("//deployments[deployment_name='d1']"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d1']/vm_group[name='g1']"
           "/vm_instance/name"), frozenset("a"), frozenset({"d1"})),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[count(/esc_datamodel/opdata/tenants/"
           "tenant)=3]"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[deployments/deployment_name='d3']"), None, None),
    (xpath("e:esc_datamodel/e:opdata/e:tenants/e:tenant[e:name='b']", {"e": ESC_NS}), frozenset("b"), frozenset()),
    (xpath("e:esc_datamodel/e:opdata/e:tenants/e:tenant[e:name='b']", {"e": "urn:other"}), frozenset(),
     frozenset()),
    (xpath("e:esc_datamodel/e:*/e:tenants/e:tenant[e:name='b']", {"e": ESC_NS}), None, None),
    (xpath("esc_datamodel/opdata/status"), frozenset(), frozenset()),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[last()]"), frozenset("a"), None),
    (xpath('esc_datamodel/opdata/tenants/tenant[name="a"]/deployments[deployment_name="d1"]/state_machine/state'
           "/text()"), frozenset("a"), frozenset({"d1"})),
    (xpath("esc_datamodel/opdata/tenants/tenant['a'=name]/deployments[deployment_name='d1' and "
           "service_name='-']"), frozenset("a"), None),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d1']/vm_group["
           "vm_instance/name=//vm_instance/name]"), None, None),
    (xpath("esc_datamodel/opdata[tenants/tenant/name='a']/status"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[name=$x]"), None, None),
    (xpath("/"), None, None),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments/deployment_name"), frozenset("a"), None),
]


def _built(core: EscCore, scope: ListScope | None) -> tuple[frozenset[str], frozenset[str]]:
    ns = {"e": ESC_NS}
    element = OpdataBuilder(core).element(scope=scope)
    tenants = frozenset(element.xpath("e:opdata/e:tenants/e:tenant/e:name/text()", namespaces=ns))
    deps = frozenset(element.xpath("e:opdata/e:tenants/e:tenant[e:name='a']/e:deployments/e:deployment_name/text()",
                                   namespaces=ns))
    return tenants, deps


async def test_built_from_the_filter_as_built_whole(core: EscCore, model: YangModel) -> None:
    for case, (spec, tenants, deployments) in enumerate(CASES):  # one core for all: a core costs a start
        whole, scoped, scope = both(core, model, spec)
        assert scoped == whole, f"case {case}"
        built_tenants, built_deps = _built(core, scope)
        assert built_tenants == (frozenset(LAYOUT) if tenants is None else tenants & frozenset(LAYOUT)), f"case {case}"
        expected_deps = frozenset(LAYOUT["a"]) if deployments is None else deployments & frozenset(LAYOUT["a"])
        assert built_deps == (expected_deps if "a" in built_tenants else frozenset()), f"case {case}"


# ---- random filters ------------------------------------------------------------------------------------

SHAPE: dict[str, object] = {
    "status": None,
    "tenants": {"tenant": {
        "name": None, "tenant_id": None,
        "deployments": {
            "deployment_name": None, "service_name": None, "deployment_id": None,
            "state_machine": {"state": None, "vm_state_machines": {"vm_state_machine": {"vm_name": None,
                                                                                          "state": None}}},
            "vm_group": {"name": None, "vm_instance": {"vm_id": None, "name": None, "hostname": None}},
        },
    }},
}
VALUES = ["a", "b", "c", "zz", "d1", "d2", "d3", "g1", "g2", "pid-b", "-", "SERVICE_ACTIVE_STATE", "VM_ALIVE_STATE",
          "host-1", "d1_g1_0_a"]


@st.composite
def subtree_nodes(draw: st.DrawFn, shape: dict[str, object], depth: int = 0) -> str:
    names = draw(st.lists(st.sampled_from(sorted(shape)), min_size=1, max_size=3))
    out = []
    for name in names:
        below = shape[name]
        kind = draw(st.sampled_from(["select", "content", "contain"] if isinstance(below, dict)
                                    else ["select", "content"]))
        if kind == "select":
            out.append(f"<{name}/>")
        elif kind == "content":
            out.append(f"<{name}>{draw(st.sampled_from(VALUES))}</{name}>")
        else:
            assert isinstance(below, dict)
            out.append(f"<{name}>{draw(subtree_nodes(below, depth + 1))}</{name}>")
    return "".join(out)


@st.composite
def xpath_paths(draw: st.DrawFn) -> str:
    steps = ["esc_datamodel", "opdata"]
    shape: object = SHAPE
    while isinstance(shape, dict) and draw(st.integers(0, 4)) > 0:
        name = draw(st.sampled_from(sorted(shape)))
        below = shape[name]
        step = name
        if isinstance(below, dict) and draw(st.booleans()):
            leaves = sorted(k for k, v in below.items() if v is None) or ["name"]
            predicate = draw(st.sampled_from([
                f"{draw(st.sampled_from(leaves))}='{draw(st.sampled_from(VALUES))}'",
                str(draw(st.integers(1, 3))), "last()", f"count({draw(st.sampled_from(leaves))})=1",
                f"{draw(st.sampled_from(leaves))}='{draw(st.sampled_from(VALUES))}' or position()=2",
            ]))
            step += f"[{predicate}]"
        steps.append(step)
        shape = below
    return "/".join(steps)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(
    subtree_nodes(SHAPE).map(lambda body: subtree(opdata(body))),
    st.lists(xpath_paths(), min_size=1, max_size=2).map(lambda paths: xpath(" | ".join(paths))),
))
async def test_random_filters_agree(core: EscCore, model: YangModel, spec: FilterSpec) -> None:
    whole, scoped, _ = both(core, model, spec)
    assert scoped == whole


@pytest.mark.parametrize(("spec", "whole"), [
    (None, True),
    (xpath("esc_datamodel/opdata"), True),
    (subtree(tenant("<name>a</name><deployments><deployment_name>d1</deployment_name></deployments>")), True),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments[deployment_name='d1']"), True),
    (xpath("/esc_datamodel/opdata/tenants/tenant[name='a'] | netconf-state"), True),
    (subtree("<esc_datamodel/>"), True),
    (subtree(tenant("<name>a</name><tenant_id/>")), True),
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']/deployments/deployment_name"), False),
    (subtree(tenant("<deployments><deployment_name/></deployments>")), False),
    (subtree(tenant("<deployments><service_name>-</service_name></deployments>")), False),
    (subtree(opdata('<tenants><tenant><deployments xmlns:x="urn:x" x:a="1"/></tenant></tenants>')), False),
    (xpath("//deployments"), False),
    (xpath("esc_datamodel/opdata/tenants/tenant[deployments/deployment_name='d3']"), False),
    (xpath("esc_datamodel/*/tenants/tenant"), False),
])
def test_filters_that_take_deployments_whole(spec: FilterSpec | None, whole: bool) -> None:
    """These get stand-ins spliced as bytes (the common gets: all opdata, one deployment); the others real
    entries. Both give the same reply (``test_built_from_the_filter_as_built_whole``)."""
    assert selects_entries_whole(spec, OPDATA_LEVELS) is whole


def test_scope_of_no_filter_is_everything() -> None:
    assert list_scope(None, OPDATA_LEVELS) is None



async def test_a_changed_vm_is_rendered_again(core: EscCore) -> None:
    builder = OpdataBuilder(core)
    before = etree.tostring(builder.element())
    vm = core.vms("a-d1-id")[0]
    vm.hostname = "host-2"
    vm.remember(T0, "VM_RECOVERY_COMPLETE", "moved")
    vm.interfaces[0].ip_address = "10.0.0.99"
    after = etree.tostring(builder.element())
    assert after != before
    assert after == etree.tostring(OpdataBuilder(core).element())
    assert b"host-2" in after and b"10.0.0.99" in after and b"moved" in after


@pytest.mark.parametrize(("spec", "listed"), [
    (xpath("esc_datamodel/opdata/tenants/tenant[name='a']"), False),
    (subtree(tenant("<name>a</name>")), False),
    (subtree(opdata("<status/>")), False),
    (xpath("esc_datamodel/opdata"), True),
    (xpath("esc_datamodel/opdata/snapshots/snapshot[id='s1']/name"), True),
    (subtree(opdata("<snapshots/>")), True),
    (subtree(opdata("<snapshots><snapshot><id>s1</id></snapshot></snapshots>")), True),
    (subtree("<esc_datamodel/>"), True),
    (xpath("//snapshot"), True),
])
def test_snapshots_listed_only_when_the_filter_reaches_them(spec: FilterSpec, listed: bool) -> None:
    scope = list_scope(spec, SNAPSHOT_LEVELS)
    assert (scope is None or bool(scope.picks)) is listed


async def test_a_build_shows_its_snapshot_not_what_changed_after_it(core: EscCore) -> None:
    """The build runs in a worker thread while the loop goes on changing records: it must show the state
    the snapshot was taken in, whole, and nothing of the changes made after it (no torn reply)."""
    builder = OpdataBuilder(core)
    builder.element()  # every deployment rendered once: the build below copies what did not change
    snapshot = builder.snapshot()
    before = etree.tostring(OpdataBuilder(core).element())
    vm = core.vms("a-d1-id")[0]
    vm.hostname = "host-2"
    vm.state = VmState.ERROR
    vm.remember(T0, "VM_RECOVERY_COMPLETE", "moved")
    vm.interfaces[0].ip_address = "10.0.0.99"
    core.find_deployment("b", "d3").state = ServiceState.ERROR  # type: ignore[union-attr]
    holder = etree.Element("data")
    snapshot.add_to(holder)
    assert etree.tostring(holder[0]) == before
    assert etree.tostring(builder.element()) == etree.tostring(OpdataBuilder(core).element()) != before


async def test_a_read_in_slices_that_meets_a_write_reads_again(core: EscCore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``get`` reads the records a slice at a time; a record changed (and so written) between two slices
    could leave it half old, half new: at the end, the deployments a write touched are read again (only
    those), so the reply shows the new state whole; when the core cannot tell which, all in one go."""
    monkeypatch.setattr(opdata_module, "SLICE_SECONDS", 0.0)  # a turn of the loop after each deployment
    written: list[tuple[RecordKind, str]] = []
    monkeypatch.setattr(core, "writes", lambda: len(written))
    monkeypatch.setattr(core, "written_since", lambda mark: set(written[mark:]))
    reads: list[str] = []
    real_values = opdata_module._deployment_values

    def deployment_values(dep: DeploymentRecord, vms: list[VmRecord]) -> opdata_module.DeploymentValues:
        reads.append(dep.dep_id)
        return real_values(dep, vms)

    monkeypatch.setattr(opdata_module, "_deployment_values", deployment_values)
    builder = OpdataBuilder(core)
    reading = asyncio.get_running_loop().create_task(builder.snapshot_in_slices())
    await asyncio.sleep(0)  # the first deployment (tenant a, d1) is read
    vm = core.vms("a-d1-id")[0]
    vm.hostname = "host-9"
    written.append((RecordKind.VM, vm.vm_id))
    holder = etree.Element("data")
    (await reading).add_to(holder)
    assert sorted(reads) == sorted([*(d.dep_id for d in core.deployments()), "a-d1-id"])  # read again: only it
    assert b"host-9" in etree.tostring(holder[0])
    assert etree.tostring(holder[0]) == etree.tostring(OpdataBuilder(core).element())

    monkeypatch.setattr(core, "written_since", lambda mark: None)  # too many writes to tell which
    one_go = builder.snapshot
    in_one_go: list[int] = []

    def snapshot(*args: object) -> opdata_module.OpdataBuild:
        in_one_go.append(1)
        return one_go(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(builder, "snapshot", snapshot)
    reading = asyncio.get_running_loop().create_task(builder.snapshot_in_slices())
    await asyncio.sleep(0)
    core.find_deployment("b", "d3").state = ServiceState.ERROR  # type: ignore[union-attr]
    written.append((RecordKind.DEPLOYMENT, "b-d3-id"))
    holder = etree.Element("data")
    (await reading).add_to(holder)
    assert in_one_go == [1]
    assert etree.tostring(holder[0]) == etree.tostring(OpdataBuilder(core).element())
