"""Helpers for sim-only tests: a fake clock (time passes only when a test says so) and live settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from esc_netconf.vim.base import PortSpec, Project, Server, ServerStatus
from esc_netconf.vim.sim import FaultMode, SimCloud, SimSettings


class FakeClock:
    """Epoch seconds that move only on ``advance``."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Knobs:
    """The live settings a running server would hold; ``SimCloud`` reads them on every call."""

    settings: SimSettings = field(default_factory=SimSettings)

    def __call__(self) -> SimSettings:
        return self.settings

    def fault(self, operation: str, mode: FaultMode) -> None:
        self.settings = SimSettings(self.settings.delay_scale, {**self.settings.faults, operation: mode})


LONG = 3600.0
"""Far beyond any step delay at scale 1."""


async def boot(cloud: SimCloud, project: Project, clock: FakeClock, *, settle: bool = True) -> Server:
    """A cirros server on net-mgmt, ACTIVE unless ``settle`` is false."""
    (image,) = await cloud.list_images(name="cirros")
    server = await cloud.create_server(
        "vm", project_id=project.id, flavor="m1.tiny", image_id=image.id, networks=[PortSpec("net-mgmt")]
    )
    if settle:
        clock.advance(LONG)
        server = await cloud.get_server(server.id)
        assert server.status is ServerStatus.ACTIVE
    return server
