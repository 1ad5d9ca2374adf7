"""Pacing: many tasks ready at once go on a few at a time, so no loop turn runs them all.

Why: asyncio runs every callback that is ready in one turn of the loop before it looks at timers or
sockets again.  When the poller sees a thousand servers become ACTIVE, or a commit makes the intents
of a thousand VMs durable, a thousand tasks wake in the same turn and every client (and every timer)
waits for all of them: seconds at this scale.  Yielding inside the tasks does not help, since they all
yield into the same next turn.  A ``Pacer`` queues them instead and lets a slice of them go per turn.

The slice adapts to what a turn costs: the pacer measures the time between two of its own turns (the
tasks it let go ran in between, with everything else the loop did) and halves the slice when that was
longer than ``target``, doubles it when it was under half of it.  Order is first come, first served.
"""

from __future__ import annotations

import asyncio
from collections import deque

#: The length of a loop turn the pacer aims at (seconds).
TARGET_TURN = 0.02
#: Bounds of the slice.
MIN_SLICE, MAX_SLICE = 1, 1024


class Pacer:
    """A first-come, first-served turnstile with an adaptive number of passes per loop turn."""

    def __init__(self, target: float = TARGET_TURN) -> None:
        self._target = target
        self._slice = 16
        self._queue: deque[asyncio.Future[None]] = deque()
        self._handle: asyncio.Handle | None = None
        self._last: float | None = None

    @property
    def waiting(self) -> int:
        """Tasks queued for their turn."""
        return len(self._queue)

    async def turn(self) -> None:
        """Wait for this task's turn (at the earliest the next turn of the loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.append(future)
        if self._handle is None:
            self._last = None
            self._handle = loop.call_soon(self._release)
        await future

    def _release(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self._last is not None:
            spent = now - self._last
            if spent > self._target:
                self._slice = max(MIN_SLICE, self._slice // 2)
            elif spent < self._target / 2:
                self._slice = min(MAX_SLICE, self._slice * 2)
        let_go = 0
        while self._queue and let_go < self._slice:
            future = self._queue.popleft()
            if not future.done():  # a cancelled waiter gives its place away
                future.set_result(None)
                let_go += 1
        if self._queue:
            self._last = now
            self._handle = loop.call_soon(self._release)
        else:
            self._handle = None
