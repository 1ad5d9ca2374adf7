"""Glue between one transport channel and the server: bytes in, whole messages out, bounded both ways.

Theory of operation
-------------------
Three parties share a session, each on its own thread:

* the **transport thread** calls :meth:`NetconfConnection.data_received` with what the channel read.
  It feeds the sans-IO :class:`ServerSession`, which decodes and parses each message (the XML shape
  limits of ``xmlsafe`` apply there), and puts the events in the session's *inbox*. Then it returns
  and reads again, so it sees the client leave even while an RPC runs.
* the **event loop** runs one *worker task* per session that takes events from the inbox one at a
  time, in order (RFC 6241: the RPCs of a session are answered in order), and yields to the loop
  between two of them: the loop's FIFO ready queue then interleaves the sessions, so one session's
  100 pipelined ``<get/>`` cannot hold back another session's single RPC.
* the **writer thread** takes messages from the *outbox* (a FIFO: replies and notifications in the
  order the loop produced them), serializes them (a reply is queued as a closure, so a big reply is
  turned into bytes on the writer thread, not on the loop) and writes them to the channel. It starts
  with the first message the loop queues: the server's hello is written by the transport thread (it
  is the first message of the session), and so is the channel's close when nothing was ever queued.

Backpressure: ``data_received`` blocks, before it queues an event, while the inbox holds
``MAX_INBOX_EVENTS`` events, or while the outbox holds a reply not serialized yet or more than
``MAX_OUTBOX_BYTES`` not written. A blocked transport thread does not read the channel, so the
SSH window is not reopened and the client can send at most one window more: a client that pipelines
requests and does not read the replies stops itself. Notifications are queued by the loop, which must
never block: a subscriber whose outbox holds more than ``MAX_NOTIFICATION_BYTES`` (or
``MAX_QUEUED_MESSAGES`` messages) is dropped with a log line.

When the session ends (EOF, kill-session, a write failure, shutdown) the inbox is emptied and the
worker task is cancelled, which also stops the work of the RPC in progress (a filter evaluated in a
child process is killed).

Partial messages are bounded per session (``max_message_size`` in the frame decoder) and across all
sessions (:class:`PartialBuffers`): the session whose unfinished message would push the total over
the limit is closed.

The hello timer judges the client, not the server: it is a loop timer, but what it checks is a flag the
transport thread sets as soon as the client's hello has been decoded, however busy the loop is at that
moment.

Hot path: a read-only RPC whose reply the server keeps (``reply_cache``: a repeated ``get-config``) is
answered on the transport thread itself when the session has nothing in progress, which spares it the
two thread hops (to the loop and to the writer thread) that cost more than the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from lxml import etree

from esc_netconf.netconf.context import SessionContext, TerminationReason
from esc_netconf.netconf.errors import NetconfError
from esc_netconf.netconf.framing import PartialBuffers
from esc_netconf.netconf.messages import NEED_DATA, BadRpc, Closed, Hello, Rpc
from esc_netconf.netconf.session import SerializedBody, ServerSession

if TYPE_CHECKING:
    from esc_netconf.netconf.server import NetconfServer

log = logging.getLogger("esc_netconf.netconf.connection")

MAX_QUEUED_MESSAGES = 50_000  # notifications: above a full replay page backlog
MAX_NOTIFICATION_BYTES = 64 * 2**20
MAX_OUTBOX_BYTES = 4 * 2**20
MAX_INBOX_EVENTS = 16
HELLO_TIMEOUT_SECONDS = 60.0
_TRIM_AFTER_BYTES = 8 * 2**20

Event = Hello | Rpc | BadRpc


class Writer(Protocol):
    """What the transport offers (``esc_netconf.ssh.ChannelWriter``)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...


