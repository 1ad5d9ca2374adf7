"""Attacks on the server's edge, and the second client that measures whether others are still served.

Shared by the regression tests (``test_hardening_edge_*.py``, scaled down) and ``bench/edge_attacks.py``
(full size). Every function talks to loopback only, and every loop is bounded by a count or a deadline.
"""

from __future__ import annotations

import base64
import http.client
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import paramiko

from esc_netconf.netconf.client_session import ClientSession
from esc_netconf.netconf.messages import NEED_DATA, Closed, Hello, RpcReply

GET_CONFIG = b'<get-config><source><running/></source></get-config>'


def connect_from(port: int, source: str = "127.0.0.1", timeout: float = 10.0, host: str = "127.0.0.1") -> socket.socket:
    """A TCP connection to ``host:port`` from the loopback address ``source`` (127.0.0.2 is another peer)."""
    sock = socket.create_connection((host, port), timeout=timeout, source_address=(source, 0))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def silent_sockets(port: int, count: int, source: str = "127.0.0.1") -> list[socket.socket]:
    """``count`` connections that never send a byte (the attacker keeps them open)."""
    sockets = []
    for _ in range(count):
        sockets.append(connect_from(port, source))
    return sockets


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def netconf_get_config(port: int, *, source: str = "127.0.0.1", user: str = "admin", password: str = "admin",
                       timeout: float = 10.0) -> float:
    """Log in over SSH, exchange hellos, get the running config; returns the seconds it all took.

    :raises paramiko.AuthenticationException: the login was refused.
    :raises OSError, paramiko.SSHException, TimeoutError: no answer.
    """
    start = time.monotonic()
    transport = paramiko.Transport(connect_from(port, source, timeout))
    try:
        transport.start_client(timeout=timeout)
        transport.auth_password(user, password)
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.invoke_subsystem("netconf")
        session = ClientSession()
        channel.sendall(session.start(["urn:ietf:params:netconf:base:1.0", "urn:ietf:params:netconf:base:1.1"]))
        _next(channel, session, Hello, start + timeout)
        channel.sendall(session.rpc(GET_CONFIG))
        _next(channel, session, RpcReply, start + timeout)
        return time.monotonic() - start
    finally:
        transport.close()


def _next(channel: paramiko.Channel, session: ClientSession, kind: type, deadline: float) -> object:
    while time.monotonic() < deadline:
        event = session.next_event()
        if isinstance(event, kind):
            return event
        if isinstance(event, Closed):
            raise EOFError(event.reason)
        if event is NEED_DATA:
            data = channel.recv(1 << 16)
            session.receive_data(data)
    raise TimeoutError(f"no {kind.__name__} in time")


@dataclass
class HttpAnswer:
    status: int
    seconds: float
    headers: dict[str, str]
    body: bytes


def rest_request(port: int, path: str = "/ESCManager/v0/deployments", *, method: str = "GET",
                 source: str = "127.0.0.1", timeout: float = 10.0, auth: tuple[str, str] | None = None,
                 headers: dict[str, str] | None = None, body: bytes | None = None) -> HttpAnswer:
    """One HTTP request on a fresh connection from ``source``; returns the status and the seconds it took."""
    sent = {"Accept": "application/json", **(headers or {})}
    if auth is not None:
        sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    start = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        connection.request(method, path, body=body, headers=sent)
        answer = connection.getresponse()
        data = answer.read()
        return HttpAnswer(answer.status, time.monotonic() - start, dict(answer.getheaders()), data)
    finally:
        connection.close()


@dataclass
class ChannelFlood:
    opened: int = 0
    refused: int = 0


def open_channels(port: int, count: int, *, timeout: float = 10.0) -> ChannelFlood:
    """One logged-in connection asking for ``count`` session channels; counts what it got."""
    result = ChannelFlood()
    transport = paramiko.Transport(connect_from(port))
    try:
        transport.connect(username="admin", password="admin")
        for _ in range(count):
            try:
                transport.open_session(timeout=timeout)
                result.opened += 1
            except paramiko.ChannelException:
                result.refused += 1
    finally:
        transport.close()
    return result


@dataclass
class Guesses:
    attempts: int = 0
    refused_fast: int = 0
    elapsed: float = 0.0

    @property
    def rate(self) -> float:
        return self.attempts / self.elapsed if self.elapsed else 0.0


def guess_passwords(port: int, duration: float, *, threads: int = 4, source: str = "127.0.0.1") -> Guesses:
    """Wrong admin passwords over SSH from ``source`` for ``duration`` seconds, ``threads`` at a time."""
    result = Guesses()
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def guesser(n: int) -> None:
        attempt = 0
        while time.monotonic() < stop_at:
            try:
                transport = paramiko.Transport(connect_from(port, source))
            except OSError:
                time.sleep(0.05)
                continue
            try:
                transport.start_client(timeout=10)
                while time.monotonic() < stop_at and transport.is_active():
                    attempt += 1
                    began = time.monotonic()
                    try:
                        transport.auth_password("admin", f"guess-{n}-{attempt}")
                    except paramiko.AuthenticationException:
                        with lock:
                            result.attempts += 1
                            if time.monotonic() - began < 0.01:
                                result.refused_fast += 1
                    except (paramiko.SSHException, OSError, EOFError):
                        break
            except (paramiko.SSHException, OSError, EOFError):  # the server dropped this connection: next one
                continue
            finally:
                transport.close()

    workers = [threading.Thread(target=guesser, args=(n,), daemon=True) for n in range(threads)]
    start = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(duration + 30)
    result.elapsed = time.monotonic() - start
    return result


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")
