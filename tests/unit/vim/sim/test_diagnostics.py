"""The simulated cloud's server diagnostics answer what its guests do, as a hypervisor reports them."""

from __future__ import annotations

import pytest

from esc_netconf.vim.base import Project, ServerStatus, VimConflict
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.unit.vim.sim.helpers import FakeClock, Knobs, boot


async def test_a_guest_s_cpu_and_memory_are_the_server_s_diagnostics(
    cloud: SimCloud, project: Project, clock: FakeClock, knobs: Knobs
) -> None:
    server = await boot(cloud, project, clock)
    idle = await cloud.get_server_diagnostics(server.id)
    assert (idle.cpu_percent(), idle.memory_percent(), idle.state) == (0.0, 0.0, "running")
    assert idle.memory_max_mb == 512 and idle.num_cpus == 1  # m1.tiny
    knobs.settings = SimSettings.from_properties({"vim.sim.guest.vm.cpu": "95", "vim.sim.guest.default.memory": "25",
                                                  "vim.sim.guest.other.cpu": "5"})
    busy = await cloud.get_server_diagnostics(server.id)
    assert busy.cpu_utilisation == (95.0,)
    assert (busy.memory_used_mb, busy.memory_percent()) == (128, 25.0)  # the default guest's value


async def test_only_a_running_server_answers(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    building = await boot(cloud, project, clock, settle=False)
    with pytest.raises(VimConflict, match="not ready"):
        await cloud.get_server_diagnostics(building.id)
    clock.advance(3600)
    await cloud.force_server_status(building.id, ServerStatus.SHUTOFF)
    with pytest.raises(VimConflict, match="Cannot 'get_diagnostics' instance .* power state shutdown"):
        await cloud.get_server_diagnostics(building.id)
    assert cloud.calls["get_server_diagnostics"] == 2
