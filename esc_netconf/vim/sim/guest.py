"""The simulated guest of every simulated VM: it answers ping and reports CPU and memory load.

An operator (or a test) shapes a guest at runtime with ``escadm vimmanager set``:
``vim.sim.guest.<generated-vm-name>.ping=up|down``, ``.cpu=<0-100>``, ``.memory=<0-100>``.  The
``default`` guest name (``vim.sim.guest.default.cpu=95``) applies to every VM without its own value, which
is how VMs not built yet (a scale-out, a redeploy's new server keeps its generated name) are shaped.  The
values live with the other ``vim.sim.*`` settings (the properties file, then runtime changes), and are read
on every poll, so a change applies to the next poll.  Unset: ping answers, CPU and memory are 0.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.vim.sim.settings import GUEST_KEY_PREFIX, check_guest_setting

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
            own = guests.get(probe.vm_name)
            value = (own or {}).get(metric.value, default.get(metric.value))
            if probe.server_id is None:
                readings.append(None)  # no server, no guest
            elif metric is Metric.PING:
                readings.append(value != "down")
            else:
                readings.append(float(value) if value is not None else 0.0)
        return readings
