"""Batched waiting for servers to reach a status.

Why: a deployment of N VMs must not cost N ``get_server`` calls per poll.  Every workflow that waits for a
server registers a waiter here; one loop lists the servers of each project that has waiters, once per
``interval``, and wakes the waiters whose server reached a wanted status (or vanished, or failed).  The loop
runs only while someone waits.  The waiters woken go on through the core's ``Pacer`` (a slice per loop
turn), and each project is listed and judged in a turn of its own, so a thousand servers becoming ACTIVE
at once never hold the loop.  The two outcomes besides success follow openstacksdk ``wait_for_status``:
the server went to a failure status (``ServerFailed``, with the VIM's fault) or time ran out
(``ServerWaitTimeout``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from esc_netconf.core.errors import VimOperationFailed
from esc_netconf.core.pacing import Pacer
from esc_netconf.vim.base import Server, ServerStatus, VimDriver, VimError

log = logging.getLogger(__name__)

#: Waiters a listing settles per loop turn: the tasks they wake all run in the next turn (a thousand of them,
#: only to queue in the pacer, made a turn of 20 ms).
SETTLE_SLICE = 100


class ServerFailed(VimOperationFailed):
    """The server reached a failure status (ERROR); the message is the VIM's fault when it gave one."""


class ServerWaitTimeout(VimOperationFailed):
    """The server did not reach the wanted status in time."""


@dataclass(eq=False)
class _Waiter:
    project_id: str
    server_id: str
    want: frozenset[ServerStatus]
    gone_ok: bool
    fail: frozenset[ServerStatus]
    future: asyncio.Future[Server | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class ServerPoller:
    """Waits for many servers with one ``list_servers`` call per project per interval."""

    def __init__(self, driver: VimDriver, interval: float, *, pacer: Pacer | None = None) -> None:
        """``pacer``: the waiters one listing settles go on a slice per loop turn (they may be thousands)."""
        self._driver = driver
        self._pacer = pacer
        self._interval = interval
        self._waiters: set[_Waiter] = set()
        self._task: asyncio.Task[None] | None = None

    async def wait(self, project_id: str, server_id: str, want: set[ServerStatus] | frozenset[ServerStatus],
                   *, timeout: float, gone_ok: bool = False,
                   fail: frozenset[ServerStatus] = frozenset({ServerStatus.ERROR}),
                   what: str = "server") -> Server | None:
        """The server once its status is in ``want`` (``None`` if it is gone and ``gone_ok``).

        :raises ServerFailed: it reached a status in ``fail``, or vanished without ``gone_ok``.
        :raises ServerWaitTimeout: ``timeout`` seconds passed first.
        """
        waiter = _Waiter(project_id, server_id, frozenset(want), gone_ok, fail)
        self._waiters.add(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="server-poller")
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that arrives as the server
            # settles, and the cancelled operation (e.g. a START an undeploy took over) would go on
            async with asyncio.timeout(timeout):
                server = await asyncio.shield(waiter.future)
        except TimeoutError:
            wanted = "deleted" if gone_ok and not want else "/".join(sorted(s.value for s in want))
            raise ServerWaitTimeout(f"The {what} did not become {wanted} within {timeout:g} seconds.") from None
        finally:
            self._waiters.discard(waiter)
        if self._pacer is not None:
            await self._pacer.turn()
        return server

    async def close(self) -> None:
        """Stop the loop (waiters still pending time out on their own)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self._waiters:
            await self._poll_once()
            if self._waiters:
                await asyncio.sleep(self._interval)

    async def _poll_once(self) -> None:
        for project_id in {w.project_id for w in self._waiters}:
            # Only the waiters that exist before the listing is asked for may be judged by it: a server
            # created while the call is in flight is not in its answer (a real VIM takes 0.1-0.8 s).
            asked = [w for w in self._waiters if w.project_id == project_id]
            try:
                servers = {s.id: s for s in await self._driver.list_servers(project_id)}
            except VimError as exc:
                log.warning("listing servers of project %s failed: %s", project_id, exc.message)
                continue
            for settled, waiter in enumerate(asked, 1):
                if not waiter.future.done():
                    _settle(waiter, servers.get(waiter.server_id))
                if settled % SETTLE_SLICE == 0:  # each waiter settled wakes a task: a slice of them per turn
                    await asyncio.sleep(0)
            # one project per loop turn: a listing of thousands of servers is work, and so is judging it
            await asyncio.sleep(0)


def _settle(waiter: _Waiter, server: Server | None) -> None:
    if server is None:
        if waiter.gone_ok:
            waiter.future.set_result(None)
        else:
            waiter.future.set_exception(ServerFailed("The server disappeared from the VIM."))
    elif server.task_state:  # the VIM is still working on it (e.g. powering-off, deleting)
        return
    elif server.status in waiter.want:
        waiter.future.set_result(server)
    elif server.status in waiter.fail:
        reason = server.fault or f"The server went to {server.status.value}."
        waiter.future.set_exception(ServerFailed(reason))
