"""The benchmark deploys 1,000 servers: one poll per project must stay cheap."""

from __future__ import annotations

import time

from esc_netconf.vim.base import PortSpec, Project, ServerStatus
from esc_netconf.vim.sim import SimCloud
from tests.unit.vim.sim.helpers import LONG, FakeClock


async def test_list_servers_of_a_big_project(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    (image,) = await cloud.list_images(name="cirros")
    other = await cloud.ensure_project("tenant-b")
    for index in range(1000):
        await cloud.create_server(
            f"vm-{index}", project_id=project.id if index % 2 else other.id, flavor="m1.small", image_id=image.id,
            networks=[PortSpec("net-mgmt"), PortSpec("net-data")],
        )
    clock.advance(LONG)
    started = time.perf_counter()
    servers = await cloud.list_servers(project.id)
    elapsed = time.perf_counter() - started
    assert len(servers) == 500 and all(s.status is ServerStatus.ACTIVE for s in servers)
    assert len({s.addresses[0].fixed_ip for s in servers}) == 500
    assert elapsed < 1.0, f"list_servers of 500 took {elapsed:.2f}s"
