"""The ``CPU`` and ``Memory`` collectors of a real VIM: the hypervisor's view of each server, read through
the VIM driver's ``get_server_diagnostics`` (Nova's standardised server diagnostics).

Why diagnostics: without an agent in the guest (SNMP, a script), the cloud is the only one that knows how
busy a VM is, and Nova reports per-vCPU utilisation and memory use for a running server.  Nova has no batch
form, so a pass costs one VIM request per VM: the requests of a batch run a few at a time (the driver runs
each on its own thread pool, off the event loop), and one answer serves both metrics for ``max_age``
seconds, so a VM with a CPU and a Memory KPI costs one request per poll, not two.

The calls go through the driver the core was given, so the HA fence (``esc_netconf.vim.guarded``) covers
them: a server that lost its lease sends none (the guard's refusal ends the pass, as for any VIM call).
A VM the VIM cannot report on (not running, gone, not allowed: Nova's default policy lets admins only read
diagnostics) reads None, which never meets a condition.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.vim.base import ServerDiagnostics, VimConflict, VimDriver, VimError, VimNotFound

__all__ = ["DiagnosticsCollector"]

log = logging.getLogger(__name__)

#: Requests of one batch in flight at once (the openstack driver's pool has 8 threads).
CONCURRENCY = 8
#: Seconds one answer serves every metric read from it.
MAX_AGE = 1.0
#: Distinct failure messages logged as warnings (each once); later ones go to the debug log.
_WARNED_MAX = 100


class DiagnosticsCollector:
    """Reads ``Metric.CPU`` (mean vCPU utilisation, percent) and ``Metric.MEMORY`` (used of maximum, percent)."""

    def __init__(self, driver: VimDriver, *, concurrency: int = CONCURRENCY, max_age: float = MAX_AGE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._driver = driver
        self._slots = asyncio.Semaphore(concurrency)
        self._max_age = max_age
        self._clock = clock
        self._answers: dict[str, tuple[float, ServerDiagnostics | None]] = {}
        self._warned: set[str] = set()

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        if metric not in (Metric.CPU, Metric.MEMORY):
            return [None] * len(probes)
        now = self._clock()
        self._answers = {sid: a for sid, a in self._answers.items() if now - a[0] < self._max_age}
        wanted = list(dict.fromkeys(p.server_id for p in probes if p.server_id and p.server_id not in self._answers))
        answers = await asyncio.gather(*(self._read(server_id) for server_id in wanted))
        self._answers.update((sid, (now, answer)) for sid, answer in zip(wanted, answers, strict=True))
        readings: list[Reading] = []
        for probe in probes:
            cached = self._answers.get(probe.server_id) if probe.server_id else None
            answer = cached[1] if cached else None
            if answer is None:
                readings.append(None)
            else:
                readings.append(answer.cpu_percent() if metric is Metric.CPU else answer.memory_percent())
        return readings

    async def _read(self, server_id: str) -> ServerDiagnostics | None:
        async with self._slots:
            try:
                return await self._driver.get_server_diagnostics(server_id)
            except (VimConflict, VimNotFound) as exc:  # stopped, rebooting away, deleted: expected now and then
                log.debug("no diagnostics for server %s: %s", server_id, exc.message)
            except VimError as exc:  # the same failure (e.g. a policy refusal) is logged once, not every poll
                if exc.message in self._warned or len(self._warned) >= _WARNED_MAX:
                    log.debug("no diagnostics for server %s: %s", server_id, exc.message)
                else:
                    self._warned.add(exc.message)
                    log.warning("server diagnostics unavailable (CPU/Memory KPIs read nothing): %s", exc.message)
            return None
