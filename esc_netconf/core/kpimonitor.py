"""The monitoring engine: one scheduler polls the KPIs of every monitored VM in batches and applies the rules.

Each pass gathers the KPIs that are due (every ``poll_frequency`` ``polling_unit``) across all VMs and
reads them with one ``Collector.collect`` call per metric, so 10,000 VMs cost a few calls, not 10,000
tasks; each metric's call runs in a task of its own, so a slow collector (scripts, SNMP) delays only its
own KPIs.  The VMs watched are those the VIM monitor watches (``monitor.candidate``: monitored, ALIVE, with a
server, in a deployment that is ACTIVE or ERROR and not busy): DISABLE_MONITOR, STOP, REBOOT, recovery,
undeploy and snapshots therefore stop the polling, and anything that happens to a VM (every transition adds
a history entry) resets its counters, as does a restart (counters live in memory only).  The other VMs of a
busy deployment (a scale-out, a recovery of their neighbour) are only paused: their counters stay, so a
loaded VM that asked for a scale-out does not ask again once it is done (unless ``continuous_alarm``).

Booting VMs are polled through ``wait_alive``: ``bring_up`` and recovery wait there (in the same batches)
until the VM_ALIVE KPI is met ``metric_occurrences_true`` times in a row, or ``bootup_time`` passes.

A raised event applies the actions of the rule with the same ``event_name`` (``kpi.actions_for``):
``recover autohealing`` starts recovery, ``servicescaleup.sh``/``servicescaledown.sh`` scale the group
out/in by one VM (the core checks ``elastic`` and min..max), anything else is logged.  The KPI's event itself
(VM_OVERLOADED, any ``event_name``) is logged on ``esc_netconf.kpi.events``: it is not an escEvent type
(CONTRACT section 3 lists them exactly), so subscribers see what the rule did (VM_SCALE_*, VM_RECOVERY_*).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from esc_netconf.core.collectors import Collector, Metric, Probe, Reading, kpi_metric
from esc_netconf.core.context import CoreContext
from esc_netconf.core.kpi import KpiCounter, Outcome, actions_for, meets
from esc_netconf.core.model import DeploymentRecord, KpiSpec, VmGroupSpec, VmRecord
from esc_netconf.core.monitor import WATCHED_SERVICES, candidate, vm_mark

log = logging.getLogger(__name__)
#: Every KPI event raised, one line each (``esc_netconf.kpi.events``, INFO), whatever its rule does.
events_log = logging.getLogger("esc_netconf.kpi.events")

#: The longest a pass sleeps: new VMs and changed KPIs are noticed within this.
MAX_SLEEP = 1.0
RECOVER, SCALE_UP, SCALE_DOWN = "recover autohealing", "servicescaleup.sh", "servicescaledown.sh"

ScaleRequest = Callable[[DeploymentRecord, str, int], None]
RecoveryRequest = Callable[[DeploymentRecord, list[str]], None]


def probe(vm: VmRecord, kpi: KpiSpec) -> Probe:
    """What a collector needs to read the KPI on ``vm``: the address of the KPI's ``nicid`` (else the first)."""
    nics = sorted(vm.interfaces, key=lambda n: n.nicid)
    nic = next((n for n in nics if n.nicid == kpi.collector_nicid), nics[0] if nics else None)
    return Probe(vm.name, vm.server_id, nic.ip_address if nic else None, kpi)


@dataclass(slots=True)
class _Waiter:
    vm: VmRecord
    kpi: KpiSpec
    done: asyncio.Future[bool]
    counter: KpiCounter = field(default_factory=KpiCounter)
    due: float = 0.0


@dataclass(slots=True)
class _Watch:
    mark: tuple[object, ...]
    counters: dict[str, KpiCounter] = field(default_factory=dict)
    due: dict[str, float] = field(default_factory=dict)


