"""The batched server poller against a VIM whose listing takes time, as a real one does."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from esc_netconf.core.poller import ServerPoller
from esc_netconf.vim.base import Server, ServerStatus


def server(server_id: str, status: ServerStatus) -> Server:
    now = datetime.now(timezone.utc)
    return Server(id=server_id, name=server_id, status=status, project_id="p", image_id=None, flavor="m1.tiny",
                  addresses=(), host_id="h", hostname="compute", volumes_attached=(), created_at=now, updated_at=now)


class SlowListing:
    """``list_servers`` answers with what existed when it was asked, after a delay."""

    def __init__(self) -> None:
        self.servers: dict[str, Server] = {}
        self.calls = 0

    async def list_servers(self, project_id: str | None = None) -> list[Server]:
        self.calls += 1
        snapshot = list(self.servers.values())
        await asyncio.sleep(0.05)
        return snapshot


async def test_a_server_created_during_a_listing_is_not_judged_by_it() -> None:
    vim = SlowListing()
    vim.servers["a"] = server("a", ServerStatus.BUILD)
    poller = ServerPoller(vim, interval=0.01)  # type: ignore[arg-type]
    first = asyncio.create_task(poller.wait("p", "a", {ServerStatus.ACTIVE}, timeout=5))
    await asyncio.sleep(0.01)  # the first listing is in flight now
    vim.servers["b"] = server("b", ServerStatus.BUILD)
    second = asyncio.create_task(poller.wait("p", "b", {ServerStatus.ACTIVE}, timeout=5))
    await asyncio.sleep(0.1)
    vim.servers["a"] = server("a", ServerStatus.ACTIVE)
    vim.servers["b"] = server("b", ServerStatus.ACTIVE)
    assert (await first).id == "a"  # type: ignore[union-attr]
    assert (await second).id == "b"  # type: ignore[union-attr]
    await poller.close()
