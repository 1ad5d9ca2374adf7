"""How long a ``get`` of opdata holds the event loop at 10,000 VMs, with nothing else running on it.

``bench/edit_scale.py`` measures the loop's lag during its gets phase, but there the gets share the loop with
the delivery of the edits' escEvents, the monitor and the SSH sessions, so its figure says little about the
``get`` itself. Here one real core (in-memory store, simulated cloud, unmonitored) holds ``--deployments``
x ``--vms`` records (10 tenants), a real NETCONF server with the real opdata provider answers ``get``s
through its dispatch (no SSH), and every callback the loop runs is timed in the loop thread's CPU time:
the longest is the longest stall a ``get`` causes, whatever the machine's load (wall times are printed too,
and bend with the load). Each filter runs ``--repeat`` times: the first renders every deployment, the
others only what changed (nothing).

    .venv/bin/python bench/get_steps.py --deployments 2000 --vms 5
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from esc_netconf import gcpolicy  # noqa: E402
from esc_netconf.core.backup import SnapshotManager  # noqa: E402
from esc_netconf.core.backup.memory_store import MemorySnapshotStore  # noqa: E402
from esc_netconf.core.context import CoreSettings  # noqa: E402
from esc_netconf.core.events import EventBus  # noqa: E402
from esc_netconf.core.lifecycle import EscCore  # noqa: E402
from esc_netconf.core.memory_store import MemoryStore  # noqa: E402
from esc_netconf.core.model import (DeploymentRecord, DeploymentSpec, TenantRecord, VmInterface,  # noqa: E402
                                    VmRecord)
from esc_netconf.core.states import ServiceState, VmState  # noqa: E402
from esc_netconf.domain import opdata_provider  # noqa: E402
from esc_netconf.netconf.context import SessionContext  # noqa: E402
from esc_netconf.netconf.datastore import Datastore  # noqa: E402
from esc_netconf.netconf.messages import BASE_NS  # noqa: E402
from esc_netconf.netconf.persistence import MemoryConfigStore  # noqa: E402
from esc_netconf.netconf.server import NetconfServer  # noqa: E402
from esc_netconf.netconf.session import SerializedBody  # noqa: E402
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo  # noqa: E402
from esc_netconf.netconf.yangmodel import YangModel  # noqa: E402
from esc_netconf.northbound.esc_xml import ESC_NS  # noqa: E402
from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402
from tests.unit.netconf.test_subscriptions import MemoryReplayLog  # noqa: E402
from tests.unit.northbound.test_opdata_scope import T0, _group  # noqa: E402

TENANTS = 10
YANG_DIR = Path(__file__).resolve().parent.parent / "yang"


class LongestStep:
    """The loop thread's CPU time of the longest callback since :meth:`take` (``asyncio.events.Handle._run``
    timed; a task's step is one callback)."""

    def __init__(self) -> None:
        self.longest = 0.0
        real = asyncio.events.Handle._run

        def timed(handle: asyncio.events.Handle) -> None:
            started = time.thread_time()
            real(handle)
            self.longest = max(self.longest, time.thread_time() - started)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign]

    def take(self) -> float:
        longest, self.longest = self.longest, 0.0
        return longest


