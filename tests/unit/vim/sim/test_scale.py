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


async def test_a_listing_reuses_unchanged_servers_and_sees_every_change(cloud: SimCloud, project: Project,
                                                                        clock: FakeClock) -> None:
    (image,) = await cloud.list_images(name="cirros")
    for index in range(3):
        await cloud.create_server(f"vm-{index}", project_id=project.id, flavor="m1.tiny", image_id=image.id,
                                  networks=[PortSpec("net-mgmt")])
    building = await cloud.list_servers(project.id)  # still BUILD: a future is scheduled, nothing is kept
    clock.advance(LONG)
    first = await cloud.list_servers(project.id)
    assert [s.status for s in first] == [ServerStatus.ACTIVE] * 3 and building != first
    await cloud.stop_server(first[1].id)
    second = await cloud.list_servers(project.id)
    assert second[0] is first[0] and second[2] is first[2]  # unchanged: the same objects, no parse
    assert second[1].task_state == "powering-off"
    clock.advance(LONG)
    third = await cloud.list_servers(project.id)
    assert third[1].status is ServerStatus.SHUTOFF and third[1].task_state is None
    await cloud.delete_server(first[0].id)
    clock.advance(LONG)
    assert [s.id for s in await cloud.list_servers(project.id)] == [first[1].id, first[2].id]


async def test_the_listing_cache_forgets_deleted_servers(cloud: SimCloud, project: Project, clock: FakeClock) -> None:
    """Rounds of create, list, delete: what the listings keep stays the servers that exist (it kept every
    server ever listed, about 3 KiB each, until 100,000 of them)."""
    (image,) = await cloud.list_images(name="cirros")
    other = await cloud.ensure_project("tenant-b")
    kept = await cloud.create_server("stays", project_id=other.id, flavor="m1.tiny", image_id=image.id,
                                     networks=[PortSpec("net-mgmt")])
    for round_ in range(3):
        made = [await cloud.create_server(f"vm-{round_}-{i}", project_id=project.id, flavor="m1.tiny",
                                          image_id=image.id, networks=[PortSpec("net-mgmt")]) for i in range(5)]
        clock.advance(LONG)
        assert len(await cloud.list_servers(project.id)) == 5 and len(await cloud.list_servers(other.id)) == 1
        for server in made:
            await cloud.delete_server(server.id)
        clock.advance(LONG)
        assert await cloud.list_servers(project.id) == []
    cached = {project_id: set(bucket) for project_id, bucket in cloud._store.built.items()}
    assert cached == {other.id: {kept.id}}