class _Outbox:
    """The FIFO between the loop and the writer thread, with the accounting backpressure needs."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.items: deque[Callable[[], bytes] | None] = deque()
        self.unbuilt_replies = 0
        self.unwritten_bytes = 0
        self.in_flight = False  # the writer thread took messages it has not written yet
        self.closed = False

    def has_room(self) -> bool:
        return self.closed or (self.unbuilt_replies == 0 and self.unwritten_bytes <= MAX_OUTBOX_BYTES)


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
        self._outbox = _Outbox()
        self._inbox: deque[Event] = deque()
        self._inbox_cond = threading.Condition()
        self._worker_running = False  # a worker task is scheduled or running (guarded by _inbox_cond)
        self._worker: asyncio.Task[None] | None = None
        self._closing = threading.Event()
        self._ended = False
        self._hello_seen = False
        self._eof = False  # the transport reached end of file (guarded by _inbox_cond)
        self._peak_partial = 0
        self._reported_partial = 0  # what this session last reported to the PartialBuffers
        session_id = server.allocate_session_id()
        self._session = ServerSession(session_id, server.capabilities(), max_message_size=server.max_message_size)
        self._partials: PartialBuffers = server.partial_buffers
        self.context = SessionContext(session_id, username, source_host, self, server_counters=server.stats)
        self._log = logging.LoggerAdapter(log, {"session": session_id})
        # started with the first message the loop queues: our hello, the end of a session that is only a
        # hello exchange, and replies from the cache are written on the transport thread
        self._writer_thread: threading.Thread | None = None
        # a client that never says hello must not hold a session (and its threads) forever: a loop
        # timer (a thread of its own per session would cost more than the rest of the session set-up)
        self._hello_timeout = HELLO_TIMEOUT_SECONDS if hello_timeout is None else hello_timeout
        self._hello_timer: asyncio.TimerHandle | None = None
        try:
            loop.call_soon_threadsafe(self._arm_hello_timer)
        except RuntimeError:  # loop closed: shutdown in progress
            pass
        self._write_now(self._session.start())

    def _write_now(self, data: bytes) -> None:
        """Write on the calling (transport) thread; only when nothing queued can be overtaken."""
        try:
            self._writer.write(data)
        except Exception as exc:  # the peer went away, as in _drain
            self._log.info("write failed: %s", exc)
            self._stop_reading()
            self._end(TerminationReason.DROPPED)

    def _arm_hello_timer(self) -> None:
        if not self._hello_seen and not self._ended:
            self._hello_timer = self._loop.call_later(self._hello_timeout, self._hello_expired)

    def _cancel_hello_timer(self) -> None:
        """Loop thread only."""
        if self._hello_timer is not None:
            self._hello_timer.cancel()
            self._hello_timer = None

    def _hello_expired(self) -> None:
        self._hello_timer = None
        if not self._hello_seen:  # set on the transport thread: a busy loop does not make a hello late
            self._log.info("session %s: no hello within the time limit; closing", self.context.session_id)
            self.terminate(TerminationReason.BAD_HELLO)

    # -- the transport's side ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        with self._lock:
            self._session.receive_data(data)
        while not self._closing.is_set():
            with self._lock:
                event = self._session.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, Closed):
                self._closed(event)
                return
            if isinstance(event, Hello):
                self._hello_seen = True  # judged on arrival, however busy the loop is
            elif isinstance(event, Rpc) and self._answer_from_cache(event):
                continue
            self._wait_for_room()
            self._submit(event)
        self._account_partial()

    def _closed(self, closed: Closed) -> None:
        self._log.info("session %s closed: %s", self.context.session_id, closed.reason)
        if closed.eof:
            self.terminate(TerminationReason.DROPPED)
        else:
            self.terminate(TerminationReason.OTHER if self._hello_seen else TerminationReason.BAD_HELLO)

    def _account_partial(self) -> None:
        with self._lock:
            held = self._session.buffered_bytes
        if held == 0 and self._reported_partial == 0 and not self._ended:
            return  # the common case (whole messages): nothing to report, no shared lock to take
        self._reported_partial = held
        self._peak_partial = max(self._peak_partial, held)
        within = self._partials.update(self.context.session_id, held)
        if self._ended:  # _end released this session's share meanwhile: do not hold it again
            self._partials.release(self.context.session_id)
        elif not within:
            self._log.warning(
                "session %s: %d bytes of partial messages would take all sessions over %d; closing it",
                self.context.session_id, held, self._partials.limit,
            )
            self.terminate(TerminationReason.OTHER)

    def _wait_for_room(self) -> None:
        """Backpressure: hold the transport thread (and so the channel) while this session is behind."""
        with self._outbox.cond:
            self._outbox.cond.wait_for(
                lambda: self._outbox.has_room() or self._closing.is_set()
            )
        with self._inbox_cond:
            self._inbox_cond.wait_for(lambda: len(self._inbox) < MAX_INBOX_EVENTS or self._closing.is_set())

    def _answer_from_cache(self, rpc: Rpc) -> bool:
        """Answer a read-only RPC here, on the transport thread, when the server has its reply at hand
        (``reply_cache``) and the session has nothing in progress: no RPC queued or running, nothing
        queued or being written. Then the reply is the next one the client would get anyway (RFC 6241:
        in order), and it costs neither the hop to the loop nor the one to the writer thread."""
        body = self._server.cached_answer(rpc.operation)
        if body is None:
            return False
        with self._inbox_cond:
            if self._inbox or self._worker_running or self._closing.is_set():
                return False
        with self._outbox.cond:
            if self._outbox.items or self._outbox.in_flight:
                return False
        self._server.count_rpc(self.context)
        with self._lock:
            data = self._session.reply_serialized(rpc.attributes, body)
        self._write_now(data)
        return True

    def _submit(self, event: Event) -> None:
        with self._inbox_cond:
            if self._closing.is_set():
                return
            self._inbox.append(event)
            start = not self._worker_running
            self._worker_running = True
        if start:
            try:
                self._loop.call_soon_threadsafe(self._start_worker)
            except RuntimeError:  # loop closed: shutdown in progress
                pass

    def _start_worker(self) -> None:
        self._worker = self._loop.create_task(self._work(), name=f"netconf-session-{self.context.session_id}")

    async def _work(self) -> None:
        """The session's RPCs, one at a time, yielding to the other sessions between two of them."""
        try:
            while True:
                with self._inbox_cond:
                    if not self._inbox or self._closing.is_set():
                        self._worker_running = False
                        eof = self._eof
                        break
                    event = self._inbox.popleft()
                    self._inbox_cond.notify_all()
                await self._serve(event)
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug in a handler must not leave the session hanging silently
            self._log.exception("handler failed")
            self.terminate(TerminationReason.OTHER)
            return
        if eof:  # the client sent EOF while its RPCs were being answered: they are, now end
            self.terminate(TerminationReason.DROPPED)

    async def _serve(self, event: Event) -> None:
        if isinstance(event, Hello):
            self._cancel_hello_timer()
            await self._server.session_established(self.context, event.capabilities)
        elif isinstance(event, Rpc):
            await self._server.serve_rpc(self.context, event)
        else:
            await self._server.serve_bad_rpc(self.context, event)

    def connection_lost(self, reason: str | None) -> None:
        """A clean end of file (``ssh -s netconf < rpcs.xml``) still gets the replies to what was sent
        before it: the worker ends the session when the inbox is empty. Any other end stops the work."""
        if reason is None:
            with self._inbox_cond:
                self._eof = True
                busy = self._worker_running
            if busy:
                return
        # the transport says "server shutdown" when we ended it; anything else is the peer or the network
        self.terminate(TerminationReason.OTHER if reason == "server shutdown" else TerminationReason.DROPPED)

    # -- the loop's side (Outbound) --------------------------------------------------------------

    def reply(self, attributes: Mapping[str, str], body: list[etree._Element] | SerializedBody | None) -> None:
        if isinstance(body, SerializedBody):
            serialized = body
            self._enqueue(lambda: self._build(lambda: self._session.reply_serialized(attributes, serialized)),
                          notification=False)
            return
        self._enqueue(lambda: self._build(lambda: self._session.reply(attributes, body)), notification=False)

    def reply_error(self, attributes: Mapping[str, str], error: NetconfError) -> None:
        self._enqueue(lambda: self._build(lambda: self._session.reply_error(attributes, error)),
                      notification=False)

    def send_message(self, build: Callable[[], bytes]) -> None:
        self._enqueue(lambda: self._build(build), notification=True)

    def _build(self, build: Callable[[], bytes]) -> bytes:
        with self._lock:
            return build()

    def _enqueue(self, item: bytes | Callable[[], bytes], *, notification: bool) -> None:
        outbox = self._outbox
        with outbox.cond:
            if self._closing.is_set():
                return
            if notification and (
                len(outbox.items) >= MAX_QUEUED_MESSAGES or outbox.unwritten_bytes > MAX_NOTIFICATION_BYTES
            ):
                overflow = True
            else:
                overflow = False
                if isinstance(item, bytes):
                    data = item
                    outbox.items.append(lambda: data)
                elif notification:
                    outbox.items.append(item)
                else:
                    outbox.unbuilt_replies += 1
                    outbox.items.append(_Reply(item))
                outbox.cond.notify_all()
                if self._writer_thread is None:
                    self._writer_thread = threading.Thread(
                        target=self._drain, name=f"netconf-writer-{self.context.session_id}", daemon=True
                    )
                    self._writer_thread.start()
        if overflow:
            self._log.warning("session %s is not reading its notifications; dropping it", self.context.session_id)
            self.terminate(TerminationReason.DROPPED)

    def notification_bytes(self, event_time: datetime, payload: etree._Element) -> bytes:
        return self._session.notification(event_time, payload)

    def close_after_reply(self) -> None:
        """``close-session``: the ``<ok/>`` is already queued; the writer closes after sending it."""
        self._stop_reading()
        self._finish_writes()
        self._end(TerminationReason.CLOSED)

    def terminate(self, reason: TerminationReason) -> None:
        if self._stop_reading():
            self._finish_writes()
        self._end(reason)

    def _finish_writes(self) -> None:
        """The end mark: the writer thread writes what is queued, then closes the channel; a session
        whose writer thread never started has nothing queued, so it closes the channel here."""
        outbox = self._outbox
        with outbox.cond:
            if self._writer_thread is not None:
                outbox.items.append(None)
                outbox.cond.notify_all()
                return
            outbox.closed = True
            outbox.cond.notify_all()
        self._close_channel()

    def _stop_reading(self) -> bool:
        """Mark the session closing, drop the RPCs not started, cancel the one in progress."""
        with self._inbox_cond:
            first = not self._closing.is_set()
            self._closing.set()
            self._inbox.clear()
            self._inbox_cond.notify_all()
            worker = self._worker
        with self._outbox.cond:
            self._outbox.cond.notify_all()
        if worker is not None and not worker.done():
            if _on_loop(self._loop):
                if asyncio.current_task() is not worker:  # close-session runs inside the worker
                    worker.cancel()
            elif not self._loop.is_closed():
                try:
                    self._loop.call_soon_threadsafe(worker.cancel)
                except RuntimeError:
                    pass
        return first

    def _end(self, reason: TerminationReason) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
            self._session.discard_input()  # a partial message will never complete now
        self._partials.release(self.context.session_id)
        if self._peak_partial >= _TRIM_AFTER_BYTES:
            _return_free_memory()
        if self._loop.is_closed():
            return
        try:  # a callback, not a coroutine: a loop closing first then drops it without a never-awaited warning
            self._loop.call_soon_threadsafe(self._ended_on_loop, reason)
        except RuntimeError:  # loop already stopped: shutdown in progress
            pass

    def _ended_on_loop(self, reason: TerminationReason) -> None:
        self._cancel_hello_timer()
        self._server.session_ended(self.context, reason)

    def _drain(self) -> None:
        outbox = self._outbox
        done = False
        while not done:
            with outbox.cond:
                outbox.cond.wait_for(lambda: bool(outbox.items))
                parts = list(outbox.items)
                outbox.items.clear()
                outbox.in_flight = True
            chunks: list[bytes] = []
            for part in parts:
                if part is None:  # the end mark: write what came before it, then close
                    done = True
                    break
                try:
                    data = part()
                except Exception:  # a message that cannot be built must not kill the writer
                    self._log.exception("could not serialize an outgoing message")
                    data = b""
                chunks.append(data)
                with outbox.cond:
                    outbox.unwritten_bytes += len(data)
                    if isinstance(part, _Reply):
                        outbox.unbuilt_replies -= 1
                    outbox.cond.notify_all()
            if not chunks:
                break
            payload = b"".join(chunks)
            try:
                self._writer.write(payload)
            except Exception as exc:  # the peer went away: stop its work now, not when the reader notices
                self._log.info("write failed: %s", exc)
                self._stop_reading()
                self._end(TerminationReason.DROPPED)
                break
            finally:
                with outbox.cond:
                    outbox.unwritten_bytes -= len(payload)
                    outbox.in_flight = False
                    outbox.cond.notify_all()
        with outbox.cond:
            outbox.closed = True
            outbox.in_flight = False
            outbox.cond.notify_all()
        self._close_channel()

    def _close_channel(self) -> None:
        with contextlib.suppress(Exception):  # already closed by the peer
            self._writer.close()


class _Reply:
    """A queued reply, built on the writer thread; counted so the reader waits until it is built."""

    __slots__ = ("_build",)

    def __init__(self, build: Callable[[], bytes]) -> None:
        self._build = build

    def __call__(self) -> bytes:
        return self._build()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _return_free_memory() -> None:
    """Give freed heap back to the system after a session that buffered a large partial message.

    glibc keeps freed memory in its arenas (one per transport thread), so 20 sessions that each held
    60 MB left the process 1.5 GB larger for good; ``malloc_trim`` releases the free pages. Elsewhere
    (musl, macOS) this is a no-op.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
