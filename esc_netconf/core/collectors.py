"""The collector protocol: how the core reads a metric of many VMs at once.

The core defines it (as it defines ``VimDriver``) so that monitoring never imports a transport: the ICMP
collector lives in ``esc_netconf.collectors``, the simulated guest in ``esc_netconf.vim.sim.guest``, and the
composition root hands one of them to ``EscCore``.  A call reads one metric for a whole batch of VMs, so
one scheduler pass costs one call per metric, never one task per VM.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Protocol

from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import KpiSpec, VmGroupSpec, VmRecord


class Metric(str, Enum):
    """What a collector reads; ``PING`` is answered/not answered, the others a number or text.

    ``SNMP`` and ``SCRIPT`` are custom metrics: what they read is defined by the KPI itself
    (``metric_collector/properties``, read by ``SnmpDefinition`` and ``ScriptDefinition``), which reaches the collector with the probe.
    """

    PING = "ping"
    CPU = "cpu"
    MEMORY = "memory"
    SNMP = "snmp"
    SCRIPT = "script"


#: ``metric_collector/type`` (as ESC spells it, case-insensitively) -> the metric it reads.
COLLECTOR_TYPES: dict[str, Metric] = {"icmpping": Metric.PING, "cpu": Metric.CPU, "memory": Metric.MEMORY,
                                      "snmp": Metric.SNMP, "custom_script": Metric.SCRIPT}


def metric_of(collector_type: str | None) -> Metric | None:
    """The metric a KPI's collector type reads, or None for types this server does not collect."""
    return COLLECTOR_TYPES.get((collector_type or "").lower())


def kpi_metric(kpi: KpiSpec) -> Metric | None:
    """The metric ``kpi`` is read as, or None when it is not collected: an unknown type, or a custom
    metric whose definition is not in the deployment (an ESC file whose script lives in ESC's dynamic
    mappings: ``CUSTOM_SCRIPT`` without ``script_filename``)."""
    metric = metric_of(kpi.collector_type)
    if metric is Metric.SCRIPT and not dict(kpi.collector_properties).get("script_filename"):
        return None
    return metric


class DefinitionError(ValueError):
    """A KPI's ``metric_collector/properties`` do not define its custom metric; the message says why."""


_OID = re.compile(r"\.?[0-2](\.(0|[1-9][0-9]{0,9}))+")
SNMP_VERSIONS = ("1", "2c")
SNMP_PROPERTIES = ("oid", "community", "port", "version")
SCRIPT_PROPERTIES = ("script_filename", "args", "timeout")
#: The longest a script may run (the ``timeout`` property is capped here): a pass waits for its readings.
SCRIPT_MAX_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class SnmpDefinition:
    """What an ``SNMP`` KPI reads: one numeric ``oid`` with SNMP GET (v1 or v2c) from the VM's address on
    the KPI's ``nicid`` (or ``metric_collector/proxy``, an agent answering for the VM) at ``port``."""

    oid: str
    community: str = "public"
    port: int = 161
    version: str = "2c"

    @staticmethod
    def of(kpi: KpiSpec) -> SnmpDefinition:
        """:raises DefinitionError: no ``oid``, a symbolic or malformed OID, a bad port or version, an
        unknown property."""
        return _snmp_definition(kpi.collector_properties)


@lru_cache(maxsize=4096)
def _snmp_definition(properties: tuple[tuple[str, str], ...]) -> SnmpDefinition:
    values = _known(properties, SNMP_PROPERTIES, "SNMP")
    oid = values.get("oid", "").strip()
    if not oid:
        raise DefinitionError("an SNMP KPI needs the property 'oid' (numeric, e.g. 1.3.6.1.2.1.1.3.0)")
    if not _OID.fullmatch(oid):
        raise DefinitionError(f"property 'oid' must be a numeric OID such as 1.3.6.1.2.1.1.3.0, not [{oid}]")
    port_text = values.get("port", "161").strip()
    port = int(port_text) if port_text.isdigit() else 0
    if not 1 <= port <= 65535:
        raise DefinitionError(f"property 'port' must be a UDP port from 1 to 65535, not [{port_text}]")
    version = values.get("version", "2c").strip().lower()
    if version not in SNMP_VERSIONS:
        raise DefinitionError(f"property 'version' must be 2c or 1, not [{version}]")
    community = values.get("community", "public")
    if not community:
        raise DefinitionError("property 'community' must not be empty")
    return SnmpDefinition(oid.lstrip("."), community, port, version)


