"""What every simulated operation works with: the store, the settings and the time of the request.

A ``Request`` is made once per driver call, so one call sees one consistent ``now`` and one
snapshot of the (live) settings, however long it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from esc_netconf.vim.base import VimNotFound
from esc_netconf.vim.sim.settings import FaultMode, SimOperation, SimSettings
from esc_netconf.vim.sim.store import Kind, SimStore
from esc_netconf.vim.sim.timeline import Timeline

__all__ = ["NOMINAL_DELAYS", "Request"]

NOMINAL_DELAYS: dict[str, float] = {
    "server.build": 3.0,
    "server.stop": 1.5,
    "server.start": 1.5,
    "server.reboot.soft": 2.0,
    "server.reboot.hard": 1.5,
    "server.delete": 1.0,
    "server.snapshot.capture": 0.5,
    "image.upload": 2.5,
    "volume.create": 2.0,
    "volume.attach": 1.0,
    "volume.detach": 1.0,
    "volume.delete": 1.0,
    "volume.snapshot": 2.0,
    "volume.snapshot.delete": 1.0,
    "volume.upload": 2.0,
}
"""Step delays in seconds at ``delay_scale = 1`` (each "at most a few seconds")."""


@dataclass(frozen=True, slots=True)
class Request:
    store: SimStore
    settings: SimSettings
    now: float

    def delay(self, step: str) -> float:
        """The absolute time at which step ``step`` (a ``NOMINAL_DELAYS`` key) completes if begun now."""
        return self.now + self.settings.delay(NOMINAL_DELAYS[step])

    def after(self, start: float, step: str) -> float:
        """The absolute time at which ``step`` completes if it begins at ``start``."""
        return start + self.settings.delay(NOMINAL_DELAYS[step])

    def fault(self, operation: SimOperation) -> FaultMode:
        return self.settings.fault(operation)

    def load(self, kind: Kind, resource_id: str, not_found: Callable[[str], VimNotFound]) -> Timeline:
        timeline = self.store.get(kind, resource_id, self.now)
        if timeline is None:
            raise not_found(resource_id)
        return timeline

    def view(self, kind: Kind, resource_id: str, not_found: Callable[[str], VimNotFound]) -> dict[str, Any]:
        return self.load(kind, resource_id, not_found).view(self.now)

    def save(self, kind: Kind, timeline: Timeline) -> None:
        base = timeline.base
        self.store.put(kind, base["id"], base.get("project_id"), base.get("name", ""), timeline)

    def new(self, kind: Kind, fields: dict[str, Any], *steps: tuple[float, dict[str, Any]]) -> Timeline:
        """Store a new resource created now, with its future."""
        base = {"created_at": self.now, "updated_at": self.now, **fields}
        timeline = Timeline(base=base)
        timeline.schedule(*steps)
        self.save(kind, timeline)
        return timeline
