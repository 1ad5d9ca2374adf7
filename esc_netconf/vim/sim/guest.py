"""The simulated guest of every simulated VM: it answers ping and reports CPU and memory load.

An operator (or a test) shapes a guest at runtime with ``escadm vimmanager set``:
``vim.sim.guest.<generated-vm-name>.ping=up|down``, ``.cpu=<0-100>``, ``.memory=<0-100>``, and what its SNMP
agent answers for an SNMP KPI's ``oid``: ``.snmp.<numeric-oid>=<number or text>``.  The
``default`` guest name (``vim.sim.guest.default.cpu=95``) applies to every VM without its own value, which
is how VMs not built yet (a scale-out, a redeploy's new server keeps its generated name) are shaped.  The
values live with the other ``vim.sim.*`` settings (the properties file, then runtime changes), and are read
on every poll, so a change applies to the next poll.  Unset: ping answers, CPU and memory are 0, and an
OID without a value is not answered (as an agent without that object: the KPI's condition is not met).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from esc_netconf.core.collectors import DefinitionError, Metric, Probe, Reading, SnmpDefinition
from esc_netconf.vim.sim.settings import GUEST_KEY_PREFIX, SNMP_FIELD, check_guest_setting

#: The guest name whose values apply to every VM without its own.
DEFAULT_GUEST = "default"


def guest_values(properties: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Every guest's explicit values: ``{vm_name: {field: value}}`` (``default`` included)."""
    guests: dict[str, dict[str, str]] = {}
    for key, value in properties.items():
        if key.startswith(GUEST_KEY_PREFIX):
            name, field, checked = check_guest_setting(key, value.strip())
            guests.setdefault(name, {})[field] = checked
    return guests


class SimGuestCollector:
    """Reads the simulated guests of a batch of VMs from the settings in force."""

    def __init__(self, properties: Callable[[], Mapping[str, str]]) -> None:
        self._properties = properties

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        guests = guest_values(self._properties())
        default = guests.get(DEFAULT_GUEST, {})
        readings: list[Reading] = []
        for probe in probes:
            field = _field(metric, probe)
            own = guests.get(probe.vm_name)
            value = (own or {}).get(field, default.get(field)) if field else None
            if probe.server_id is None or field is None:
                readings.append(None)  # no server, no guest; a metric the guest does not report
            elif metric is Metric.PING:
                readings.append(value != "down")
            elif metric is Metric.SNMP:
                readings.append(_snmp_value(value))
            else:
                readings.append(float(value) if value is not None else 0.0)
        return readings


def _field(metric: Metric, probe: Probe) -> str | None:
    """The guest setting a probe reads: ``ping``/``cpu``/``memory``, ``snmp.<oid>`` for an SNMP KPI."""
    if metric is Metric.SNMP:
        try:
            return SNMP_FIELD + SnmpDefinition.of(probe.kpi).oid if probe.kpi is not None else None
        except DefinitionError:
            return None  # refused at commit; a stored older spec is simply not read
    return metric.value if metric in (Metric.PING, Metric.CPU, Metric.MEMORY) else None


def _snmp_value(value: str | None) -> Reading:
    """A number when the text is one (as an agent's INTEGER or Gauge32), else the text (an OCTET STRING)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value
