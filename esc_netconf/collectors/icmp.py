"""The ``ICMPPing`` collector: real ICMP echo requests to many addresses over one socket.

One batch is one socket: every address gets one echo request (its sequence number is its place in the
batch), and the replies are matched by sequence number and source address until all answered or the
timeout passed.  The socket is an unprivileged ICMP datagram socket where the kernel allows it
(``net.ipv4.ping_group_range`` holds the process's group), else a raw socket (root or CAP_NET_RAW).
IPv4 only: an IPv6 address is reported as not answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
from collections.abc import Sequence

from esc_netconf.core.collectors import Metric, Probe, Reading

_ECHO_REQUEST, _ECHO_REPLY = 8, 0
#: Sequence numbers are 16 bits: larger batches are sent in chunks of this many addresses.
CHUNK = 60000
#: Requests sent before the replies already queued are read (keeps the receive buffer from overflowing).
BURST = 128
_RCVBUF = 4 * 1024 * 1024


class IcmpUnavailable(OSError):
    """Neither an ICMP datagram socket nor a raw socket may be opened by this process."""


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def _echo(ident: int, seq: int) -> bytes:
    payload = b"esc-netconf-kpi"
    header = struct.pack("!BBHHH", _ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", _ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


def open_socket() -> tuple[socket.socket, bool]:
    """A non-blocking ICMP socket and whether it is raw (replies then carry the IP header).

    :raises IcmpUnavailable: the kernel refuses both kinds.
    """
    for kind, raw in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            sock = socket.socket(socket.AF_INET, kind, socket.IPPROTO_ICMP)
        except PermissionError:
            continue
        sock.setblocking(False)
        # a batch's replies arrive together (a raw socket also sees every echo request on loopback)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        return sock, raw
    raise IcmpUnavailable("ICMP needs net.ipv4.ping_group_range to include this process's group, or CAP_NET_RAW")


async def ping_many(addresses: Sequence[str], timeout: float) -> set[str]:
    """The addresses (IPv4) that answered one echo request within ``timeout`` seconds."""
    answered: set[str] = set()
    v4 = [a for a in dict.fromkeys(addresses) if _is_v4(a)]
    for start in range(0, len(v4), CHUNK):
        answered |= await _ping_chunk(v4[start:start + CHUNK], timeout)
    return answered


def _is_v4(address: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(address), ipaddress.IPv4Address)
    except ValueError:
        return False


async def _ping_chunk(addresses: list[str], timeout: float) -> set[str]:
    sock, raw = open_socket()
    loop = asyncio.get_running_loop()
    ident = os.getpid() & 0xFFFF
    pending = {seq: address for seq, address in enumerate(addresses)}
    answered: set[str] = set()
    done = loop.create_future()

    def readable() -> None:
        while True:
            try:
                data, (source, _) = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if raw:
                data = data[(data[0] & 0x0F) * 4:]
            if len(data) < 8:
                continue
            kind, _, _, reply_ident, seq = struct.unpack("!BBHHH", data[:8])
            # a datagram socket's identifier is chosen by the kernel, which delivers only our replies
            if kind != _ECHO_REPLY or (raw and reply_ident != ident) or pending.get(seq) != source:
                continue
            answered.add(pending.pop(seq))
            if not pending and not done.done():
                done.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        for seq, address in enumerate(addresses):
            try:
                sock.sendto(_echo(ident, seq), (address, 0))
            except OSError:  # unreachable from here: it does not answer
                pending.pop(seq, None)
            if seq % BURST == BURST - 1:
                await asyncio.sleep(0)  # let the reader drain the replies of this burst
        if pending:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # not wait_for: it can lose a cancel on 3.11
                    await done
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()
    return answered


class IcmpCollector:
    """Reads ``Metric.PING`` for real; other metrics need a guest agent this collector does not speak to."""

    def __init__(self, timeout: float = 1.0) -> None:
        self._timeout = timeout

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        if metric is not Metric.PING:
            return [None] * len(probes)
        answered = await ping_many([p.address for p in probes if p.address], self._timeout)
        return [None if p.address is None else p.address in answered for p in probes]
