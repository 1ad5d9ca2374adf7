"""NETCONF round trips per second and sessions per second, against our server and a bare echo server.

ncclient polls its socket every 100 ms and would only measure itself, so this is a raw client: paramiko
for SSH and our own sans-IO ``ClientSession`` for framing. In the same run it measures a *framing-echo*
server built on the same SSH transport (``esc_netconf.ssh``) that answers every framed message with a
canned ``<rpc-reply>`` of the same shape, so the ratio shows what our NETCONF layers cost.

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/netconf_roundtrips.py [--seconds 6] [--rounds 6] [--pipeline 64]
    .venv/bin/python bench/netconf_roundtrips.py --latency 1500   # round-trip percentiles instead

It starts both servers itself on loopback with free ports and prints one table. Each measure alternates
between the two servers in ``--rounds`` slices (the client and both servers share one process, so a
slice of one server competes with nothing of the other), so a change of load on a shared machine hits
both alike; the ratio column is the mean of ours over the mean of the echo server, and the last column
the per-round ratios (lowest, median, highest). On a loaded machine the median is the steadier figure:
a round in which the scheduler preempts a thread holding the GIL loses milliseconds per round trip,
and the mean of rates follows those rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
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


def _rate_rpcs(client: RawClient, seconds: float, in_flight: int) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        client.round_trips(500, in_flight)
        done += 500
    return done / (time.perf_counter() - start)


def _rate_sessions(port: int, seconds: float) -> float:
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        RawClient(port).close()
        done += 1
    return done / (time.perf_counter() - start)


def measure(ports: dict[str, int], seconds: float, pipeline: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    """Rates per server and measure, in ``rounds`` alternating slices of ``seconds / rounds`` each, so a
    change of load on a shared machine hits both servers alike."""
    figures: dict[str, dict[str, list[float]]] = {name: {} for name in ports}
    slice_ = seconds / rounds
    clients = {name: RawClient(port) for name, port in ports.items()}
    for label, in_flight in (("sequential", 1), (f"pipelined x{pipeline}", pipeline)):
        for client in clients.values():
            client.round_trips(200, in_flight)  # warm-up
        for _ in range(rounds):
            for name, client in clients.items():
                figures[name].setdefault(label, []).append(_rate_rpcs(client, slice_, in_flight))
    for client in clients.values():
        client.close()
    for name, port in ports.items():
        _rate_sessions(port, min(slice_, 0.5))  # warm-up
    for _ in range(rounds):
        for name, port in ports.items():
            figures[name].setdefault("sessions", []).append(_rate_sessions(port, slice_))
    return figures


def measure_latency(ports: dict[str, int], per_round: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per sequential get-config round trip, one sample per round trip, the servers alternating
    in ``rounds`` slices: the percentiles show the typical round trip apart from the scheduler's stalls."""
    samples: dict[str, list[float]] = {name: [] for name in ports}
    clients = {name: RawClient(port) for name, port in ports.items()}
    for client in clients.values():
        client.round_trips(200, 1)  # warm-up
    for _ in range(rounds):
        for name, client in clients.items():
            for _ in range(per_round):
                start = time.perf_counter()
                client.round_trips(1, 1)
                samples[name].append(time.perf_counter() - start)
    for client in clients.values():
        client.close()
    return samples


def _print_latency(samples: dict[str, list[float]]) -> None:
    def cut(values: list[float], pct: int) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)] * 1e6

    print(f"{'sequential get-config':<22}{'p50 us':>10}{'p90 us':>10}{'p99 us':>10}")
    for name, values in samples.items():
        print(f"{name:<22}{cut(values, 50):>10.0f}{cut(values, 90):>10.0f}{cut(values, 99):>10.0f}")
    print(f"rate at the median round trip, ours as % of echo: {cut(samples['echo'], 50) / cut(samples['ours'], 50):.0%}")


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
    parser.add_argument("--seconds", type=float, default=6.0, help="per server and measure (default 6)")
    parser.add_argument("--rounds", type=int, default=6, help="alternating slices per measure (default 6)")
    parser.add_argument("--pipeline", type=int, default=64)
    parser.add_argument("--latency", type=int, default=0, metavar="N",
                        help="instead: N timed sequential get-configs per server and round, as percentiles")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        echo, echo_port = start_echo_server(Path(tmp) / "echo")
        (app, loop), port, _ = start_our_server(Path(tmp) / "ours")
        if args.latency:
            samples = measure_latency({"echo": echo_port, "ours": port}, args.latency, args.rounds)
        else:
            figures = measure({"echo": echo_port, "ours": port}, args.seconds, args.pipeline, args.rounds)
        echo.stop()
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(30)  # type: ignore[attr-defined]
        loop.call_soon_threadsafe(loop.stop)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.latency:
        _print_latency(samples)
        print(f"(cpus: {os.cpu_count()}, load average {load:.1f}, python {sys.version.split()[0]}, "
              f"paramiko {paramiko.__version__})")
        return
    print(f"{'measure':<22}{'echo server':>14}{'esc-netconf':>14}{'ratio':>8}{'per round (min/median/max)':>30}")
    for key, echo_rates in figures["echo"].items():
        ours_rates = figures["ours"][key]
        echo_mean, ours_mean = statistics.fmean(echo_rates), statistics.fmean(ours_rates)
        per_round = [o / e for o, e in zip(ours_rates, echo_rates)]
        spread = f"{min(per_round):.0%} / {statistics.median(per_round):.0%} / {max(per_round):.0%}"
        print(f"{key + '/s':<22}{echo_mean:>14.0f}{ours_mean:>14.0f}{ours_mean / echo_mean:>8.0%}{spread:>30}")
    print(f"(cpus: {os.cpu_count()}, load average {load:.1f}, python {sys.version.split()[0]}, "
          f"paramiko {paramiko.__version__})")


if __name__ == "__main__":
    main()
