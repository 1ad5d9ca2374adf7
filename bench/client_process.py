"""A raw NETCONF client in a process of its own, for the benches that run the server in theirs.

Why: ``bench/deploy_scale.py`` runs the server in its own process so that it can probe the server's event
loop.  A client in that process competes with the server for the GIL (its SSH transport thread decrypting
replies, its main thread building requests), as no real client (NSO, an operator's script) does, and what
the probe then measures is partly the bench's own doing.  Here the client is a child process (``spawn``: no
copy of the server's threads and locks) that sends the operations it is handed one after the other, each
after the previous reply, and answers how long they took.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection

from lxml import etree

from bench.netconf_roundtrips import RawClient
from esc_netconf.netconf.messages import RpcReply

__all__ = ["ClientProcess", "RefusedOperation", "Sent", "call"]


def call(client: RawClient, operation: bytes) -> RpcReply:
    """Send one ``<rpc>`` body and wait for its reply."""
    client.channel.sendall(client.session.rpc(operation))
    reply = client._wait(RpcReply)
    assert isinstance(reply, RpcReply)
    return reply


@dataclass(frozen=True)
class Sent:
    """What sending a list of operations took: in all, and each one's round trip (seconds)."""

    elapsed: float
    each: list[float]

    @property
    def slowest(self) -> float:
        return max(self.each, default=0.0)


class RefusedOperation(Exception):
    """The server answered an operation with an ``<rpc-error>`` (its reply is the message)."""


def _serve(port: int, conn: Connection) -> None:
    client = RawClient(port)
    conn.send("ready")
    try:
        while (operations := conn.recv()) is not None:
            each: list[float] = []
            start = time.perf_counter()
            refused = None
            for operation in operations:
                sent = time.perf_counter()
                reply = call(client, operation)
                each.append(time.perf_counter() - sent)
                if not reply.ok:
                    refused = etree.tostring(reply.element, encoding="unicode")
                    break
            conn.send(("refused", refused) if refused is not None
                      else ("sent", time.perf_counter() - start, each))
    finally:
        client.close()


class ClientProcess:
    """One NETCONF session over SSH on loopback, held by a child process."""

    def __init__(self, port: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(port, child), name="netconf-client", daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(60) or self._conn.recv() != "ready":
            raise RuntimeError("the client process did not connect")

    def send(self, operations: list[bytes]) -> Sent:
        """Send ``operations`` in order, each after the previous reply.

        :raises RefusedOperation: one was answered with an rpc-error (those after it were not sent)."""
        self._conn.send(operations)
        answer = self._conn.recv()
        if answer[0] == "refused":
            raise RefusedOperation(answer[1])
        return Sent(answer[1], answer[2])

    def close(self) -> None:
        try:
            self._conn.send(None)
        except OSError:
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
