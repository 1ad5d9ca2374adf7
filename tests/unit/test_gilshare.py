"""``gilshare.breathe``: a worker thread pauses, GIL released, after each ``EVERY`` seconds of its own CPU."""

from __future__ import annotations

import asyncio
import threading

import pytest

from esc_netconf import gilshare


class _Clock:
    """The thread's CPU clock and ``time.sleep``, under the test's control."""

    def __init__(self) -> None:
        self.cpu = 100.0
        self.sleeps: list[float] = []

    def thread_time(self) -> float:
        return self.cpu

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(gilshare.time, "thread_time", fake.thread_time)
    monkeypatch.setattr(gilshare.time, "sleep", fake.sleep)
    monkeypatch.setattr(gilshare, "_since", threading.local())  # no history from other tests
    monkeypatch.setattr(gilshare, "enabled", True)
    monkeypatch.setattr(gilshare, "_servers", 1)
    return fake


def test_a_thread_pauses_once_it_used_its_share_of_cpu_and_not_before(clock: _Clock) -> None:
    gilshare.breathe()  # the first call only starts counting
    clock.cpu += gilshare.EVERY * 0.9
    gilshare.breathe()
    assert clock.sleeps == []
    clock.cpu += gilshare.EVERY * 0.2
    gilshare.breathe()
    assert clock.sleeps == [gilshare.PAUSE]
    clock.cpu += gilshare.EVERY * 0.5  # counting starts again after the pause
    gilshare.breathe()
    assert clock.sleeps == [gilshare.PAUSE]


def test_each_thread_counts_its_own_cpu(clock: _Clock) -> None:
    gilshare.breathe()
    clock.cpu += gilshare.EVERY * 2
    other = threading.Thread(target=gilshare.breathe)  # its first call: it has used nothing yet
    other.start()
    other.join()
    assert clock.sleeps == []
    gilshare.breathe()
    assert clock.sleeps == [gilshare.PAUSE]


def test_turned_off_it_never_pauses(clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gilshare, "enabled", False)
    for _ in range(5):
        gilshare.breathe()
        clock.cpu += gilshare.EVERY * 3
    assert clock.sleeps == []



def test_the_event_loop_s_thread_never_pauses(clock: _Clock) -> None:
    async def on_the_loop() -> None:
        for _ in range(5):
            gilshare.breathe()
            clock.cpu += gilshare.EVERY * 3

    asyncio.run(on_the_loop())
    assert clock.sleeps == []


def test_it_pauses_only_while_a_server_of_the_process_serves(clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gilshare, "_servers", 0)
    gilshare.breathe()
    clock.cpu += gilshare.EVERY * 3
    gilshare.breathe()  # start-up: nobody waits for the loop yet
    assert clock.sleeps == []
    gilshare.serving(True)
    gilshare.serving(True)
    gilshare.serving(False)  # one of two servers stopped
    gilshare.breathe()  # counting starts
    clock.cpu += gilshare.EVERY * 3
    gilshare.breathe()
    assert clock.sleeps == [gilshare.PAUSE]
    gilshare.serving(False)
    clock.cpu += gilshare.EVERY * 3
    gilshare.breathe()
    assert clock.sleeps == [gilshare.PAUSE]
