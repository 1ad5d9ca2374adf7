"""Where the event loop is when it is late: a watchdog thread that samples the loop thread's stack.

Why: a loop-lag probe says how long the loop stalled, not what held it; a profiler of the whole run drowns
the few long callbacks in the many short ones.  Here a callback on the loop stamps a heartbeat every
millisecond, and a watchdog thread wakes every ``interval`` seconds: when the heartbeat is older than
``threshold``, it reads the loop thread's current frame (``sys._current_frames``) and counts the stack.
Only the samples taken inside stalls are counted, so the summary shows what the stalls are made of: per
function, the share of the stall samples in which it was on the stack (inclusive), and the commonest
leaf stacks.  The watchdog needs the GIL to take a sample, so C code that holds the GIL (lxml) shows up
in the sample taken right after it, attributed to the Python line that called it.

Used by ``bench/deploy_scale.py --stall-stacks`` and ``bench/edit_scale.py --stall-stacks``.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

_ROOT = str(Path(__file__).resolve().parent.parent) + "/"


#: Leaf functions of a thread that waits (for a lock, a queue, a socket), so did not hold the GIL.
_WAITING = frozenset({"wait", "_wait_for_tstate_lock", "select", "get", "recv", "accept", "read", "_read_ready",
                      "poll", "sleep", "acquire", "readinto", "_worker", "run_forever", "_run_once", "wait_for"})


def _where(frame: FrameType) -> str:
    code = frame.f_code
    name = code.co_filename
    name = name[len(_ROOT):] if name.startswith(_ROOT) else Path(name).name
    return f"{name}:{code.co_name}"


class StallStacks:
    """Stack samples of the loop thread taken while its heartbeat is older than ``threshold`` seconds."""

    def __init__(self, threshold: float = 0.02, interval: float = 0.002, depth: int = 60) -> None:
        self.threshold = threshold
        self.interval = interval
        self.depth = depth
        self.samples = 0
        self.inclusive: Counter[str] = Counter()
        self.leaves: Counter[tuple[str, ...]] = Counter()
        self.others: Counter[tuple[str, ...]] = Counter()  # (thread, leaf frames) of the other busy threads
        self._beat = time.perf_counter()
        self._thread_id = 0
        self._stopping = threading.Event()
        self._handle: asyncio.TimerHandle | None = None
        self._watchdog: threading.Thread | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        async def begin() -> int:
            self._tick()
            return threading.get_ident()
        self._thread_id = asyncio.run_coroutine_threadsafe(begin(), loop).result(10)
        self._watchdog = threading.Thread(target=self._watch, name="stall-stacks", daemon=True)
        self._watchdog.start()

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stopping.set()
        if self._handle is not None:
            loop.call_soon_threadsafe(self._handle.cancel)
        if self._watchdog is not None:
            self._watchdog.join(5)

    def take(self) -> tuple[int, Counter[str], Counter[tuple[str, ...]], Counter[tuple[str, ...]]]:
        """The samples since the last call (and forget them)."""
        taken = (self.samples, self.inclusive, self.leaves, self.others)
        self.samples, self.inclusive, self.leaves, self.others = 0, Counter(), Counter(), Counter()
        return taken

    def _tick(self) -> None:
        self._beat = time.perf_counter()
        if not self._stopping.is_set():
            self._handle = asyncio.get_running_loop().call_later(0.001, self._tick)

    def _watch(self) -> None:
        while not self._stopping.wait(self.interval):
            if time.perf_counter() - self._beat <= self.threshold:
                continue
            frames = sys._current_frames()
            frame: FrameType | None = frames.get(self._thread_id)
            self._count_others(frames)
            stack: list[str] = []
            while frame is not None and len(stack) < self.depth:
                stack.append(_where(frame))
                frame = frame.f_back
            if not stack:
                continue
            self.samples += 1
            self.inclusive.update(set(stack))
            self.leaves[tuple(stack[:6])] += 1

    def _count_others(self, frames: dict[int, FrameType]) -> None:
        """The other threads that were not waiting: one of them held the GIL while the loop was late."""
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        me = threading.get_ident()
        for ident, frame in frames.items():
            if ident in (me, self._thread_id) or frame.f_code.co_name in _WAITING:
                continue
            stack: list[str] = []
            walk: FrameType | None = frame
            while walk is not None and len(stack) < 4:
                stack.append(_where(walk))
                walk = walk.f_back
            self.others[(names.get(ident, str(ident)), *stack)] += 1


def report(samples: int, inclusive: Counter[str], leaves: Counter[tuple[str, ...]],
           others: Counter[tuple[str, ...]] | None = None, *, top: int = 25, only_project: bool = True) -> list[str]:
    """Lines describing the samples: inclusive share per function (project code only, by default), then
    the commonest leaf stacks."""
    if not samples:
        return ["no stall samples"]
    lines = [f"{samples} stack samples inside stalls; on the stack in % of them:"]
    ranked = [(k, v) for k, v in inclusive.most_common() if not only_project or k.startswith("esc_netconf/")]
    for name, count in ranked[:top]:
        lines.append(f"  {100 * count / samples:5.1f}%  {name}")
    lines.append("commonest leaf stacks (innermost first):")
    for stack, count in leaves.most_common(8):
        lines.append(f"  {100 * count / samples:5.1f}%  " + " < ".join(stack))
    if others:
        lines.append("the other threads not waiting at those samples (thread: leaf frames, innermost first):")
        for (thread, *frames), count in others.most_common(12):
            lines.append(f"  {100 * count / samples:5.1f}%  {thread}: " + " < ".join(frames))
    return lines
