"""Run one CPU-bound, read-only computation in a forked child, with a wall-time limit.

Why a process: libxml2 evaluates an XPath expression in C with the GIL released and cannot be
interrupted; a thread that runs away can be neither stopped nor charged, and nested ``count(//*)``
(a few hundred bytes) costs N^k node visits. A forked child sees the parent's memory as it was at
``fork()`` (copy-on-write: nothing is serialized, the document is not copied), computes, writes a
small byte string to a pipe and exits; when the limit passes, or the awaiting task is cancelled
(the client left), the child is killed with SIGKILL. The parent's event loop only waits on a pipe.

Rules for ``compute``: it must only read objects that exist at fork time and return ``bytes``;
it runs in a process where only the forking thread exists, so it must take no lock another thread
might have held (no logging, no I/O). Its address space may grow by at most ``CHILD_MEMORY_BYTES``.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
from collections.abc import Callable

from esc_netconf.errors import EscError

CHILD_MEMORY_BYTES = 1 << 30


class ForkedTimeout(EscError):
    """The child did not finish within its time limit and was killed."""


class ForkedFailure(EscError):
    """The child raised (the message is the exception's text) or died without an answer."""


_OK, _ERROR = b"K", b"E"


async def run_forked(compute: Callable[[], bytes], seconds: float) -> bytes:
    """``compute()`` in a forked child; its result, within ``seconds``.

    :raises ForkedTimeout: the limit passed (the child is killed).
    :raises ForkedFailure: ``compute`` raised, or the child died (e.g. over its memory limit).
    """
    loop = asyncio.get_running_loop()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns (coverage cannot see it)
        _child(compute, read_fd, write_fd)
    os.close(write_fd)
    os.set_blocking(read_fd, False)
    chunks: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            data = os.read(read_fd, 1 << 16)
        except BlockingIOError:
            return
        if data:
            chunks.append(data)
        elif not done.done():
            done.set_result(None)

    loop.add_reader(read_fd, readable)
    try:
        async with asyncio.timeout(seconds):
            await done
    except TimeoutError:
        raise ForkedTimeout(f"no result within {seconds:g} s") from None
    finally:
        loop.remove_reader(read_fd)
        os.close(read_fd)
        _reap(pid)
    payload = b"".join(chunks)
    if payload[:1] == _OK:
        return payload[1:]
    if payload[:1] == _ERROR:
        raise ForkedFailure(payload[1:].decode("utf-8", "replace"))
    raise ForkedFailure("the worker process died without an answer")


def _reap(pid: int) -> None:
    """Kill the child if it still runs (timeout, cancellation) and collect it; both are immediate."""
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        if finished:
            return
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _child(compute: Callable[[], bytes], read_fd: int, write_fd: int) -> None:  # pragma: no cover
    status = 0
    try:
        os.close(read_fd)
        # Inherited sockets would keep the parent's connections open (no FIN) while the child runs.
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        _limit_memory()
        try:
            payload = _OK + compute()
        except BaseException as exc:  # anything: the parent must get an answer, not a hang
            payload = _ERROR + f"{exc.__class__.__name__}: {exc}".encode("utf-8", "replace")[:2000]
        view = memoryview(payload)
        while view:
            written = os.write(write_fd, view)
            view = view[written:]
    except BaseException:
        status = 1
    finally:
        os._exit(status)  # no atexit handlers, no finalizers: they belong to the parent


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    try:
        with open("/proc/self/statm", "rb") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        resource.setrlimit(resource.RLIMIT_AS, (size + CHILD_MEMORY_BYTES, size + CHILD_MEMORY_BYTES))
    except (OSError, ValueError):
        pass
