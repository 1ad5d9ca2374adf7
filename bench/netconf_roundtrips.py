"""NETCONF round trips per second and sessions per second, against our server and a bare echo server.

ncclient polls its socket every 100 ms and would only measure itself, so this is a raw client: paramiko
for SSH and our own sans-IO ``ClientSession`` for framing. In the same run it measures a *framing-echo*
server built on the same SSH transport (``esc_netconf.ssh``) that answers every framed message with a
canned ``<rpc-reply>`` of the same shape, so the ratio shows what our NETCONF layers cost.

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/netconf_roundtrips.py [--seconds 3] [--pipeline 64]

It starts both servers itself on loopback with free ports and prints one table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import paramiko

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esc_netconf.netconf.client_session import ClientSession  # noqa: E402
from esc_netconf.netconf.framing import FrameDecoder, Framing, encode_message  # noqa: E402
from esc_netconf.netconf.messages import NEED_DATA, Hello, RpcReply  # noqa: E402
from esc_netconf.netconf.session import build_hello  # noqa: E402
from esc_netconf.ssh import ChannelWriter, PeerInfo, SshServer, load_or_create_host_keys  # noqa: E402
from esc_netconf.users import UserDB  # noqa: E402

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
GET_CONFIG = (
    f'<get-config xmlns="{BASE}"><source><running/></source></get-config>'.encode()
)


class EchoHandler:
    """Hello exchange, then one canned reply per framed message: the floor of any NETCONF server."""

    REPLY = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="1"><data/></rpc-reply>'
    )

    def __init__(self, writer: ChannelWriter, peer: PeerInfo) -> None:
        self._writer = writer
        self._decoder = FrameDecoder()
        self._hello_done = False
        writer.write(
            encode_message(
                build_hello(["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"], 1),
                Framing.EOM,
            )
        )

    def data_received(self, data: bytes) -> None:
        self._decoder.feed(data)
        while self._decoder.next_message() is not None:
            if not self._hello_done:
                self._hello_done = True
                self._decoder.framing = Framing.CHUNKED
                continue
            self._writer.write(encode_message(self.REPLY, Framing.CHUNKED))

    def connection_lost(self, reason: str | None) -> None:
        return None


class RawClient:
    def __init__(self, port: int) -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else each login pays a delayed ACK
        self.transport = paramiko.Transport(sock)
        self.transport.connect(username="admin", password="admin")
        self.channel = self.transport.open_session()
        self.channel.invoke_subsystem("netconf")
        self.session = ClientSession()
        self.channel.sendall(self.session.start())
        self._wait(Hello)

    def _wait(self, kind: type) -> object:
        while True:
            event = self.session.next_event()
            if event is NEED_DATA:
                data = self.channel.recv(1 << 20)
                if not data:
                    raise EOFError("server closed the session")
                self.session.receive_data(data)
                continue
            if isinstance(event, kind):
                return event

    def round_trips(self, count: int, in_flight: int) -> None:
        sent = received = 0
        while received < count:
            batch = b""
            while sent < count and sent - received < in_flight:
                batch += self.session.rpc(GET_CONFIG)
                sent += 1
            if batch:
                self.channel.sendall(batch)
            self._wait(RpcReply)
            received += 1

    def close(self) -> None:
        self.channel.close()
        self.transport.close()


def measure(port: int, seconds: float, pipeline: int) -> dict[str, float]:
    client = RawClient(port)
    results: dict[str, float] = {}
    for label, in_flight in (("sequential", 1), (f"pipelined x{pipeline}", pipeline)):
        client.round_trips(200, in_flight)  # warm-up
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            client.round_trips(500, in_flight)
            done += 500
        results[label] = done / (time.perf_counter() - start)
    client.close()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        RawClient(port).close()
        done += 1
    results["sessions"] = done / (time.perf_counter() - start)
    return results


def start_echo_server(data_dir: Path) -> tuple[SshServer, int]:
    server = SshServer("127.0.0.1", 0, load_or_create_host_keys(data_dir), UserDB.default_admin(), EchoHandler)
    return server, server.start()


def start_our_server(data_dir: Path) -> tuple[object, int, threading.Thread]:
    from esc_netconf.app import Application, Options

    loop = asyncio.new_event_loop()
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=data_dir))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(app.start(), loop).result(60)
    return (app, loop), int(app.netconf_port or 0), thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--pipeline", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        echo, echo_port = start_echo_server(Path(tmp) / "echo")
        echo_figures = measure(echo_port, args.seconds, args.pipeline)
        echo.stop()
        (app, loop), port, _ = start_our_server(Path(tmp) / "ours")
        ours = measure(port, args.seconds, args.pipeline)
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(30)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
    print(f"{'measure':<22}{'echo server':>14}{'esc-netconf':>14}{'ratio':>8}")
    for key in echo_figures:
        unit = "/s"
        print(f"{key + unit:<22}{echo_figures[key]:>14.0f}{ours[key]:>14.0f}{ours[key] / echo_figures[key]:>8.0%}")
    print(f"(cpus: {os.cpu_count()}, python {sys.version.split()[0]}, paramiko {paramiko.__version__})")


if __name__ == "__main__":
    main()
