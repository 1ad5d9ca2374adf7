"""The real SNMP collector against a real agent: net-snmp's ``snmpd`` on loopback (``snmp_agent``).

What the agent answers is shaped by files (net-snmp's ``pass``); the collector reads numbers (Gauge32,
TimeTicks), text (sysDescr, a STRING object), nothing for a missing object, nothing from an agent that does
not answer (a wrong community: snmpd stays silent, the GET times out), logs that once, and sends one GET
per agent per pass whatever the number of KPIs and VMs behind it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pysnmp.hlapi.v1arch.asyncio import get_cmd

import esc_netconf.collectors.snmp as snmp_module
from esc_netconf.collectors.snmp import SnmpCollector
from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.core.model import KpiSpec
from tests.integration.snmp_agent import COMMUNITY, SYS_DESCR, SYS_UPTIME, SnmpAgent, snmpd_path

pytestmark = pytest.mark.skipif(snmpd_path() is None, reason="snmpd (Debian package snmpd; .ci/run installs it) "
                                                              "is not installed")


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    running = SnmpAgent(tmp_path_factory.mktemp("snmpd"), hosts=("127.0.0.1", "127.0.0.2")).start()
    yield running
    running.stop()


def kpi(agent: SnmpAgent, oid: str, **properties: str) -> KpiSpec:
    given = {"oid": oid, "community": COMMUNITY, "port": str(agent.port), **properties}
    return KpiSpec("VM_OVERLOADED", "80", "GE", "UINT32", "SNMP", 0, 1, "seconds",
                   collector_properties=tuple(given.items()))


def collect(collector: SnmpCollector, probes: list[Probe]) -> list[Reading]:
    async def run() -> list[Reading]:
        try:
            return await collector.collect(Metric.SNMP, probes)
        finally:
            collector.close()
    return asyncio.run(run())


def test_numbers_text_and_missing_objects_from_a_real_agent(agent: SnmpAgent) -> None:
    agent.set(1, "95")
    agent.set(2, "DEGRADED")
    probes = [Probe("a", "s", "127.0.0.1", kpi(agent, agent.oid(1))),
              Probe("b", "s", "127.0.0.1", kpi(agent, agent.oid(2))),
              Probe("c", "s", "127.0.0.1", kpi(agent, agent.oid(7))),  # no such object
              Probe("d", "s", "127.0.0.1", kpi(agent, SYS_DESCR)),
              Probe("e", "s", "127.0.0.1", kpi(agent, "." + SYS_UPTIME, version="1")),
              Probe("f", None, "127.0.0.1", kpi(agent, agent.oid(1))),  # no server: not asked
              Probe("g", "s", None, kpi(agent, agent.oid(1)))]  # no address: not asked
    readings = collect(SnmpCollector(timeout=1.0), probes)
    assert readings[:3] == [95.0, "DEGRADED", None]
    assert isinstance(readings[3], str) and readings[3].startswith("Linux")
    assert isinstance(readings[4], float) and readings[4] > 0
    assert readings[5:] == [None, None]
    agent.set(1, "12")  # the next GET sees the change
    assert collect(SnmpCollector(), probes[:1]) == [12.0]


def test_one_get_per_agent_per_pass(agent: SnmpAgent, monkeypatch: pytest.MonkeyPatch) -> None:
    agent.set(1, "50")
    agent.set(2, "OK")
    sent: list[tuple[str, int]] = []

    async def counting_get(dispatcher: Any, auth: Any, target: Any, *varbinds: Any) -> Any:
        sent.append((target.transport_address[0], len(varbinds)))
        return await get_cmd(dispatcher, auth, target, *varbinds)

    monkeypatch.setattr(snmp_module, "get_cmd", counting_get)
    probes = [Probe(f"vm{i}", "s", f"127.0.0.{1 + i % 2}", kpi(agent, agent.oid(1 + k)))
              for i in range(6) for k in range(2)]  # 6 VMs x 2 KPIs on two agents
    assert collect(SnmpCollector(), probes) == [50.0, "OK"] * 6
    assert sorted(sent) == [("127.0.0.1", 2), ("127.0.0.2", 2)]


def test_a_silent_agent_is_a_failed_poll_logged_once_without_blocking_the_loop(
        agent: SnmpAgent, caplog: pytest.LogCaptureFixture) -> None:
    agent.set(1, "50")
    wrong = Probe("a", "s", "127.0.0.1", kpi(agent, agent.oid(1), community="not-this-one"))  # snmpd stays silent
    collector = SnmpCollector(timeout=0.3)

    async def passes() -> tuple[list[list[Reading]], int]:
        readings, ticks = [], 0
        try:
            for _ in range(2):
                reading = asyncio.ensure_future(collector.collect(Metric.SNMP, [wrong]))
                while not reading.done():
                    ticks += 1
                    await asyncio.sleep(0.01)
                readings.append(reading.result())
            return readings, ticks
        finally:
            collector.close()

    with caplog.at_level(logging.WARNING, logger="esc_netconf.collectors.snmp"):
        readings, ticks = asyncio.run(passes())
    assert readings == [[None], [None]]
    assert ticks >= 20  # the loop kept turning while each GET waited for its timeout
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failures) == 1 and "127.0.0.1" in failures[0].getMessage()
