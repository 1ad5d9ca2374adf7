"""For tests of the places that call ``gilshare.breathe``: count the pauses they take."""

from __future__ import annotations

import threading

import pytest

from esc_netconf import gilshare


def every_look_pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A server serves and each look at a thread's CPU clock finds a pause due; the pauses taken (seconds
    each) go into the list returned, and nothing sleeps."""
    pauses: list[float] = []
    cpu = iter(range(10**9))
    monkeypatch.setattr(gilshare, "enabled", True)
    monkeypatch.setattr(gilshare, "_servers", 1)
    monkeypatch.setattr(gilshare, "_since", threading.local())
    monkeypatch.setattr(gilshare.time, "thread_time", lambda: float(next(cpu)))
    monkeypatch.setattr(gilshare.time, "sleep", pauses.append)
    return pauses
