"""Collector implementations (see ``esc_netconf.core.collectors`` for the protocol) and the set that fits a VIM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from esc_netconf.collectors.icmp import IcmpCollector
from esc_netconf.collectors.routing import ProxiedOrGuest, Routed
from esc_netconf.collectors.script import ScriptCollector
from esc_netconf.collectors.snmp import SnmpCollector
from esc_netconf.core.collectors import Collector, Metric
from esc_netconf.vim.sim.guest import SimGuestCollector

__all__ = ["IcmpCollector", "ScriptCollector", "SimGuestCollector", "SnmpCollector", "create_collector"]


def create_collector(vim: str, properties: Callable[[], Mapping[str, str]], script_dir: Path) -> Collector:
    """The collectors of a server running the VIM driver ``vim``.

    ``sim``: the simulated guests answer ping, CPU, memory and SNMP (``vim.sim.guest.*``); an SNMP KPI with
    a ``metric_collector/proxy`` asks that real agent.  Any other VIM: real ICMP echo and SNMP GET.  Both:
    ``CUSTOM_SCRIPT`` KPIs run the operator's scripts from ``script_dir``.
    """
    scripts = ScriptCollector(script_dir)
    if vim == "sim":
        guest = SimGuestCollector(properties)
        return Routed({Metric.PING: guest, Metric.CPU: guest, Metric.MEMORY: guest,
                       Metric.SNMP: ProxiedOrGuest(guest, SnmpCollector()), Metric.SCRIPT: scripts})
    return Routed({Metric.PING: IcmpCollector(), Metric.SNMP: SnmpCollector(), Metric.SCRIPT: scripts})
