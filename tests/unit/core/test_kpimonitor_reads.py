"""The scheduler reads each metric's batch in a task of its own: a slow collector (a script near its timeout)
delays its own KPIs only, and a collector that raises judges nothing (it never looks like failing VMs: no
FALSE, no rule)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import cast

from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.core.context import CoreContext, CoreSettings, utc_now
from esc_netconf.core.events import EventBus
from esc_netconf.core.kpimonitor import KpiMonitor
from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import (DeploymentRecord, DeploymentSpec, InterfaceSpec, KpiSpec, RuleSpec, VmGroupSpec,
                                    VmInterface, VmRecord)
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.vim.base import VimDriver

PING = KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing", 0, 1, "seconds", 1, 1)
SCRIPT = KpiSpec("VM_OVERLOADED", "80", "GE", "FLOAT", "CUSTOM_SCRIPT", 0, 1, "seconds", 1, 1,
                 collector_properties=(("script_filename", "load.sh"),))
CPU = KpiSpec("VM_UNDERLOADED", "20", "LE", "FLOAT", "CPU", 0, 1, "seconds", 1, 1)


class Uneven:
    """Ping answers at once (not answered); a script batch takes 5 s; reading the CPU raises (a collector bug)."""

    def __init__(self) -> None:
        self.calls: list[Metric] = []

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        self.calls.append(metric)
        if metric is Metric.CPU:
            raise RuntimeError("collector bug")
        if metric is Metric.SCRIPT:
            await asyncio.sleep(5.0)
            return [95.0] * len(probes)
        return [False] * len(probes)  # every ping fails: VM_ALIVE FALSE after one poll


def monitor_of(collector: Uneven, recoveries: list[str], scales: list[int]) -> KpiMonitor:
    ctx = CoreContext(cast(VimDriver, None), MemoryStore(), EventBus(), utc_now, CoreSettings())
    group = VmGroupSpec("g", "cirros", "m1.tiny", interfaces=(InterfaceSpec(0, "net-mgmt"),), kpis=(PING, SCRIPT, CPU),
                        rules=(RuleSpec("VM_ALIVE", ("FALSE recover autohealing",)),
                               RuleSpec("VM_OVERLOADED", ("ALWAYS servicescaleup.sh",)),
                               RuleSpec("VM_UNDERLOADED", ("ALWAYS servicescaledown.sh",))))
    dep = DeploymentRecord(str(uuid.uuid4()), "t", "d", DeploymentSpec("d", (group,)), ServiceState.ACTIVE)
    ctx.state.deployments[dep.dep_id] = dep
    vm_id = str(uuid.uuid4())
    ctx.save_vm(VmRecord(vm_id, dep.dep_id, "t", "d", "g", 0, f"d_g_0_{vm_id}", VmState.ALIVE, True,
                         server_id="server", interfaces=[VmInterface(0, "net-mgmt", "10.10.0.10")]))
    return KpiMonitor(ctx, collector, lambda _: False, lambda _dep, ids: recoveries.extend(ids),
                      lambda _dep, _group, delta: scales.append(delta))


async def run_for(monitor: KpiMonitor, seconds: float) -> None:
    task = asyncio.get_running_loop().create_task(monitor.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_slow_metric_does_not_hold_the_others_and_a_failing_one_judges_nothing() -> None:
    collector, recoveries, scales = Uneven(), list[str](), list[int]()
    await run_for(monitor_of(collector, recoveries, scales), 2.4)
    # ping read at about 1 s and 2 s while the script batch asked at 1 s still runs (and is not asked again)
    assert collector.calls.count(Metric.PING) == 2 and collector.calls.count(Metric.SCRIPT) == 1
    assert collector.calls.count(Metric.CPU) == 2  # raised twice: no reading, no event, no rule
    assert len(recoveries) == 1 and scales == []
