"""Server diagnostics of the simulated cloud: what a hypervisor would report about each simulated guest.

Nova's standardised diagnostics (compute API 2.48) give one utilisation per vCPU and the memory maximum and
use in MiB; here every vCPU of a server shows its guest's ``vim.sim.guest.<name>.cpu`` and the memory in use
is ``.memory`` percent of the flavor's RAM (the ``default`` guest's values where the server's own are unset,
0 when neither is).  As Nova does, only a running server answers: a stopped one is a conflict in Nova's
words, and so is one still being built.
"""

from __future__ import annotations

from esc_netconf.vim.base import ServerDiagnostics, ServerStatus, VimConflict
from esc_netconf.vim.sim import messages
from esc_netconf.vim.sim.catalog import find_flavor
from esc_netconf.vim.sim.context import Request
from esc_netconf.vim.sim.guest import DEFAULT_GUEST
from esc_netconf.vim.sim.store import Kind

__all__ = ["get_server_diagnostics"]

#: Nova's power state of a server in each status that is not running (``nova.compute.power_state``).
_POWER_STATES = {ServerStatus.SHUTOFF: "shutdown", ServerStatus.PAUSED: "paused",
                 ServerStatus.SUSPENDED: "suspended", ServerStatus.ERROR: "shutdown"}
_RUNNING = {ServerStatus.ACTIVE, ServerStatus.REBOOT, ServerStatus.HARD_REBOOT}


def get_server_diagnostics(req: Request, server_id: str) -> ServerDiagnostics:
    """:raises VimNotFound: no such server. :raises VimConflict: the server is not running."""
    server = req.view(Kind.SERVER, server_id, messages.server_not_found)
    status = ServerStatus(server["status"])
    if status is ServerStatus.BUILD:
        raise VimConflict(f"Instance {server_id} is not ready")
    if status not in _RUNNING:
        state = _POWER_STATES.get(status, "pending")
        raise VimConflict(f"Cannot 'get_diagnostics' instance {server_id} while it is in power state {state}")
    flavor = find_flavor(str(server["flavor"]))
    own = req.settings.guests.get(str(server["name"]), {})
    default = req.settings.guests.get(DEFAULT_GUEST, {})
    cpu = float(own.get("cpu", default.get("cpu", "0")))
    memory = float(own.get("memory", default.get("memory", "0")))
    return ServerDiagnostics(
        server_id=server_id,
        state="running",
        num_cpus=flavor.vcpus,
        cpu_utilisation=(cpu,) * flavor.vcpus,
        memory_max_mb=flavor.ram_mb,
        memory_used_mb=round(flavor.ram_mb * memory / 100),
        uptime_secs=max(0, int(req.now - float(server.get("created_at", req.now)))),
        driver="sim",
    )
