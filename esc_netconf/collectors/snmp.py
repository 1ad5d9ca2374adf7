"""The ``SNMP`` collector: custom metrics read with SNMP GET (v1/v2c) from many agents over one socket.

A KPI of collector type ``SNMP`` names what it reads in ``metric_collector/properties`` (``oid``,
``community``, ``port``, ``version``: ``core.collectors.SnmpDefinition``); the agent is the VM's address on
the KPI's ``nicid``, or ``metric_collector/proxy`` when a node answers for the VM.  One batch is one pass
of the scheduler: the probes are grouped by agent (address, port, community, version) and each agent gets
one GET carrying every OID asked of it (in PDUs of at most ``MAX_VARBINDS``), all agents at once over
pysnmp's asyncio dispatcher (one UDP socket, no thread), at most ``CONCURRENCY`` requests in flight.

Readings: an INTEGER, Gauge32, Counter or TimeTicks is a number; an OCTET STRING (or IpAddress, OID) is
its text; noSuchObject/noSuchInstance, a timeout, an error-status or an unreachable agent read as None,
which counts as a failed poll.  Failures are logged once per agent until it answers again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pyasn1.type import univ
from pysnmp.hlapi.v1arch.asyncio import CommunityData, SnmpDispatcher, UdpTransportTarget, get_cmd
from pysnmp.proto.rfc1902 import IpAddress

from esc_netconf.core.collectors import DefinitionError, Metric, Probe, Reading, SnmpDefinition

log = logging.getLogger(__name__)

#: OIDs in one GET PDU (an agent answers tooBig past its message size; 32 small values stay far below).
MAX_VARBINDS = 32
#: GET requests in flight at once: their answers must fit the socket's receive buffer (about 200 KB) together.
CONCURRENCY = 128
_MP_MODEL = {"1": 0, "2c": 1}


@dataclass(frozen=True, slots=True)
class Agent:
    """Where one GET goes, and with which credentials."""

    host: str
    port: int
    community: str
    version: str


class SnmpCollector:
    """Reads ``Metric.SNMP``; other metrics are not SNMP's (they read None)."""

    def __init__(self, timeout: float = 1.0, retries: int = 0) -> None:
        """``timeout`` seconds per try, ``retries`` more tries: a pass waits at most their product."""
        self._timeout = timeout
        self._retries = retries
        self._dispatcher: SnmpDispatcher | None = None
        self._targets: dict[tuple[str, int], UdpTransportTarget] = {}
        self._failing: dict[Agent, str] = {}

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        readings: list[Reading] = [None] * len(probes)
        if metric is not Metric.SNMP:
            return readings
        wanted: dict[Agent, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for index, probe in enumerate(probes):
            asked = _agent_and_oid(probe)
            if asked is not None:
                wanted[asked[0]][asked[1]].append(index)
        if not wanted:
            return readings
        if self._dispatcher is None:
            self._dispatcher = SnmpDispatcher()  # bound to the running loop: made on first use
        gate = asyncio.Semaphore(CONCURRENCY)

        async def ask(agent: Agent, oids: list[str]) -> None:
            async with gate:
                values = await self._get(agent, oids)
            for oid, value in zip(oids, values, strict=True):
                for index in wanted[agent][oid]:
                    readings[index] = value

        await asyncio.gather(*(ask(agent, oids[start:start + MAX_VARBINDS])
                               for agent, by_oid in wanted.items()
                               for oids in [list(by_oid)] for start in range(0, len(oids), MAX_VARBINDS)))
        return readings

    async def _get(self, agent: Agent, oids: list[str]) -> list[Reading]:
        assert self._dispatcher is not None
        try:
            target = await self._target(agent)
            indication, status, index, varbinds = await get_cmd(
                self._dispatcher, CommunityData(agent.community, mpModel=_MP_MODEL[agent.version]), target,
                *[(oid, univ.Null()) for oid in oids])
        except Exception as exc:  # pysnmp's own errors (an unresolvable name, a bad datagram) are not typed
            return self._failed(agent, f"{type(exc).__name__}: {exc}", len(oids))
        if indication:
            return self._failed(agent, str(indication), len(oids))
        if int(status):
            where = f" at {oids[int(index) - 1]}" if 0 < int(index) <= len(oids) else ""
            return self._failed(agent, f"error-status {status.prettyPrint()}{where}", len(oids))
        if agent in self._failing:
            log.info("SNMP agent %s:%d answers again", agent.host, agent.port)
            del self._failing[agent]
        values = {str(name): _reading(value) for name, value in varbinds}
        return [values.get(oid) for oid in oids]

    async def _target(self, agent: Agent) -> UdpTransportTarget:
        key = (agent.host, agent.port)
        target = self._targets.get(key)
        if target is None:
            if len(self._targets) > 100_000:  # VMs come and go: forget addresses rather than grow forever
                self._targets.clear()
            target = await UdpTransportTarget.create(key, timeout=self._timeout, retries=self._retries)
            self._targets[key] = target
        return target

    def _failed(self, agent: Agent, why: str, count: int) -> list[Reading]:
        if self._failing.get(agent) != why:
            log.warning("SNMP GET to %s:%d (v%s) failed: %s; its KPIs count failed polls until it answers",
                        agent.host, agent.port, agent.version, why)
            self._failing[agent] = why
        return [None] * count

    def close(self) -> None:
        """Close the socket (the server's stop); a later ``collect`` opens a new one."""
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None
        self._targets.clear()


def _agent_and_oid(probe: Probe) -> tuple[Agent, str] | None:
    """Whom to ask and what, or None when the VM has no server, no address or the KPI no definition."""
    if probe.kpi is None or probe.server_id is None:
        return None
    try:
        definition = SnmpDefinition.of(probe.kpi)
    except DefinitionError:
        return None  # refused at commit; a stored spec from before is simply not read
    host = probe.kpi.collector_proxy or probe.address
    if not host:
        return None
    return Agent(host, definition.port, definition.community, definition.version), definition.oid


def _reading(value: object) -> Reading:
    """A number for the integer types, text for strings, None for noSuch*/endOfMibView (all ``Null``)."""
    if isinstance(value, univ.Null):
        return None
    if isinstance(value, univ.Integer):
        return float(int(value))
    if isinstance(value, IpAddress | univ.ObjectIdentifier):
        return str(value.prettyPrint())
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets()).decode("utf-8", "replace").strip()
    return None
