"""State survives the controller: reopening, time passing while down, and kill -9."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from esc_netconf.vim.base import ImageStatus, PortSpec, ServerStatus, VolumeStatus
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.unit.vim.sim.helpers import LONG, FakeClock, Knobs, boot


async def test_reopen_sees_the_same_cloud(state_dir: Path, knobs: Knobs, clock: FakeClock) -> None:
    first = SimCloud(state_dir, knobs, clock=clock)
    project = await first.ensure_project("tenant-a")
    server = await boot(first, project, clock)
    volume = await first.create_volume("v", project_id=project.id, size_gb=1)
    await first.close()
    clock.advance(LONG)
    second = SimCloud(state_dir, knobs, clock=clock)
    try:
        assert await second.ensure_project("tenant-a") == project
        assert await second.get_server(server.id) == server
        assert (await second.get_volume(volume.id)).status is VolumeStatus.AVAILABLE
        # allocations persisted too: the next automatic address is a new one
        other = await second.create_server(
            "vm2", project_id=project.id, flavor="m1.tiny", image_id=server.image_id, networks=[PortSpec("net-mgmt")]
        )
        assert other.addresses[0].fixed_ip != server.addresses[0].fixed_ip
    finally:
        await second.close()


async def test_time_passes_while_the_controller_is_down(state_dir: Path, knobs: Knobs, clock: FakeClock) -> None:
    first = SimCloud(state_dir, knobs, clock=clock)
    project = await first.ensure_project("tenant-a")
    server = await boot(first, project, clock)
    image_id = await first.create_server_image(server.id, "snap")
    clock.advance(1.0)
    assert (await first.get_image(image_id)).status is ImageStatus.SAVING
    await first.stop_server(server.id)
    await first.close()  # the controller dies with work in flight
    clock.advance(60.0)
    second = SimCloud(state_dir, knobs, clock=clock)
    try:
        image = await second.get_image(image_id)
        assert image.status is ImageStatus.ACTIVE and image.size and image.checksum
        assert (await second.get_server(server.id)).status is ServerStatus.SHUTOFF
    finally:
        await second.close()


async def test_two_clouds_on_one_directory_agree(state_dir: Path, knobs: Knobs, clock: FakeClock) -> None:
    a = SimCloud(state_dir, knobs, clock=clock)
    b = SimCloud(state_dir, knobs, clock=clock)
    try:
        project = await a.ensure_project("tenant-a")
        server = await boot(a, project, clock)
        assert await b.get_server(server.id) == server
    finally:
        await a.close()
        await b.close()


async def test_deleted_catalog_image_stays_deleted(state_dir: Path, knobs: Knobs, clock: FakeClock) -> None:
    first = SimCloud(state_dir, knobs, clock=clock)
    (cirros,) = await first.list_images(name="cirros")
    await first.delete_image(cirros.id)
    await first.close()
    second = SimCloud(state_dir, knobs, clock=clock)
    try:
        assert await second.list_images(name="cirros") == []
        assert [i.name for i in await second.list_images()] == ["ubuntu-22.04"]
    finally:
        await second.close()


_KILLED_CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from esc_netconf.vim.base import PortSpec
    from esc_netconf.vim.sim import SimCloud, SimSettings

    async def main() -> None:
        cloud = SimCloud(Path(sys.argv[1]), lambda: SimSettings(delay_scale=0))
        project = await cloud.ensure_project("tenant-k")
        (image,) = await cloud.list_images(name="cirros")
        server = await cloud.create_server(
            "vm", project_id=project.id, flavor="m1.tiny", image_id=image.id, networks=[PortSpec("net-data")]
        )
        print(server.id, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_survives_kill_9(state_dir: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, str(state_dir)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[4],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[4])},
    )
    assert child.returncode == -9, child.stderr
    server_id = child.stdout.strip()
    cloud = SimCloud(state_dir, lambda: SimSettings(delay_scale=0))
    try:
        server = await cloud.get_server(server_id)
        assert server.status is ServerStatus.ACTIVE and server.addresses[0].network == "net-data"
    finally:
        await cloud.close()


async def test_gone_rows_are_purged_from_the_file(state_dir: Path, knobs: Knobs, clock: FakeClock) -> None:
    cloud = SimCloud(state_dir, knobs, clock=clock)
    try:
        project = await cloud.ensure_project("tenant-a")
        server = await boot(cloud, project, clock)
        await cloud.delete_server(server.id)
        clock.advance(LONG)
        assert await cloud.list_servers(project.id) == []
        await cloud.delete_server((await boot(cloud, project, clock)).id)  # a later write purges
        with sqlite3.connect(cloud.state_file) as db:
            ids = {row[0] for row in db.execute("SELECT id FROM servers")}
        assert server.id not in ids and len(ids) == 1
    finally:
        await cloud.close()
