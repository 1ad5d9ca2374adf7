"""An undeploy that cancels a deploy while the VIM is still answering a create must not leak the server.

A real driver runs the SDK call on a thread that cannot be interrupted: the server is created whether or
not the caller is still waiting. The fake below does the same (the create goes on behind a shield).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from .conftest import Harness, group, spec

from esc_netconf.vim.base import Server


async def test_cancelled_create_is_recorded_and_undeployed(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    original = harness.sim.create_server
    asked = asyncio.Event()
    background: list[asyncio.Task[Server]] = []

    async def slow_uninterruptible_create(*args: Any, **kwargs: Any) -> Server:
        async def on_the_vims_side() -> Server:
            await asyncio.sleep(0.3)
            return await original(*args, **kwargs)

        task = asyncio.ensure_future(on_the_vims_side())
        background.append(task)
        asked.set()
        return await asyncio.shield(task)

    monkeypatch.setattr(harness.sim, "create_server", slow_uninterruptible_create)
    deployment = spec(group("g", 1, 1))
    harness.core.apply_update("t1", None, deployment)
    await asyncio.wait_for(asked.wait(), 5)
    harness.core.apply_update("t1", deployment, None)  # undeploy while the create is in flight
    await harness.idle()
    await asyncio.gather(*background)
    await asyncio.sleep(0.05)
    assert harness.core.deployments() == []
    assert [s.name for s in await harness.servers()] == [], "the server created for the cancelled deploy was left"
