"""Reads that see the shared store at least as new as it was when they arrived, with one check for many.

A standby answers a read from its copy of what the active wrote; before it answers, a check (blocking, in a
worker thread: a few queries, and the reading of what changed) brings the copy up to date, and whatever the
check read is put in place on the loop in one step. Three rules:

* **Freshness.** A read waits for a check that *started after the read arrived*: it then sees every
  transaction the active committed before that. A check already under way when a read arrives may have
  taken its snapshot of the store before the commit the reader expects to see, so that reader waits for
  the next one.
* **One check for many.** Every read that arrives while a check runs waits for the same next check: a burst
  of reads costs one check after the one in progress, not one each.
* **No torn view.** A read holds its state from its first look at the copy until it answered (:meth:`reading`
  is around the whole read, across its turns of the loop); a check that found a change waits until the reads
  holding the copy are done before it puts the new one in place. Reads arriving meanwhile wait for that
  check anyway, so a change is never held back for long: only by the reads already under way.

A check that fails (the database is away) fails the reads waiting for it, each with the check's error; the
next read starts another.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Generic, TypeVar

__all__ = ["FreshReads"]

Update = TypeVar("Update")


class FreshReads(Generic[Update]):
    """``check()`` (blocking, in a worker thread) returns what changed or None; ``install(update)`` (on the
    loop, in one step) puts it in place. Use :meth:`reading` around every read."""

    def __init__(self, check: Callable[[], Update | None], install: Callable[[Update], None]) -> None:
        self._check = check
        self._install = install
        self._started = 0  # checks started so far
        self._finished = 0  # checks finished (what they found installed)
        self._running: asyncio.Task[None] | None = None
        self._readers = 0  # reads between their check and their answer
        self._no_readers = asyncio.Event()
        self._no_readers.set()

    @property
    def checks(self) -> int:
        """How many checks ran (or run): for tests and benches."""
        return self._started

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Around one read: enters once the copy is at least as new as the store was on entry, and keeps
        the copy as it is until the read leaves.

        :raises StoreError: (or whatever the check raised) the copy could not be brought up to date.
        """
        wanted = self._started + 1  # the first check to start from now on
        while self._finished < wanted:
            if self._running is None:
                self._running = asyncio.get_running_loop().create_task(self._run(), name="standby-check")
            await asyncio.shield(self._running)
        self._readers += 1
        self._no_readers.clear()
        try:
            yield
        finally:
            self._readers -= 1
            if not self._readers:
                self._no_readers.set()

    async def _run(self) -> None:
        self._started += 1
        try:
            update = await asyncio.to_thread(self._check)
            if update is not None:
                while self._readers:  # no new reader enters before this check finished: only those under way
                    await self._no_readers.wait()
                self._install(update)
        finally:
            self._finished = self._started
            self._running = None
