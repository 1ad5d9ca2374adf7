"""Background threads hand the GIL to the event loop often, instead of waiting for CPython to take it.

Why: one asyncio loop owns the core and answers every client, and it shares the GIL with the threads at
the edges (the core's commit writer, the simulated cloud, the replay log's writer). The loop gives the
GIL up at each system call (every ``select``, every read of its self-pipe), and getting it back from a
thread that runs Python takes CPython 3.11 up to its switch interval (5 ms) before it may even ask; when
two such threads are busy, the one that gets it after a forced switch is a draw, and the loop may lose
several in a row. At the end of a 2,000 x 5 VMs deploy the loop's turns of 10-25 ms of its own CPU took
60-200 ms of wall time that way (``bench/deploy_scale.py``), although no thread held the GIL for long.

So a background thread calls :func:`breathe` at the points where it may pause (between requests, rows,
records; ``netconf.yangson_pauses`` adds yangson's validation walks): once it has used ``EVERY`` seconds
of CPU since its last pause, it sleeps ``PAUSE`` seconds with the GIL released, long enough for a thread
waiting for it (the loop) to wake and take it. A thread that runs flat out loses at most 0.2 ms in each
0.7 ms; the loop waits about half a millisecond for the GIL behind it, not five. The thread's own CPU
clock counts, not the wall clock: time spent waiting for the GIL or in a system call kept nobody out.

Only while a server serves (:func:`serving`, from ``Application.start`` to ``stop``): before, nobody waits
for the loop, and the pauses made a restart with 10,000 VMs about 1.2 s slower (its validation runs in a
worker thread). Set ``enabled`` to ``False`` to measure without them (``bench/deploy_scale.py
--no-gil-share``).
"""

from __future__ import annotations

import asyncio
import threading
import time

__all__ = ["EVERY", "PAUSE", "breathe", "enabled", "serving"]

#: Seconds of a thread's own CPU between two pauses.
EVERY = 0.0005
#: Seconds a pause lasts: a thread woken by the GIL's release needs some tens of microseconds to take it.
PAUSE = 0.0002
#: Pausing at all (a switch for benchmarks).
enabled = True

_since = threading.local()
_servers = 0  # servers of this process between start and stop (a test run has several)
_servers_lock = threading.Lock()


def serving(started: bool) -> None:
    """A server of this process started serving clients (``True``) or stopped (``False``)."""
    global _servers
    with _servers_lock:
        _servers = max(0, _servers + (1 if started else -1))


def breathe() -> None:
    """Pause (GIL released) if this thread has used ``EVERY`` seconds of CPU since its last pause and a server
    serves.

    Cheap when not due (one read of the thread's CPU clock). Does nothing on a thread that runs an event
    loop: code that runs on the loop for small inputs and in a worker for big ones may call it either way.
    """
    if not enabled or not _servers or asyncio._get_running_loop() is not None:  # the loop's thread never sleeps
        return
    now = time.thread_time()
    last: float | None = getattr(_since, "cpu", None)
    if last is None:
        _since.cpu = now
    elif now - last >= EVERY:
        time.sleep(PAUSE)
        _since.cpu = time.thread_time()
