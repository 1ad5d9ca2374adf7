"""A byte-level NETCONF client for tests that must send what a well-behaved client never would."""

from __future__ import annotations

import contextlib
import socket
import time

import paramiko

from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.messages import NEED_DATA, Closed, Hello, Notification, RpcReply

BASE_10 = ["urn:ietf:params:netconf:base:1.0"]
BASE_11 = ["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"]


class RawNetconf:
    def __init__(self, port: int, *, capabilities: list[str] | None = None, username: str = "admin",
                 password: str = "admin") -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = paramiko.Transport(sock)
        self.transport.connect(username=username, password=password)
        self.channel = self.transport.open_session()
        self.channel.settimeout(10)
        self.channel.invoke_subsystem("netconf")
        self.session = ClientSession()
        self.channel.sendall(self.session.start(capabilities or BASE_11))
        hello = self.next_event()
        assert isinstance(hello, Hello), hello
        self.hello = hello

    def next_event(self, timeout: float = 10.0) -> object:
        deadline = time.monotonic() + timeout
        while True:
            event = self.session.next_event()
            if event is not NEED_DATA:
                return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no NETCONF message in time")
            own = self.channel.gettimeout()  # one recv must not outwait the caller's timeout
            self.channel.settimeout(remaining if own is None else min(own, remaining))
            try:
                data = self.channel.recv(1 << 16)
            except socket.timeout:
                continue
            finally:
                self.channel.settimeout(own)
            self.session.receive_data(data)
            if not data:
                return self.session.next_event()

    def call(self, operation: bytes) -> RpcReply:
        self.channel.sendall(self.session.rpc(operation))
        return self.reply()

    def reply(self) -> RpcReply:
        while True:
            event = self.next_event()
            if isinstance(event, RpcReply):
                return event
            if isinstance(event, Closed):
                raise EOFError(event.reason)

    def notification(self, timeout: float = 10.0) -> Notification:
        while True:
            event = self.next_event(timeout)
            if isinstance(event, Notification):
                return event
            if isinstance(event, Closed):
                raise EOFError(event.reason)

    def send_raw(self, data: bytes) -> None:
        self.channel.sendall(data)

    def close(self) -> None:
        """Close the channel and the connection; a server already gone (a test killed it) is closed too:
        telling it the channel closes then fails with EOFError, and there is nothing left to tell."""
        with contextlib.suppress(EOFError):
            self.channel.close()
        self.transport.close()