class KpiMonitor:
    """The scheduler; ``is_busy``, ``start_recovery`` and ``start_scale`` come from the core."""

    def __init__(self, ctx: CoreContext, collector: Collector, is_busy: Callable[[str], bool],
                 start_recovery: RecoveryRequest, start_scale: ScaleRequest) -> None:
        self._ctx = ctx
        self._collector = collector
        self._is_busy = is_busy
        self._start_recovery = start_recovery
        self._start_scale = start_scale
        self._watches: dict[str, _Watch] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._wake = asyncio.Event()
        self._reading: set[Metric] = set()  # metrics whose batch is being read (not asked again meanwhile)
        self._reads: set[asyncio.Task[None]] = set()

    async def wait_alive(self, vm: VmRecord, kpi: KpiSpec, timeout: float) -> bool:
        """True once ``kpi`` was met ``metric_occurrences_true`` polls in a row; False after ``timeout`` s."""
        waiter = _Waiter(vm, kpi, asyncio.get_running_loop().create_future())
        self._waiters[vm.vm_id] = waiter
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):  # not wait_for: see run()
                return await asyncio.shield(waiter.done)
        except TimeoutError:
            return False
        finally:
            if self._waiters.get(vm.vm_id) is waiter:
                del self._waiters[vm.vm_id]

    async def run(self) -> None:
        """Poll forever; sleep until the next KPI is due (at most ``MAX_SLEEP``) or a waiter arrives."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    next_due = await self.poll_once()
                except Exception:
                    log.exception("KPI pass failed")
                    next_due = loop.time() + MAX_SLEEP
                self._wake.clear()
                # asyncio.timeout, not wait_for: on 3.11 wait_for returns when the wake-up and a cancel arrive
                # in one turn, and a core stopped then waited for this task for ever
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.01, min(next_due - loop.time(), MAX_SLEEP))):
                        await self._wake.wait()
        finally:
            for task in list(self._reads):
                task.cancel()

    def _watched(self) -> tuple[list[tuple[DeploymentRecord, VmRecord, VmGroupSpec]], set[str]]:
        """The VMs to poll now, and those of busy deployments (not polled; their counters kept, so a scale-out
        does not make the VMs left alone raise again: what happens to a VM itself changes its mark).

        Only the VMs of deployments with KPIs are looked at (a pass runs every second: a scan of every VM
        was O(all VMs) on the loop each time, at 10,000 VMs whether or not any had a KPI)."""
        ctx = self._ctx
        result = []
        paused: set[str] = set()
        for dep in ctx.state.deployments.values():
            if dep.state not in WATCHED_SERVICES or not any(group.kpis for group in dep.spec.vm_groups):
                continue
            vms = ctx.vms_unordered(dep.dep_id)
            if self._is_busy(dep.dep_id):
                paused.update(vm.vm_id for vm in vms)
                continue
            for vm in vms:
                group = dep.spec.group(vm.group)
                if group is not None and group.kpis and candidate(vm):
                    result.append((dep, vm, group))
        return result, paused

    async def poll_once(self) -> float:
        """One pass: start reading every due KPI (one collector call per metric; judged, counted and acted on
        when the readings arrive); the next due time.

        Each metric's batch is read in a task of its own, so a slow collector (a script near its timeout, many
        SNMP agents) delays its own KPIs only: while a metric's batch is in flight, its KPIs wait for the next
        pass after it (which the finished read wakes); the other metrics keep their periods."""
        now = asyncio.get_running_loop().time()
        next_due = now + MAX_SLEEP
        batches: dict[Metric, list[tuple[Probe, Callable[[Reading], None]]]] = {}
        watched, paused = self._watched()
        live = {vm.vm_id for _, vm, _ in watched} | paused
        for vm_id in [v for v in self._watches if v not in live]:
            del self._watches[vm_id]  # left monitoring: its counters start again when it comes back
        for dep, vm, group in watched:
            watch = self._watches.get(vm.vm_id)
            if watch is None or watch.mark != vm_mark(vm):
                watch = self._watches[vm.vm_id] = _Watch(vm_mark(vm))
            for kpi in group.kpis:
                metric = kpi_metric(kpi)
                if metric is None or metric in self._reading:
                    continue
                due = watch.due.setdefault(kpi.event_name, now + kpi.period)
                if due > now:
                    next_due = min(next_due, due)
                    continue
                watch.due[kpi.event_name] = now + kpi.period
                next_due = min(next_due, now + kpi.period)
                batches.setdefault(metric, []).append((probe(vm, kpi), self._judge(dep, vm, group, kpi, watch)))
        for waiter in list(self._waiters.values()):
            metric = kpi_metric(waiter.kpi)
            if metric is None or metric in self._reading or waiter.done.done():
                continue
            if waiter.due > now:
                next_due = min(next_due, waiter.due)
                continue
            waiter.due = now + waiter.kpi.period
            next_due = min(next_due, waiter.due)
            batches.setdefault(metric, []).append((probe(waiter.vm, waiter.kpi), self._booting(waiter)))
        for metric, items in batches.items():
            self._reading.add(metric)
            task = asyncio.get_running_loop().create_task(self._read(metric, items), name=f"kpi-read-{metric.value}")
            self._reads.add(task)
            task.add_done_callback(functools.partial(self._read_done, metric))
        return next_due

    def _read_done(self, metric: Metric, task: asyncio.Task[None]) -> None:
        self._reads.discard(task)
        self._reading.discard(metric)
        self._wake.set()  # its KPIs that fell due meanwhile are read at once

    async def _read(self, metric: Metric, items: list[tuple[Probe, Callable[[Reading], None]]]) -> None:
        """Read one metric's batch and judge it; a collector that fails judges nothing (no poll counted,
        so a collector's own fault never looks like every VM failing its KPI)."""
        try:
            readings = await self._collector.collect(metric, [p for p, _ in items])
        except Exception:
            log.exception("KPI collector for %s failed; %d reading(s) skipped this pass", metric.value, len(items))
            return
        for (_, judge), reading in zip(items, readings, strict=True):
            judge(reading)

    def _booting(self, waiter: _Waiter) -> Callable[[Reading], None]:
        def judge(reading: Reading) -> None:
            if waiter.counter.add(waiter.kpi, meets(waiter.kpi, reading)) is Outcome.TRUE and not waiter.done.done():
                waiter.done.set_result(True)
        return judge

    def _judge(self, dep: DeploymentRecord, vm: VmRecord, group: VmGroupSpec, kpi: KpiSpec,
               watch: _Watch) -> Callable[[Reading], None]:
        def judge(reading: Reading) -> None:
            # judged only if nothing happened to the VM while the collector was asked (as ``Monitor``)
            if self._watches.get(vm.vm_id) is not watch or watch.mark != vm_mark(vm) or self._is_busy(dep.dep_id):
                return
            counter = watch.counters.get(kpi.event_name)
            if counter is None:  # an alive VM has met VM_ALIVE: only its failure is news
                counter = watch.counters[kpi.event_name] = KpiCounter(
                    raised=Outcome.TRUE if kpi.event_name == "VM_ALIVE" else None)
            outcome = counter.add(kpi, meets(kpi, reading))
            if outcome is not None:
                self._act(dep, vm, group, kpi, outcome, reading)
        return judge

    def _act(self, dep: DeploymentRecord, vm: VmRecord, group: VmGroupSpec, kpi: KpiSpec, outcome: Outcome,
             reading: Reading) -> None:
        actions = [a for rule in group.rules if rule.event_name == kpi.event_name
                   for a in actions_for(rule.actions, outcome)]
        # a KPI's own event (VM_OVERLOADED, any event_name) is not an escEvent type (CONTRACT section 3): the
        # log is where an operator sees it; the escEvents are those of what its rule does (scale, recovery)
        events_log.info("KPI event %s %s: tenant [%s] deployment [%s] vm_group [%s] VM [%s] reading %r (%s %s %s); "
                        "actions: %s", kpi.event_name, outcome.value, dep.tenant, dep.name, group.name, vm.name,
                        reading, kpi.collector_type, kpi.metric_cond, kpi.metric_value, ", ".join(actions) or "none")
        for action in actions:
            if action == RECOVER:
                self._start_recovery(dep, [vm.vm_id])
            elif action == SCALE_UP:
                self._start_scale(dep, group.name, 1)
            elif action == SCALE_DOWN:
                self._start_scale(dep, group.name, -1)