@dataclass(frozen=True, slots=True)
class ScriptDefinition:
    """What a ``CUSTOM_SCRIPT`` KPI runs: ``script_filename`` (relative to the server's KPI script
    directory) with the VM's address, its generated name and ``args`` (split as a shell would, never run
    by one); it must print the reading on its first line within ``timeout`` seconds (default 10)."""

    filename: str
    args: tuple[str, ...] = ()
    timeout: float = 10.0

    @staticmethod
    def of(kpi: KpiSpec) -> ScriptDefinition:
        """:raises DefinitionError: no ``script_filename``, one that leaves the script directory, bad
        ``args`` quoting, a ``timeout`` that is not a number of seconds up to ``SCRIPT_MAX_TIMEOUT``."""
        return _script_definition(kpi.collector_properties)


@lru_cache(maxsize=4096)
def _script_definition(properties: tuple[tuple[str, str], ...]) -> ScriptDefinition:
    values = _known(properties, SCRIPT_PROPERTIES, "CUSTOM_SCRIPT")
    name = values.get("script_filename", "").strip()
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\0" in name:
        raise DefinitionError(f"property 'script_filename' must name a file inside the server's KPI script "
                              f"directory (<data-dir>/scripts), without '..' and not absolute, not [{name}]")
    try:
        args = tuple(shlex.split(values.get("args", "")))
    except ValueError as exc:
        raise DefinitionError(f"property 'args' cannot be split into arguments: {exc}") from None
    timeout_text = values.get("timeout", "10").strip()
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = -1.0
    if not 0 < timeout <= SCRIPT_MAX_TIMEOUT:
        raise DefinitionError(f"property 'timeout' must be a number of seconds above 0 and at most "
                              f"{SCRIPT_MAX_TIMEOUT:g}, not [{timeout_text}]")
    return ScriptDefinition(str(path), args, timeout)


def _known(properties: tuple[tuple[str, str], ...], known: tuple[str, ...], kind: str) -> dict[str, str]:
    values = dict(properties)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise DefinitionError(f"unknown property [{unknown[0]}] for a {kind} KPI (known: {', '.join(known)})")
    return values


def check_kpis(where: str, group: VmGroupSpec) -> None:
    """Refuse a group whose custom KPIs are not defined well enough to be read.

    A ``CUSTOM_SCRIPT`` KPI without ``script_filename`` is accepted and not collected (ESC keeps such a
    definition in its dynamic mappings, which this server does not have); any property it does give is
    checked.

    :raises InvalidRequest: naming the group, the KPI and the property.
    """
    for kpi in group.kpis:
        metric = metric_of(kpi.collector_type)
        try:
            if metric is Metric.SNMP:
                SnmpDefinition.of(kpi)
            elif metric is Metric.SCRIPT and kpi.collector_properties:
                ScriptDefinition.of(kpi)
        except DefinitionError as exc:
            raise InvalidRequest(f"{where} vm_group [{group.name}] kpi [{kpi.event_name}]: {exc}.") from None


def alive_kpi(group: VmGroupSpec) -> KpiSpec | None:
    """The group's VM_ALIVE KPI, if it has one this server can collect (else VIM ACTIVE counts as alive)."""
    return next((k for k in group.kpis if k.event_name == "VM_ALIVE" and kpi_metric(k)), None)


@dataclass(frozen=True, slots=True)
class Probe:
    """One VM to read: its generated name, server id and the address of the KPI's ``nicid``.

    ``kpi`` is the KPI being read: the custom collectors (SNMP, script) find their definition there.
    """

    vm_name: str
    server_id: str | None
    address: str | None
    kpi: KpiSpec | None = None


#: One reading: True/False for PING, a number or text otherwise; None when nothing could be read.
Reading = bool | float | str | None


class Collector(Protocol):
    """Reads a metric of many VMs in one call; the result lists one reading per probe, in order."""

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        """Read ``metric`` of every probe; a VM that cannot be read gets None (it counts as not met)."""
        ...


class AliveWatch(Protocol):
    """Waits, through the monitoring scheduler, until a VM's VM_ALIVE KPI is met (``core.kpimonitor``)."""

    async def wait_alive(self, vm: VmRecord, kpi: KpiSpec, timeout: float) -> bool:
        """True once the KPI was met ``metric_occurrences_true`` polls in a row, False after ``timeout`` s."""
        ...
