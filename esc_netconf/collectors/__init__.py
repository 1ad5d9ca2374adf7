"""Collector implementations (see ``esc_netconf.core.collectors`` for the protocol) and the one that fits a VIM."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from esc_netconf.collectors.icmp import IcmpCollector
from esc_netconf.core.collectors import Collector
from esc_netconf.vim.sim.guest import SimGuestCollector

__all__ = ["IcmpCollector", "SimGuestCollector", "create_collector"]


def create_collector(vim: str, properties: Callable[[], Mapping[str, str]]) -> Collector:
    """The simulated guests for the ``sim`` VIM (read from ``vim.sim.guest.*``), real ICMP otherwise."""
    if vim == "sim":
        return SimGuestCollector(properties)
    return IcmpCollector()
