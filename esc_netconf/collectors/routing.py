"""One ``Collector`` made of several: each metric is read by the collector that speaks it.

The scheduler calls one collector per pass and metric (``core.kpimonitor``); which implementation answers
is the composition root's choice (``create_collector``), made once here rather than in every collector.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from esc_netconf.core.collectors import Collector, Metric, Probe, Reading


class Routed:
    """Reads each metric with the collector ``routes`` names for it; a metric without one reads None."""

    def __init__(self, routes: Mapping[Metric, Collector]) -> None:
        self._routes = dict(routes)

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        collector = self._routes.get(metric)
        if collector is None:
            return [None] * len(probes)
        return await collector.collect(metric, probes)


class ProxiedOrGuest:
    """With the simulated cloud: a KPI that names a ``metric_collector/proxy`` is read from that real node
    (outside the simulated cloud, e.g. an SNMP agent on loopback), any other from the simulated guest."""

    def __init__(self, guest: Collector, proxied: Collector) -> None:
        self._guest = guest
        self._proxied = proxied

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        real = [i for i, p in enumerate(probes) if p.kpi is not None and p.kpi.collector_proxy]
        if not real:
            return await self._guest.collect(metric, probes)
        chosen = set(real)
        guest = [i for i in range(len(probes)) if i not in chosen]
        readings: list[Reading] = [None] * len(probes)
        for indices, collector in ((real, self._proxied), (guest, self._guest)):
            if indices:
                for i, reading in zip(indices, await collector.collect(metric, [probes[i] for i in indices]),
                                      strict=True):
                    readings[i] = reading
        return readings
