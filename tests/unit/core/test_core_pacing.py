"""The pacer lets tasks that became ready together go on a slice per loop turn, first come first served."""

from __future__ import annotations

import asyncio
import time

import pytest

from esc_netconf.core import pacing
from esc_netconf.core.pacing import MIN_SLICE, START_SLICE, Pacer


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


def _turn_counter() -> tuple[list[int], asyncio.Future[None]]:
    """A task counting the loop's turns (``turns[0]``) until the returned future is cancelled."""
    turns = [0]

    async def count() -> None:
        while True:
            turns[0] += 1
            await asyncio.sleep(0)

    return turns, asyncio.ensure_future(count())


async def _passes_per_turn(pacer: Pacer, waiters: int, hold: float = 0.0) -> list[int]:
    """Queue ``waiters`` tasks at once (each holds the loop ``hold`` s once through); how many passed per turn."""
    turns, counter = _turn_counter()
    passed_at: list[int] = []

    async def wait() -> None:
        await pacer.turn()
        passed_at.append(turns[0])
        if hold:
            time.sleep(hold)

    await asyncio.gather(*(wait() for _ in range(waiters)))
    counter.cancel()
    per_turn: dict[int, int] = {}
    for turn in passed_at:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    return [per_turn[t] for t in sorted(per_turn)]


async def test_the_slice_at_most_doubles_from_what_it_let_go() -> None:
    per_turn = await _passes_per_turn(Pacer(), 3000)  # cheap waiters: the slice grows, but stepwise
    assert per_turn[0] <= START_SLICE
    assert all(later <= 2 * earlier for earlier, later in zip(per_turn, per_turn[1:]))
    assert max(per_turn) > START_SLICE


async def test_the_slice_fits_the_target_at_the_cost_seen() -> None:
    pacer = Pacer(target=0.02)
    per_turn = await _passes_per_turn(pacer, 120, hold=0.004)  # 16 x 4 ms: 64 ms, three times the target
    assert per_turn[0] == START_SLICE
    assert max(per_turn[2:]) <= 6  # 20 ms / 4 ms = 5 (one more for timer noise)


async def test_a_burst_after_a_quiet_spell_starts_from_the_start_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pacing, "QUIET", 0.3)
    pacer = Pacer()
    await _passes_per_turn(pacer, 3000)
    assert pacer._slice > START_SLICE  # grown on cheap waiters
    assert (await _passes_per_turn(pacer, 100))[0] > START_SLICE  # no quiet spell: the next burst goes on so
    await asyncio.sleep(0.4)
    assert (await _passes_per_turn(pacer, 100))[0] <= START_SLICE  # these may cost more: start small again
