"""Collector implementations (see ``esc_netconf.core.collectors`` for the protocol) and the set that fits a VIM."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from esc_netconf.collectors.diagnostics import DiagnosticsCollector
from esc_netconf.collectors.icmp import IcmpCollector
from esc_netconf.collectors.routing import ProxiedOrGuest, Routed
from esc_netconf.collectors.script import ScriptCollector
from esc_netconf.collectors.snmp import SnmpCollector
from esc_netconf.core.collectors import Collector, Metric
from esc_netconf.vim.base import VimDriver
from esc_netconf.vim.sim.guest import SimGuestCollector

__all__ = ["DiagnosticsCollector", "IcmpCollector", "ScriptCollector", "SimGuestCollector", "SnmpCollector",
           "create_collector"]


def create_collector(vim: str, properties: Callable[[], Mapping[str, str]], driver: VimDriver,
                     script_dir: Path) -> Collector:
    """The collectors of a server running the VIM driver ``vim``.

    ``sim``: the simulated guests answer ping, CPU, memory and SNMP (``vim.sim.guest.*``); an SNMP KPI with
    a ``metric_collector/proxy`` asks that real agent.  Any other VIM: real ICMP echo and SNMP GET, and the
    VIM's server diagnostics (through ``driver``, the guarded one) for CPU and memory.  Both:
    ``CUSTOM_SCRIPT`` KPIs run the operator's scripts from ``script_dir``.
    """
    scripts = ScriptCollector(script_dir)
    if vim == "sim":
        guest = SimGuestCollector(properties)
        return Routed({Metric.PING: guest, Metric.CPU: guest, Metric.MEMORY: guest,
                       Metric.SNMP: ProxiedOrGuest(guest, SnmpCollector()), Metric.SCRIPT: scripts})
    diagnostics = DiagnosticsCollector(driver)
    return Routed({Metric.PING: IcmpCollector(), Metric.CPU: diagnostics, Metric.MEMORY: diagnostics,
                   Metric.SNMP: SnmpCollector(), Metric.SCRIPT: scripts})
