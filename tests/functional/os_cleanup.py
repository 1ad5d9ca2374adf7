"""Delete what tests left in their projects on a real cloud, through the driver (bounded in time).

Order matters on OpenStack: servers first (their attachments and delete-on-termination volumes go
with them), then images and volume snapshots (a volume with snapshots cannot be deleted), then volumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

from esc_netconf.vim.base import VimDriver, VimError, VimNotFound

CLEANUP_TIMEOUT = 120.0


async def _until_empty(fetch: Callable[[], Awaitable[list[object]]], deadline: float) -> None:
    while await fetch() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)


async def _quietly(call: Awaitable[None]) -> None:
    with contextlib.suppress(VimError):  # already gone or busy: the next pass or the deadline deals with it
        await call


async def purge_projects(driver: VimDriver, project_ids: Sequence[str], timeout: float = CLEANUP_TIMEOUT) -> None:
    """Delete every server, image, volume snapshot and volume owned by ``project_ids``."""
    deadline = time.monotonic() + timeout
    wanted = set(project_ids)
    if not wanted:
        return
    for project_id in wanted:
        for server in await driver.list_servers(project_id):
            await _quietly(driver.delete_server(server.id))
    for project_id in wanted:
        await _until_empty(lambda: driver.list_servers(project_id), deadline)  # type: ignore[arg-type]
    for image in await driver.list_images():
        if image.project_id in wanted:
            await _quietly(driver.delete_image(image.id))
    for project_id in wanted:
        for snapshot in await driver.list_volume_snapshots(project_id):
            await _quietly(driver.delete_volume_snapshot(snapshot.id))
    for project_id in wanted:
        await _until_empty(lambda: driver.list_volume_snapshots(project_id), deadline)  # type: ignore[arg-type]
    while time.monotonic() < deadline:
        remaining = [v for pid in wanted for v in await driver.list_volumes(pid)]
        if not remaining:
            return
        for volume in remaining:
            if volume.status.value in ("available", "error"):
                await _quietly(driver.delete_volume(volume.id))
        await asyncio.sleep(1.0)
    try:
        leftovers = [v.id for pid in wanted for v in await driver.list_volumes(pid)]
    except VimNotFound:
        leftovers = []
    if leftovers:
        raise AssertionError(f"cleanup left volumes behind: {leftovers}")
