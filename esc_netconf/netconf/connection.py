"""Glue between one transport channel and the server: bytes in, whole messages out.

Theory of operation
-------------------
The transport calls :meth:`NetconfConnection.data_received` on the connection's own thread. Bytes go
into the sans-IO :class:`ServerSession`; each complete ``<rpc>`` is handed to the asyncio loop with
``run_coroutine_threadsafe`` and the transport thread waits for it, so the RPCs of one session run one
after the other, in order, as RFC 6241 requires, while other sessions proceed in parallel.

Everything that leaves the server goes through one FIFO queue drained by one writer thread per session:
replies (enqueued on the loop right after their handler finishes) and notifications (enqueued on the loop
by the subscription). A single queue keeps the order the loop produced, and a single writer never
interleaves two messages. The queue is bounded: a subscriber that stops reading is dropped with a log line
instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from lxml import etree

from esc_netconf.netconf.context import SessionContext, TerminationReason
from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.messages import NEED_DATA, BadRpc, Closed, Hello, Rpc
from esc_netconf.netconf.session import ServerSession

if TYPE_CHECKING:
    from esc_netconf.netconf.server import NetconfServer

log = logging.getLogger("esc_netconf.netconf.connection")

MAX_QUEUED_MESSAGES = 50_000  # above a full replay (app.REPLAY_KEEP_LAST per stream)
HELLO_TIMEOUT_SECONDS = 60.0


class Writer(Protocol):
    """What the transport offers (``esc_netconf.ssh.ChannelWriter``)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class NetconfConnection:
    """A transport ``SessionHandler`` that speaks NETCONF through a :class:`NetconfServer`."""

    def __init__(
        self,
        server: NetconfServer,
        loop: asyncio.AbstractEventLoop,
        writer: Writer,
        username: str,
        source_host: str,
        *,
        hello_timeout: float | None = None,
    ) -> None:
        self._server = server
        self._loop = loop
        self._writer = writer
        self._lock = threading.Lock()
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._closing = threading.Event()
        self._ended = False
        session_id = server.allocate_session_id()
        self._session = ServerSession(session_id, server.capabilities(), max_message_size=server.max_message_size)
        self.context = SessionContext(session_id, username, source_host, self, server_counters=server.stats)
        self._log = logging.LoggerAdapter(log, {"session": session_id})
        self._writer_thread = threading.Thread(
            target=self._drain, name=f"netconf-writer-{session_id}", daemon=True
        )
        self._writer_thread.start()
        self.send_message(self._session.start)
        # a client that never says hello must not hold a session (and its threads) forever
        timeout = HELLO_TIMEOUT_SECONDS if hello_timeout is None else hello_timeout
        self._hello_timer = threading.Timer(timeout, self._hello_expired)
        self._hello_timer.daemon = True
        self._hello_timer.start()

    def _hello_expired(self) -> None:
        if not self.context.established:
            self._log.info("session %s: no hello within the time limit; closing", self.context.session_id)
            self.terminate(TerminationReason.BAD_HELLO)

    # -- the transport's side ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        with self._lock:
            self._session.receive_data(data)
        batch: list[Hello | Rpc | BadRpc] = []
        closed: Closed | None = None
        while True:
            with self._lock:
                event = self._session.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Closed):
                closed = event
                break
            batch.append(event)
        if batch:
            self._call(self._serve(batch))
        if closed is not None:
            self._log.info("session %s closed: %s", self.context.session_id, closed.reason)
            if closed.eof:
                self.terminate(TerminationReason.DROPPED)
            else:
                self.terminate(TerminationReason.OTHER if self.context.established else TerminationReason.BAD_HELLO)

    async def _serve(self, events: list[Hello | Rpc | BadRpc]) -> None:
        """Everything one read produced, in order, in one hop to the loop (pipelined RPCs cost one hop)."""
        for event in events:
            if self._closing.is_set():
                return
            if isinstance(event, Hello):
                self._hello_timer.cancel()
                await self._server.session_established(self.context, event.capabilities)
            elif isinstance(event, Rpc):
                await self._server.serve_rpc(self.context, event)
            else:
                await self._server.serve_bad_rpc(self.context, event)

    def connection_lost(self, reason: str | None) -> None:
        # the transport says "server shutdown" when we ended it; anything else is the peer or the network
        self.terminate(TerminationReason.OTHER if reason == "server shutdown" else TerminationReason.DROPPED)

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run handlers on the loop and wait for them: the RPCs of a session are serial."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            future.result()
        except Exception:  # a bug in a handler must not kill the transport thread silently
            self._log.exception("handler failed")
            self.terminate(TerminationReason.OTHER)

    # -- the loop's side (Outbound) --------------------------------------------------------------

    def reply(self, attributes: Mapping[str, str], body: list[etree._Element] | None) -> None:
        self.send_message(lambda: self._session.reply(attributes, body))

    def reply_error(self, attributes: Mapping[str, str], error: NetconfError) -> None:
        self.send_message(lambda: self._session.reply_error(attributes, error))

    def send_message(self, build: Callable[[], bytes]) -> None:
        if self._closing.is_set():
            return
        if self._queue.qsize() >= MAX_QUEUED_MESSAGES:
            self._log.warning("session %s is not reading; dropping it", self.context.session_id)
            self.terminate(TerminationReason.DROPPED)
            return
        with self._lock:
            data = build()
        self._queue.put(data)

    def notification_bytes(self, event_time: datetime, payload: etree._Element) -> bytes:
        return self._session.notification(event_time, payload)

    def close_after_reply(self) -> None:
        """``close-session``: the ``<ok/>`` is already queued; the writer closes after sending it."""
        self._closing.set()
        self._queue.put(None)
        self._end(TerminationReason.CLOSED)

    def terminate(self, reason: TerminationReason) -> None:
        if not self._closing.is_set():
            self._closing.set()
            self._queue.put(None)
        self._end(reason)

    def _end(self, reason: TerminationReason) -> None:
        self._hello_timer.cancel()
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if self._loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self._server.session_ended(self.context, reason), self._loop)
        except RuntimeError:  # loop already stopped: shutdown in progress
            pass

    def _drain(self) -> None:
        done = False
        while not done:
            parts = [self._queue.get()]
            while True:  # coalesce what is already queued into one write
                try:
                    parts.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            chunks: list[bytes] = []
            for part in parts:
                if part is None:  # the end mark: write what came before it, then close
                    done = True
                    break
                chunks.append(part)
            if not chunks:
                break
            try:
                self._writer.write(b"".join(chunks))
            except Exception as exc:  # the peer went away; the reader sees EOF too
                self._log.info("write failed: %s", exc)
                self._closing.set()
                break
        try:
            self._writer.close()
        except Exception:  # already closed by the peer
            pass
