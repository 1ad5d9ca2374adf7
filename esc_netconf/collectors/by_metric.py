"""One collector made of several: each metric is read by the collector that knows how.

Against a real VIM no single source reads everything: ICMP answers ping, the VIM's server diagnostics give
CPU and memory.  The scheduler still asks one ``Collector`` (one call per metric per pass); this hands each
call to the collector registered for its metric, and a metric without one reads None for every VM.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from esc_netconf.core.collectors import Collector, Metric, Probe, Reading

__all__ = ["ByMetric"]


class ByMetric:
    """Routes ``collect(metric, ...)`` to ``collectors[metric]``."""

    def __init__(self, collectors: Mapping[Metric, Collector]) -> None:
        self._collectors = dict(collectors)

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        collector = self._collectors.get(metric)
        if collector is None:
            return [None] * len(probes)
        return await collector.collect(metric, probes)
