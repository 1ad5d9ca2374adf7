"""One batched poller for everything the backup subsystem waits on in the VIM.

Theory of operation
-------------------
Each operation that waits registers a ``Watch``: the image, volume-snapshot and volume ids it needs to
see, a pure ``judge`` that turns what the VIM shows into an outcome (or ``None``: not yet), an
``expired`` check (the operation's timeout, read live from the settings) and its poll period (also
read live).  One loop serves every watch: it sleeps until the earliest watch is due, then makes *one*
``list_images(ids=...)``, *one* ``list_volume_snapshots(ids=...)`` and *one* ``list_volumes(ids=...)``
for all due watches together (a watch may ask to ``follow_volume_snapshots``: the Cinder snapshots
named in its images' block device mappings are listed in the same round), and settles those whose
judge (or timeout) has an answer.

Due times are aligned to multiples of the period on the loop clock, so watches with the same period
started at slightly different moments fall due at the same instant and share one listing: 100
snapshots in flight cost one ``list_images`` per period, not 100.  A watch resumed after a restart is
due at once.  When a listing fails (the VIM is unreachable) the watches are not judged that round, but
their timeouts still apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from esc_netconf.vim.base import Image, VimDriver, VimError, Volume, VolumeSnapshot

__all__ = ["BatchPoller", "VimView", "Watch"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VimView:
    """What one polling round saw; an id absent from a mapping is absent from the VIM."""

    images: dict[str, Image] = field(default_factory=dict)
    volume_snapshots: dict[str, VolumeSnapshot] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)


@dataclass(eq=False)
class Watch(Generic[T]):
    """One waiting operation (see the module docstring)."""

    judge: Callable[[VimView], T | None]
    expired: Callable[[], T | None]
    period: Callable[[], float]
    image_ids: Sequence[str] = ()
    volume_snapshot_ids: Sequence[str] = ()
    volume_ids: Sequence[str] = ()
    follow_volume_snapshots: bool = False
    due: float = 0.0
    future: asyncio.Future[T] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class BatchPoller:
    """Waits for many VIM resources with one listing per kind per due instant."""

    def __init__(self, driver: VimDriver) -> None:
        self._driver = driver
        self._watches: set[Watch[Any]] = set()  # each with its own outcome type
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, watch: Watch[T], *, immediately: bool = False) -> T:
        """The first outcome ``watch.judge`` or ``watch.expired`` returns.

        ``immediately``: judge at the next round rather than after one period (used when resuming).
        """
        loop = asyncio.get_running_loop()
        watch.due = loop.time() if immediately else _next_tick(loop.time(), watch.period())
        self._watches.add(watch)
        self._changed.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="backup-poller")
        try:
            return await asyncio.shield(watch.future)
        finally:
            self._watches.discard(watch)

    @property
    def watching(self) -> int:
        """How many watches are registered (for tests and benchmarks)."""
        return len(self._watches)

    async def close(self) -> None:
        """Stop the loop; pending waits stay pending (their owners are being cancelled)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pending = [w for w in self._watches if not w.future.done()]
            if not pending:
                return  # settled watches leave on their own; a new one restarts the loop
            self._changed.clear()
            delay = min(w.due for w in pending) - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):  # asyncio.timeout never swallows a cancel (3.11 wait_for can)
                    async with asyncio.timeout(delay):
                        await self._changed.wait()
                    continue  # a new watch may be due earlier: recompute
            now = loop.time()
            due = [w for w in self._watches if w.due <= now and not w.future.done()]
            if due:
                view = await self._fetch(due)
                self._settle(due, view, loop.time())

    async def _fetch(self, due: Sequence[Watch[object]]) -> VimView | None:
        images = sorted({i for w in due for i in w.image_ids})
        wanted = {i for w in due for i in w.volume_snapshot_ids}
        volumes = sorted({i for w in due for i in w.volume_ids})
        try:
            view = VimView()
            if images:
                view.images.update((i.id, i) for i in await self._driver.list_images(ids=images))
            for watch in due:
                if watch.follow_volume_snapshots:
                    for image_id in watch.image_ids:
                        image = view.images.get(image_id)
                        wanted.update(image.volume_snapshot_ids() if image is not None else ())
            snapshots = sorted(wanted)
            if snapshots:
                found = await self._driver.list_volume_snapshots(ids=snapshots)
                view.volume_snapshots.update((s.id, s) for s in found)
            if volumes:
                view.volumes.update((v.id, v) for v in await self._driver.list_volumes(ids=volumes))
            return view
        except VimError as exc:
            log.warning("polling the VIM for %d backup operation(s) failed: %s", len(due), exc.message)
            return None

    @staticmethod
    def _settle(due: Sequence[Watch[object]], view: VimView | None, now: float) -> None:
        for watch in due:
            if watch.future.done():
                continue
            try:
                outcome = watch.judge(view) if view is not None else None
                if outcome is None:
                    outcome = watch.expired()
            except Exception as exc:  # a judge bug must fail its operation, not the poller
                watch.future.set_exception(exc)
                continue
            if outcome is not None:
                watch.future.set_result(outcome)
            else:
                watch.due = _next_tick(now, watch.period())


def _next_tick(now: float, period: float) -> float:
    """The first multiple of ``period`` strictly after ``now`` (so equal periods share instants)."""
    period = max(period, 0.001)
    return (math.floor(now / period) + 1) * period
