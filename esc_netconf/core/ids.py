"""Random (version 4) UUIDs for the core's records and events, drawn from a pool of OS randomness.

Why not ``uuid.uuid4()``: it reads 16 bytes from the OS per call, and that system call releases the GIL;
under load another thread then holds the GIL for up to the switch interval (5 ms) before the event loop
gets it back.  A bulk edit makes a few ids per VM in one loop turn, so those waits added up to most of
its stall.  The pool reads 64 KiB at a time: the same randomness, one system call per 4,096 ids (with 4 KiB,
a deploy of 10,000 VMs, a few ids per VM, still gave the GIL away hundreds of times, and those waits
were a tenth of its loop stalls).
"""

from __future__ import annotations

import os
import threading
from uuid import UUID

_POOL_BYTES = 65536
_pool = b""
_used = _POOL_BYTES
_lock = threading.Lock()


def new_id() -> str:
    """A random UUID, as text (``xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx``)."""
    global _pool, _used
    with _lock:
        if _used >= _POOL_BYTES:
            _pool, _used = os.urandom(_POOL_BYTES), 0
        chunk = _pool[_used:_used + 16]
        _used += 16
    return str(UUID(bytes=chunk, version=4))
