"""NetconfConnection under a busy loop, without sockets: the hello timer judges when the client's hello
arrived, not when the loop got to it; a session's pipelined RPCs interleave with another session's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.connection import NetconfConnection
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.messages import NEED_DATA, RpcReply
from esc_netconf.netconf.server import NetconfServer
from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.netconf.persistence import MemoryConfigStore
from tests.unit.netconf.test_subscriptions import MemoryReplayLog

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
BASE_11 = ["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"]



class Pipe:
    """A ChannelWriter that hands the bytes to a client session."""

    def __init__(self) -> None:
        self.client = ClientSession()
        self.closed = threading.Event()
        self.replies: list[tuple[float, str | None]] = []
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            self.client.receive_data(data)
            while (event := self.client.next_event()) is not NEED_DATA:
                if isinstance(event, RpcReply):
                    self.replies.append((time.monotonic(), event.message_id))

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


def _server(model: YangModel, loop: asyncio.AbstractEventLoop) -> NetconfServer:
    hub = NotificationHub(MemoryReplayLog(), [StreamInfo("NETCONF", "d", True)], lambda: datetime.now(UTC), loop=loop)
    return NetconfServer(model, Datastore(model, MemoryConfigStore()), hub)


def _connect(server: NetconfServer, loop: asyncio.AbstractEventLoop, **kw: float) -> tuple[NetconfConnection, Pipe]:
    pipe = Pipe()
    connection = NetconfConnection(server, loop, pipe, "admin", "127.0.0.1", **kw)
    return connection, pipe


def test_hello_timer_does_not_drop_a_client_whose_hello_arrived_while_the_loop_was_busy(
    model: YangModel, loop: asyncio.AbstractEventLoop
) -> None:
    server = _server(model, loop)
    connection, pipe = _connect(server, loop, hello_timeout=0.3)
    loop.call_soon_threadsafe(time.sleep, 1.0)  # the server is busy for longer than the hello timeout
    connection.data_received(pipe.client.start(BASE_11))
    time.sleep(1.5)
    assert not pipe.closed.is_set()
    assert connection.context.established


def test_a_silent_client_is_still_dropped(model: YangModel, loop: asyncio.AbstractEventLoop) -> None:
    server = _server(model, loop)
    _, pipe = _connect(server, loop, hello_timeout=0.2)
    assert pipe.closed.wait(3)


def test_pipelined_rpcs_of_one_session_interleave_with_another_session(
    model: YangModel, loop: asyncio.AbstractEventLoop
) -> None:
    server = _server(model, loop)
    busy, busy_pipe = _connect(server, loop)
    other, other_pipe = _connect(server, loop)
    for connection, pipe in ((busy, busy_pipe), (other, other_pipe)):
        connection.data_received(pipe.client.start(BASE_11))

    async def slow(ctx: object, op: etree._Element) -> None:
        time.sleep(0.05)  # a handler that holds the loop for 50 ms

    server.register_rpc("{urn:test}slow", slow, validate_input=False)
    pipelined = b"".join(busy_pipe.client.rpc(b'<slow xmlns="urn:test"/>') for _ in range(16))
    feeder = threading.Thread(target=busy.data_received, args=(pipelined,))
    feeder.start()
    time.sleep(0.1)
    other.data_received(other_pipe.client.rpc(b'<slow xmlns="urn:test"/>'))
    deadline = time.monotonic() + 5
    while not other_pipe.replies and time.monotonic() < deadline:
        time.sleep(0.01)
    feeder.join(5)
    while len(busy_pipe.replies) < 16 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert other_pipe.replies, "the second session was never answered"
    answered = other_pipe.replies[0][0]
    ahead = sum(1 for moment, _ in busy_pipe.replies if moment < answered)
    assert ahead <= 4, f"{ahead} of the first session's 16 pipelined RPCs were served before the second's one"
