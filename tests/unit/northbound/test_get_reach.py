"""A ``get`` reads, builds and filters only the opdata its filter reaches, counted (never timed).

Through the real ``get`` handler of a real NETCONF server with the real opdata provider over a real core
(in-memory store, 3 tenants x 10 deployments x 2 VMs, unmonitored): a filter naming one deployment, by
subtree or by XPath, must read that deployment's VMs only (``_vm_values`` is the snapshot's one read of a
VM record), render at most that deployment, and hand the filter a tree holding only it; a filter naming a
tenant reads that tenant's. A ``get`` of all opdata reads everything, which shows the counters count, and
builds in slices (a deployment each here: ``SLICE_SECONDS`` 0), letting the loop run other work in between.
The tree holds stand-ins for the deployments: their bytes are spliced into the reply when the filter takes
them whole, else parsed back into elements before the filter runs; the reply is parsed either way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from esc_netconf.core.backup import SnapshotManager
from esc_netconf.core.backup.memory_store import MemorySnapshotStore
from esc_netconf.core.context import CoreSettings
from esc_netconf.core.events import EventBus
from esc_netconf.core.lifecycle import EscCore
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import DeploymentRecord, DeploymentSpec, TenantRecord, VmInterface, VmRecord
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.domain import opdata_provider
from esc_netconf.netconf import base_operations
from esc_netconf.netconf.context import SessionContext
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.messages import BASE_NS
from esc_netconf.netconf.persistence import MemoryConfigStore
from esc_netconf.netconf.placeholders import Placeholders
from esc_netconf.netconf.session import SerializedBody
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound import opdata
from esc_netconf.northbound.esc_xml import ESC_NS
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.unit.netconf.test_subscriptions import MemoryReplayLog
from tests.unit.northbound.test_opdata_scope import T0, _group

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
TENANTS, DEPLOYMENTS, VMS = 3, 10, 2
NS = {"e": ESC_NS}


def _store() -> MemoryStore:
    store = MemoryStore()
    for t in range(TENANTS):
        tenant = f"t{t}"
        store.save_tenant(TenantRecord(tenant, f"pid-{tenant}", "default_openstack_vim", vim_project=tenant))
        for d in range(DEPLOYMENTS):
            name, dep_id = f"d{d}", f"{tenant}-d{d}-id"
            store.save_deployment(DeploymentRecord(dep_id, tenant, name, DeploymentSpec(name, (_group("g1"),), ()),
                                                   ServiceState.ACTIVE, T0, service_id=f"sid-{dep_id}"))
            for index in range(VMS):
                vm_name = f"{name}_g1_{index}_{tenant}"
                vm = VmRecord(f"vm-{vm_name}", dep_id, tenant, name, "g1", index, vm_name, VmState.ALIVE,
                              server_id=f"srv-{vm_name}", host_id="h1", hostname="host-1",
                              interfaces=[VmInterface(0, "net-mgmt", "10.0.0.1", "fa:16:3e:00:00:01")])
                vm.remember(T0, "VM_DEPLOYED", "deployed")
                store.save_vm(vm)
    return store


class _Transport:
    def send(self, data: bytes) -> None:
        """Nothing is sent: the handler is called directly."""


@dataclass
class Counts:
    """What one ``get`` read, rendered and filtered, and how often its build let the loop run other work."""

    vm_reads: int = 0
    renders: int = 0
    filtered_deployments: list[int] = field(default_factory=list)
    slices: int = 0


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture
async def get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: YangModel) -> AsyncIterator[
        Callable[[str], Any]]:
    sim = SimCloud(tmp_path / "sim", lambda: SimSettings(delay_scale=0.0))
    bus = EventBus()
    core = EscCore(sim, _store(), bus, settings=CoreSettings(monitor_interval=3600.0))
    await core.start()
    hub = NotificationHub(MemoryReplayLog(), [StreamInfo("NETCONF", "d", True)], lambda: datetime.now(UTC))
    server = NetconfServer(model, Datastore(model, MemoryConfigStore()), hub)
    snapshots = SnapshotManager(core, sim, MemorySnapshotStore(), bus, setting=lambda key: 1.0,
                                export_dir=tmp_path / "exports")
    server.add_state_provider(opdata_provider(core, snapshots))
    ctx = SessionContext(1, "admin", "127.0.0.1", _Transport())  # type: ignore[arg-type]
    counts = Counts()

    def counting(real: Callable[..., Any], attribute: str) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            setattr(counts, attribute, getattr(counts, attribute) + 1)
            return real(*args, **kwargs)
        return wrapper

    real_filter = base_operations.filter_data

    async def filter_data(data: etree._Element, *args: Any, **kwargs: Any) -> etree._Element:
        counts.filtered_deployments.append(len(data.findall(".//e:deployments", NS)))
        return await real_filter(data, *args, **kwargs)

    real_steps = opdata.OpdataBuild.steps

    def steps(self: opdata.OpdataBuild, data: etree._Element,
              placeholders: Placeholders | None = None) -> Iterator[None]:
        for step in real_steps(self, data, placeholders):
            counts.slices += 1
            yield step

    monkeypatch.setattr(opdata, "_vm_values", counting(opdata._vm_values, "vm_reads"))
    monkeypatch.setattr(opdata, "_render_deployment", counting(opdata._render_deployment, "renders"))
    monkeypatch.setattr(base_operations, "filter_data", filter_data)
    monkeypatch.setattr(opdata.OpdataBuild, "steps", steps)
    monkeypatch.setattr(opdata, "SLICE_SECONDS", 0.0)

    async def run(filter_xml: str) -> tuple[Counts, etree._Element]:
        nonlocal counts
        counts = Counts()
        reply = await server.run_operation(ctx, etree.fromstring(f'<get xmlns="{BASE_NS}">{filter_xml}</get>'))
        assert reply is not None
        if isinstance(reply, SerializedBody):  # deployments spliced in as bytes
            return counts, etree.fromstring(b'<rpc-reply xmlns="%s">%s</rpc-reply>' % (BASE_NS.encode(), reply.data))[0]
        return counts, reply[0]

    try:
        yield run
    finally:
        await core.stop()
        await sim.close()


def _subtree(body: str) -> str:
    return (f'<filter type="subtree"><esc_datamodel xmlns="{ESC_NS}"><opdata><tenants><tenant>{body}</tenant>'
            "</tenants></opdata></esc_datamodel></filter>")


def _xpath(select: str) -> str:
    return f'<filter type="xpath" select="{select}"/>'


ONE = [
    _subtree("<name>t1</name><deployments><deployment_name>d7</deployment_name></deployments>"),
    _xpath("esc_datamodel/opdata/tenants/tenant[name='t1']/deployments[deployment_name='d7']"),
    _subtree("<name>t1</name><deployments><deployment_name>d7</deployment_name><vm_group><vm_instance>"
             "<name/></vm_instance></vm_group></deployments>"),
    _xpath("esc_datamodel/opdata/tenants/tenant[name='t1']/deployments[deployment_name='d7']/state_machine/state"),
]


@pytest.mark.parametrize("filter_xml", ONE)
async def test_a_filter_for_one_deployment_reads_and_builds_only_it(get: Any, filter_xml: str) -> None:
    counts, data = await get(filter_xml)
    assert counts.vm_reads == VMS
    assert counts.renders == 1
    assert counts.filtered_deployments == [1]
    assert data.xpath("//e:deployments/e:deployment_name/text()", namespaces=NS) == ["d7"]
    again, _ = await get(filter_xml)  # unchanged: the remembered entry is copied, not rendered again
    assert (again.vm_reads, again.renders, again.filtered_deployments) == (VMS, 0, [1])


async def test_a_filter_for_one_tenant_reads_only_its_deployments(get: Any) -> None:
    counts, data = await get(_subtree("<name>t2</name>"))
    assert counts.vm_reads == DEPLOYMENTS * VMS
    assert counts.filtered_deployments == [DEPLOYMENTS]
    assert data.xpath("//e:tenant/e:name/text()", namespaces=NS) == ["t2"]


async def test_a_get_of_all_opdata_reads_everything_and_builds_in_slices(get: Any) -> None:
    counts, data = await get(_xpath("esc_datamodel/opdata"))
    assert counts.vm_reads == TENANTS * DEPLOYMENTS * VMS
    assert counts.renders == TENANTS * DEPLOYMENTS
    assert counts.filtered_deployments == [TENANTS * DEPLOYMENTS]
    assert len(data.findall(".//e:vm_instance", NS)) == TENANTS * DEPLOYMENTS * VMS
    assert counts.slices == TENANTS * DEPLOYMENTS