def _store(deployments: int, vms: int) -> MemoryStore:
    store = MemoryStore()
    for t in range(TENANTS):
        tenant = f"t{t}"
        store.save_tenant(TenantRecord(tenant, f"pid-{tenant}", "default_openstack_vim", vim_project=tenant))
        for d in range(deployments // TENANTS):
            name, dep_id = f"d{d}", f"{tenant}-d{d}-id"
            store.save_deployment(DeploymentRecord(dep_id, tenant, name, DeploymentSpec(name, (_group("g1"),), ()),
                                                   ServiceState.ACTIVE, T0, service_id=f"sid-{dep_id}"))
            for i in range(vms):
                vm_name = f"{name}_g1_{i}_{tenant}"
                vm = VmRecord(f"vm-{vm_name}", dep_id, tenant, name, "g1", i, vm_name, VmState.ALIVE,
                              server_id=f"srv-{vm_name}", host_id="h1", hostname="host-1",
                              interfaces=[VmInterface(0, "net-mgmt", "10.0.0.1", "fa:16:3e:00:00:01", "port-1",
                                                      "net-id", "sub-id", "255.255.255.0", "10.0.0.254")])
                for _ in range(4):
                    vm.remember(T0, "VM_DEPLOYED", "deployed")
                store.save_vm(vm)
    return store


class _NoTransport:
    def send(self, data: bytes) -> None:
        """The handler is called directly: nothing is sent."""


FILTERS = {
    "all opdata (XPath esc_datamodel/opdata)": '<filter type="xpath" select="esc_datamodel/opdata"/>',
    "everything (no filter)": "",
    "one deployment (subtree)": (f'<filter type="subtree"><esc_datamodel xmlns="{ESC_NS}"><opdata><tenants><tenant>'
                                 "<name>t3</name><deployments><deployment_name>d7</deployment_name></deployments>"
                                 "</tenant></tenants></opdata></esc_datamodel></filter>"),
    "one deployment (XPath)": ('<filter type="xpath" select="esc_datamodel/opdata/tenants/tenant[name=\'t3\']/'
                               'deployments[deployment_name=\'d7\']"/>'),
    "inside every deployment (XPath .../state_machine)": (
        '<filter type="xpath" select="esc_datamodel/opdata/tenants/tenant/deployments/state_machine"/>'),
    "one VM anywhere (XPath //vm_instance[name=...])": '<filter type="xpath" select="//vm_instance[name=\'d7_g1_0_t3\']"/>',
}


async def run(deployments: int, vms: int, repeat: int) -> None:
    steps = LongestStep()
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimCloud(Path(tmp) / "sim", lambda: SimSettings(delay_scale=0.0))
        bus = EventBus()
        core = EscCore(sim, _store(deployments, vms), bus, settings=CoreSettings(monitor_interval=3600.0))
        await core.start()
        model = YangModel.load(YANG_DIR)
        hub = NotificationHub(MemoryReplayLog(), [StreamInfo("NETCONF", "d", True)], lambda: datetime.now(UTC))
        server = NetconfServer(model, Datastore(model, MemoryConfigStore()), hub)
        snapshots = SnapshotManager(core, sim, MemorySnapshotStore(), bus, setting=lambda key: 1.0,
                                    export_dir=Path(tmp) / "exports")
        server.add_state_provider(opdata_provider(core, snapshots))
        ctx = SessionContext(1, "admin", "127.0.0.1", _NoTransport())  # type: ignore[arg-type]
        gcpolicy.apply()
        print(f"{deployments} deployments x {vms} VMs; {'get':<50} {'first ms':>9} {'then p50 ms':>12} "
              f"{'reply bytes':>12} {'longest loop step CPU ms':>25}")
        try:
            for label, filter_xml in FILTERS.items():
                await asyncio.sleep(0)
                steps.take()
                walls: list[float] = []
                size = 0
                for _ in range(repeat):
                    started = time.perf_counter()
                    reply: Any = await server.run_operation(
                        ctx, etree.fromstring(f'<get xmlns="{BASE_NS}">{filter_xml}</get>'))
                    walls.append((time.perf_counter() - started) * 1000)
                    size = len(reply.data) if isinstance(reply, SerializedBody) else len(etree.tostring(reply[0]))
                    del reply
                    await asyncio.sleep(0.2)  # a tree freed after the reply (filters that look inside) is freed now
                print(f"{'':>30} {label:<50} {walls[0]:>9.1f} {statistics.median(walls[1:] or walls):>12.1f} "
                      f"{size:>12} {steps.take() * 1000:>25.1f}")
        finally:
            await core.stop()
            await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.deployments, args.vms, args.repeat))


if __name__ == "__main__":
    main()
