"""The collector protocol: how the core reads a metric of many VMs at once.

The core defines it (as it defines ``VimDriver``) so that monitoring never imports a transport: the ICMP
collector lives in ``esc_netconf.collectors``, the simulated guest in ``esc_netconf.vim.sim.guest``, and the
composition root hands one of them to ``EscCore``.  A call reads one metric for a whole batch of VMs, so
one scheduler pass costs one call per metric, never one task per VM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from esc_netconf.core.model import KpiSpec, VmGroupSpec, VmRecord


class Metric(str, Enum):
    """What a collector reads; ``PING`` is answered/not answered, the others a number or text."""

    PING = "ping"
    CPU = "cpu"
    MEMORY = "memory"


#: ``metric_collector/type`` (as ESC spells it, case-insensitively) -> the metric it reads.
COLLECTOR_TYPES: dict[str, Metric] = {"icmpping": Metric.PING, "cpu": Metric.CPU, "memory": Metric.MEMORY}


def metric_of(collector_type: str | None) -> Metric | None:
    """The metric a KPI's collector type reads, or None for types this server does not collect."""
    return COLLECTOR_TYPES.get((collector_type or "").lower())


def alive_kpi(group: VmGroupSpec) -> KpiSpec | None:
    """The group's VM_ALIVE KPI, if it has one this server can collect (else VIM ACTIVE counts as alive)."""
    return next((k for k in group.kpis if k.event_name == "VM_ALIVE" and metric_of(k.collector_type)), None)


@dataclass(frozen=True, slots=True)
class Probe:
    """One VM to read: its generated name, server id and the address of the KPI's ``nicid``."""

    vm_name: str
    server_id: str | None
    address: str | None


#: One reading: True/False for PING, a number or text otherwise; None when nothing could be read.
Reading = bool | float | str | None


class Collector(Protocol):
    """Reads a metric of many VMs in one call; the result lists one reading per probe, in order."""

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        """Read ``metric`` of every probe; a VM that cannot be read gets None (it counts as not met)."""
        ...


class AliveWatch(Protocol):
    """Waits, through the monitoring scheduler, until a VM's VM_ALIVE KPI is met (``core.kpimonitor``)."""

    async def wait_alive(self, vm: VmRecord, kpi: KpiSpec, timeout: float) -> bool:
        """True once the KPI was met ``metric_occurrences_true`` polls in a row, False after ``timeout`` s."""
        ...
