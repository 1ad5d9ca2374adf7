"""A resource's state as a function of wall-clock time.

Theory of operation
-------------------
The simulated cloud runs no background task. Every resource is stored as a ``Timeline``: a
``base`` document (the fields as they were when last settled) and a list of ``steps``, each
``(at, changes)``, meaning "from epoch second ``at`` on, these fields have these values". What a
caller sees at time ``now`` is ``base`` with every step whose ``at <= now`` applied in order
(``view``). A request writes its whole future at once: ``stop_server`` appends
``(now, {status: ACTIVE, task_state: powering-off})`` and ``(now + delay, {status: SHUTOFF,
task_state: None})``; a fault ``error`` writes an ERROR step instead of the SHUTOFF one, a fault
``timeout`` writes no final step at all.

Because the future is data, time passes while the controller is down: an image whose
``active`` step lies in the past when the state is read again *is* active, whatever happened to
the process in between.

A new request first ``settle``s the timeline (folds past steps into ``base``) and then
``replace_future`` drops the steps that have not happened yet, because the new request
supersedes them (deleting a server that is still building). A step that sets ``GONE`` marks the
moment a resource disappears; ``gone_at`` exposes it so the store can hide and purge the row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GONE", "Timeline"]

GONE = "_gone"
"""Field set to ``True`` by the step at which a resource ceases to exist."""

UPDATED_AT = "updated_at"


@dataclass(slots=True)
class Timeline:
    """The persisted form of one simulated resource (see the module docstring)."""

    base: dict[str, Any]
    steps: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    def view(self, now: float) -> dict[str, Any]:
        """The fields as seen at ``now``; ``updated_at`` is the time of the last applied step."""
        fields = dict(self.base)
        for at, changes in self.steps:
            if at > now:
                break
            fields.update(changes)
            fields[UPDATED_AT] = max(float(fields.get(UPDATED_AT, at)), at)
        return fields

    def settle(self, now: float) -> None:
        """Fold every step that has happened by ``now`` into ``base``."""
        self.base = self.view(now)
        self.steps = [(at, changes) for at, changes in self.steps if at > now]

    def replace_future(self, now: float, *steps: tuple[float, Mapping[str, Any]]) -> None:
        """Settle, forget what had not happened yet, and schedule ``steps`` instead."""
        self.settle(now)
        self.steps = sorted(((at, dict(changes)) for at, changes in steps), key=lambda s: s[0])

    def schedule(self, *steps: tuple[float, Mapping[str, Any]]) -> None:
        """Add steps to the existing future (kept in time order; equal times keep call order)."""
        merged = self.steps + [(at, dict(changes)) for at, changes in steps]
        self.steps = sorted(merged, key=lambda s: s[0])

    @property
    def gone_at(self) -> float | None:
        """When the resource disappears (``None`` if it never does, as far as we know now)."""
        if self.base.get(GONE):
            return float(self.base.get(UPDATED_AT, 0.0))
        return next((at for at, changes in self.steps if changes.get(GONE)), None)

    def is_settled(self, now: float) -> bool:
        """True when nothing more is scheduled after ``now``."""
        return all(at <= now for at, _ in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "steps": [[at, changes] for at, changes in self.steps]}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Timeline:
        return cls(
            base=dict(doc["base"]),
            steps=[(float(at), dict(changes)) for at, changes in doc.get("steps", [])],
        )
