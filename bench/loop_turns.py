"""Long loop turns: the turns of the event loop that used more than a threshold of its thread's CPU, with
what ran in them.

Why a turn, not a callback: asyncio runs every callback that is ready in one turn before it looks at its
timers and sockets again, so a turn of a thousand small callbacks holds the loop as long as one long
callback does, and a profiler of single callbacks (``deploy_scale --profile-callbacks``) does not see it.
What a turn spends outside its callbacks is listed too ("between callbacks": mostly freeing what the
previous callback's handle held; "select": the poll and its bookkeeping).

Used by ``bench/deploy_scale.py`` and ``bench/edit_scale.py`` (``--profile-turns``). It patches asyncio's
``BaseEventLoop._run_once`` and ``Handle._run`` for the whole process: a bench tool, never the server's.
"""

from __future__ import annotations

import asyncio
import asyncio.base_events
import time
from typing import Any


def describe(handle: asyncio.events.Handle) -> str:
    """What a loop callback runs: a task's coroutine or a plain callback's name."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_coro().__qualname__}"  # type: ignore[union-attr]
    return f"callback {getattr(callback, '__qualname__', repr(callback))}"


_NOT_CALLBACKS = frozenset({"between callbacks", "select"})


class LongTurns:
    """Every loop turn (one ``_run_once``: the callbacks that were ready together) that used more than
    ``threshold`` seconds of the loop thread's CPU, with what ran in it: the callbacks that ran, grouped by
    what they ran, and their CPU. A turn made of many small callbacks stalls the loop as one long callback
    does, and ``SlowCallbacks`` does not see it."""

    def __init__(self, threshold: float, keep: int = 20) -> None:
        self.threshold = threshold
        self.keep = keep
        self.turns: list[tuple[float, int, list[tuple[str, int, float]]]] = []
        self._current: list[tuple[str, float]] | None = None
        self._last = 0.0
        run_once = asyncio.base_events.BaseEventLoop._run_once  # type: ignore[attr-defined]
        run_handle = asyncio.events.Handle._run
        profiler = self

        def _run_once(loop: asyncio.base_events.BaseEventLoop) -> None:
            selector = loop._selector  # type: ignore[attr-defined]
            if not getattr(selector, "_timed", False):
                select = selector.select

                def timed_select(timeout: float | None = None) -> list[Any]:
                    start = time.thread_time()
                    try:
                        return select(timeout)  # type: ignore[no-any-return]
                    finally:
                        profiler._last = time.thread_time()
                        if profiler._current is not None:
                            profiler._current.append(("select", profiler._last - start))

                selector.select, selector._timed = timed_select, True
            profiler._current = ran = []
            start = profiler._last = time.thread_time()
            try:
                run_once(loop)
            finally:
                profiler._current = None
                end = time.thread_time()
                ran.append(("between callbacks", end - profiler._last))
                used = end - start
                if used > profiler.threshold:
                    profiler._note(used, ran)

        def _run(handle: asyncio.events.Handle) -> None:
            start = time.thread_time()
            if profiler._current is not None and profiler._last:
                profiler._current.append(("between callbacks", start - profiler._last))
            try:
                run_handle(handle)
            finally:
                profiler._last = time.thread_time()
                if profiler._current is not None:
                    profiler._current.append((describe(handle), profiler._last - start))

        asyncio.base_events.BaseEventLoop._run_once = _run_once  # type: ignore[attr-defined]
        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]

    def _note(self, used: float, ran: list[tuple[str, float]]) -> None:
        by_what: dict[str, list[float]] = {}
        for what, cpu in ran:
            by_what.setdefault(what, []).append(cpu)
        top = sorted(((w, len(c), sum(c)) for w, c in by_what.items()), key=lambda t: -t[2])[:5]
        self.turns.append((used, sum(1 for what, _ in ran if what not in _NOT_CALLBACKS), top))

    def take(self) -> list[str]:
        """The longest turns noted since the last call, one line each (and forget them)."""
        turns, self.turns = sorted(self.turns, key=lambda t: -t[0])[:self.keep], []
        return [f"{used * 1000:.0f} ms CPU, {count} callbacks: "
                + "; ".join(f"{n}x {cpu * 1000:.0f} ms {what}" for what, n, cpu in top)
                for used, count, top in turns]
