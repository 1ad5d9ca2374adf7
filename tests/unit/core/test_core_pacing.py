"""The pacer lets tasks that became ready together go on a slice per loop turn, first come first served."""

from __future__ import annotations

import asyncio
import time

from esc_netconf.core.pacing import MIN_SLICE, Pacer


async def test_a_thousand_waiters_go_in_order_over_several_turns() -> None:
    pacer = Pacer()
    order: list[int] = []
    turns = 0
    done = False

    async def count_turns() -> None:
        nonlocal turns
        while not done:
            turns += 1
            await asyncio.sleep(0)

    async def wait(i: int) -> None:
        await pacer.turn()
        order.append(i)

    counter = asyncio.ensure_future(count_turns())
    await asyncio.gather(*(wait(i) for i in range(1000)))
    done = True
    await counter
    assert order == list(range(1000))
    assert turns > 5  # not all in one turn


async def test_the_slice_shrinks_when_what_it_lets_go_is_slow() -> None:
    pacer = Pacer(target=0.01)
    per_turn: list[int] = []

    async def slow(i: int) -> None:
        await pacer.turn()
        time.sleep(0.003)  # each released task holds the loop 3 ms
        per_turn.append(i)

    await asyncio.gather(*(slow(i) for i in range(60)))
    assert pacer._slice <= 4  # 16 at first; a turn of 16 x 3 ms is far over 10 ms
    assert pacer._slice >= MIN_SLICE


async def test_a_cancelled_waiter_gives_its_place_away() -> None:
    pacer = Pacer()
    reached: list[str] = []

    async def wait(name: str) -> None:
        await pacer.turn()
        reached.append(name)

    first = asyncio.ensure_future(wait("cancelled"))
    second = asyncio.ensure_future(wait("kept"))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    assert reached == ["kept"] and pacer.waiting == 0
