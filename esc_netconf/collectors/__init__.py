"""Collector implementations (see ``esc_netconf.core.collectors`` for the protocol) and the one that fits a VIM."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from esc_netconf.collectors.by_metric import ByMetric
from esc_netconf.collectors.diagnostics import DiagnosticsCollector
from esc_netconf.collectors.icmp import IcmpCollector
from esc_netconf.core.collectors import Collector, Metric
from esc_netconf.vim.base import VimDriver
from esc_netconf.vim.sim.guest import SimGuestCollector

__all__ = ["ByMetric", "DiagnosticsCollector", "IcmpCollector", "SimGuestCollector", "create_collector"]


def create_collector(vim: str, properties: Callable[[], Mapping[str, str]], driver: VimDriver) -> Collector:
    """The simulated guests for the ``sim`` VIM (read from ``vim.sim.guest.*``); against a real VIM, real ICMP
    for ping and the VIM's server diagnostics (through ``driver``, the guarded one) for CPU and memory."""
    if vim == "sim":
        return SimGuestCollector(properties)
    diagnostics = DiagnosticsCollector(driver)
    return ByMetric({Metric.PING: IcmpCollector(), Metric.CPU: diagnostics, Metric.MEMORY: diagnostics})
