"""``FreshReads``: a read waits for a check that started after it arrived, reads arriving together share one
check, a change is put in place only between reads (never under one), and a failed check fails its readers
and not the next read."""

from __future__ import annotations

import asyncio
import threading

import pytest

from esc_netconf.ha.fresh_reads import FreshReads
from esc_netconf.store.errors import StoreError


class Store:
    """A shared store of one number that "the active" changes; the checks read it in a worker thread."""

    def __init__(self) -> None:
        self.value = 0
        self.checks: list[int] = []  # the value each check read
        self.gate: threading.Event | None = None  # checks wait for it once they read the value
        self.started = threading.Event()
        self.fail: Exception | None = None

    def check(self, copy: list[int]) -> int | None:
        if self.fail is not None:
            raise self.fail
        value = self.value  # the check's snapshot of the store...
        self.checks.append(value)
        self.started.set()
        if self.gate is not None:
            self.gate.wait(5)  # ...and the rest of its work, during which the store may change
        return None if value == copy[0] else value


def reads(store: Store) -> tuple[FreshReads[int], list[int]]:
    copy = [0]  # the standby's copy, changed only by install

    def install(value: int) -> None:
        copy[0] = value

    return FreshReads(lambda: store.check(copy), install), copy


async def wait_started(store: Store) -> None:
    while not store.started.is_set():
        await asyncio.sleep(0.001)
    store.started.clear()


def test_a_read_sees_a_change_made_before_it_arrived_and_reads_without_one_install_nothing() -> None:
    async def run() -> None:
        store = Store()
        fresh, copy = reads(store)
        async with fresh.reading():
            assert copy[0] == 0
        store.value = 1
        async with fresh.reading():
            assert copy[0] == 1
        async with fresh.reading():
            assert copy[0] == 1
        assert store.checks == [0, 1, 1] and fresh.checks == 3

    asyncio.run(run())


def test_reads_arriving_during_a_check_wait_for_the_next_one_and_share_it() -> None:
    async def run() -> None:
        store = Store()
        fresh, copy = reads(store)
        store.gate = threading.Event()
        seen: list[int] = []

        async def read() -> None:
            async with fresh.reading():
                seen.append(copy[0])

        first = asyncio.create_task(read())
        await wait_started(store)  # the first check read the store...
        store.value = 7  # ...before the active committed this; then more reads arrive
        later = [asyncio.create_task(read()) for _ in range(5)]
        await asyncio.sleep(0.01)
        store.gate.set()
        await asyncio.gather(first, *later)
        assert seen == [0, 7, 7, 7, 7, 7]  # the later ones waited for a check that started after they came
        assert store.checks == [0, 7]  # and shared it

    asyncio.run(run())


def test_a_change_is_put_in_place_only_once_the_reads_under_way_are_done() -> None:
    async def run() -> None:
        store = Store()
        fresh, copy = reads(store)
        inside = asyncio.Event()
        leave = asyncio.Event()
        during: list[int] = []

        async def long_read() -> None:
            async with fresh.reading():
                during.append(copy[0])
                inside.set()
                await leave.wait()  # a read that spans turns of the loop (opdata in slices)
                during.append(copy[0])

        reader = asyncio.create_task(long_read())
        await inside.wait()
        store.value = 3

        async def next_read() -> int:
            async with fresh.reading():
                return copy[0]

        later = asyncio.create_task(next_read())
        for _ in range(50):  # the check found the change and waits for the read under way
            await asyncio.sleep(0.002)
        assert copy[0] == 0 and not later.done()
        leave.set()
        assert await later == 3
        await reader
        assert during == [0, 0]  # one state throughout

    asyncio.run(run())


def test_a_failed_check_fails_its_readers_and_the_next_read_checks_again() -> None:
    async def run() -> None:
        store = Store()
        fresh, copy = reads(store)
        store.fail = StoreError("database error: connection refused")
        results = await asyncio.gather(*(_enter(fresh) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, StoreError) for r in results)
        store.fail, store.value = None, 5
        async with fresh.reading():
            assert copy[0] == 5

    asyncio.run(run())


async def _enter(fresh: FreshReads[int]) -> None:
    async with fresh.reading():
        pytest.fail("entered a read whose check failed")
