"""The VIM fence: a guarded driver asks its guard before every call, and a refusal sends nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from esc_netconf.errors import EscError
from esc_netconf.vim.guarded import guarded_driver
from esc_netconf.vim.sim import SimCloud, SimSettings


class Fenced(EscError):
    """What the guard raises once the lease is lost, in these tests."""


async def test_every_call_is_guarded_and_a_refusal_reaches_no_cloud(tmp_path: Path) -> None:
    cloud = SimCloud(tmp_path / "sim", SimSettings)
    allowed = [True]
    asked: list[str] = []

    def guard() -> None:
        asked.append("asked")
        if not allowed[0]:
            raise Fenced("lease lost")

    driver = guarded_driver(cloud, guard)
    try:
        assert len(await driver.list_flavors()) > 0
        assert asked == ["asked"]
        allowed[0] = False
        with pytest.raises(Fenced):
            await driver.ensure_project("after-the-lease")
        assert "after-the-lease" not in [p.name for p in await cloud.list_projects()]
    finally:
        await driver.close()  # close is never refused: a fenced server still shuts down cleanly


async def test_server_diagnostics_are_fenced_too(tmp_path: Path) -> None:
    """CPU/Memory KPIs read the VIM on every poll: a server without the lease must not."""
    cloud = SimCloud(tmp_path / "sim", SimSettings)

    def refuse() -> None:
        raise Fenced("lease lost")

    driver = guarded_driver(cloud, refuse)
    try:
        with pytest.raises(Fenced):
            await driver.get_server_diagnostics("any-server")
        assert cloud.calls["get_server_diagnostics"] == 0
    finally:
        await driver.close()
