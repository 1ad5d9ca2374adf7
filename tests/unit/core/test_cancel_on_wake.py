"""A cancel that arrives in the loop turn in which the awaited wake-up also arrives still cancels.

On Python 3.11 ``asyncio.wait_for`` returns the inner result when the cancel lands after the inner future is
done but before the waiting task resumed: the cancel is lost. The KPI scheduler's sleep was such a wait, and a
core stopped in that turn waited for its KPI task for ever (CI saw a restart test hang for 120 s)."""

from __future__ import annotations

import asyncio

from collections.abc import Sequence

from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.core.kpimonitor import KpiMonitor
from tests.unit.core.test_kpimonitor_reads import Uneven, monitor_of


class Healthy(Uneven):
    """Every reading answers at once and is fine."""

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        self.calls.append(metric)
        return [True if metric is Metric.PING else 50.0] * len(probes)


async def _asleep(monitor: KpiMonitor, collector: Healthy) -> None:
    """Wait until the scheduler has read its KPIs once and sleeps until the next pass."""
    for _ in range(300):
        await asyncio.sleep(0.01)
        if collector.calls and not monitor._reads:  # noqa: SLF001
            await asyncio.sleep(0.05)
            return
    raise AssertionError("the scheduler never read its KPIs")


async def test_the_kpi_scheduler_stops_when_cancelled_in_the_turn_its_wake_up_arrives() -> None:
    for turns in range(4):  # where exactly the cancel lands among the wake-up's callbacks
        collector = Healthy()
        monitor = monitor_of(collector, [], [])
        task = asyncio.get_running_loop().create_task(monitor.run())
        await _asleep(monitor, collector)
        monitor._wake.set()  # noqa: SLF001
        for _ in range(turns):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=3.0)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=3.0)
        assert done, f"the scheduler went on after a cancel {turns} turn(s) after its wake-up"
