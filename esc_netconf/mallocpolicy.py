"""While a server serves, glibc's allocator keeps no fastbins (``mallopt(M_MXFAST, 0)``).

Why: lxml (libxml2) allocates every node of a tree with the C allocator, and a deploy of 10,000 VMs builds
and frees about 20,000 escEvent payloads of some 40 nodes each on the notification hub's writer thread and
the loop. glibc keeps small freed blocks in per-arena "fastbins" and, at the next large request in that arena,
merges all of them at once (``malloc_consolidate``). With hundreds of thousands of them that took 35-65 ms, in
whichever thread asked, with the GIL held: ``perf`` showed the hub's writer thread in ``malloc_consolidate``
for the whole of each of the loop's remaining stalls over 30 ms at the end of ``bench/deploy_scale.py
--deployments 2000 --vms 5``, the loop waiting for the GIL meanwhile (0 ms of its own CPU). Without fastbins a
freed block is merged with its neighbours when it is freed (glibc's per-thread cache still takes the first
few of each size): no stall over 30 ms in three runs, the run as fast, the peak RSS the same.

Only while a server serves (:func:`serving`, from ``Application.start`` to ``stop``), and only where the C
library is glibc; elsewhere it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import threading
from collections.abc import Callable

__all__ = ["DEFAULT_MXFAST", "enabled", "serving"]

log = logging.getLogger(__name__)

#: ``mallopt``'s parameter for the largest fastbin block (``malloc.h``).
M_MXFAST = 1
#: glibc's default for it: 64 * sizeof(size_t) / 4 (128 bytes on a 64-bit machine).
DEFAULT_MXFAST = 64 * ctypes.sizeof(ctypes.c_size_t) // 4


def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None under another C library (musl's is a stub, others have none)."""
    if platform.libc_ver()[0] != "glibc":
        return None
    function = getattr(ctypes.CDLL(None), "mallopt", None)
    if function is None:
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


def _set_mxfast(value: int) -> bool:
    mallopt = _mallopt()
    if mallopt is None:
        return False
    if mallopt(M_MXFAST, value) != 1:  # mallopt returns 1 on success
        log.warning("mallopt(M_MXFAST, %d) failed", value)
        return False
    return True


#: Turning the fastbins off at all (a switch for benchmarks: ``bench/deploy_scale.py --malloc-fastbins``).
enabled = True

_servers = 0  # servers of this process between start and stop (a test run has several)
_servers_lock = threading.Lock()


def serving(started: bool) -> None:
    """A server of this process started serving (``True``) or stopped (``False``): the first to start turns
    the fastbins off (glibc first merges those it holds), the last to stop gives glibc's default back."""
    global _servers
    with _servers_lock:
        before = _servers
        _servers = max(0, _servers + (1 if started else -1))
        if not enabled:
            return
        if before == 0 and _servers == 1 and not _set_mxfast(0):
            log.info("the C allocator's fastbins are left as they are (not glibc, or mallopt refused)")
        elif before == 1 and _servers == 0:
            _set_mxfast(DEFAULT_MXFAST)
