"""The NETCONF attacks of issue 11 at full size, against a live server on loopback: time to refuse,
what a second client waited meanwhile, and the server's memory ceiling (VmRSS from /proc).

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/hardening_attacks.py [--only NAME ...] [--slow-reader-seconds 20]

It starts ``esc-netconf serve`` itself (ports 0, a temporary data dir) and prints one line per attack.
Attacks: xpath, exslt, attributes, edit3000, edit10000, pipeline, slow-reader, partial, replay.
``replay`` fills the replay log of a fresh data dir with 10,000 events and starts its own server.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree  # noqa: E402

from esc_netconf.store import Database, SqlReplayLog  # noqa: E402
from esc_netconf.netconf.framing import Framing, encode_message  # noqa: E402
from tests.integration.hardening import BASE, Bystander, error_messages, error_tags, vm_rss_bytes  # noqa: E402
from tests.integration.raw_client import RawNetconf  # noqa: E402
from tests.integration.server_process import ServerProcess  # noqa: E402

ESC = "http://www.cisco.com/esc/esc"
GET = f'<get xmlns="{BASE}"/>'.encode()
NESTED_COUNT = "//*[count(//*[count(//*[count(//*[count(//*) > 0]) > 0]) > 0]) > 0]"
MiB = 2**20


def _get_xpath(select: str) -> bytes:
    return f'<get xmlns="{BASE}"><filter type="xpath" select="{select}"/></get>'.encode()


def _tenants_edit(first: int, count: int) -> bytes:
    tenants = "".join(f"<tenant><name>bench-{i:06d}</name></tenant>" for i in range(first, first + count))
    return (
        f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
        f'<esc_datamodel xmlns="{ESC}"><tenants>{tenants}</tenants></esc_datamodel></config></edit-config>'
    ).encode()


class Report:
    def __init__(self, server: ServerProcess) -> None:
        self.server = server

    def rss(self) -> float:
        return vm_rss_bytes(self.server.pid) / MiB

    def line(self, name: str, **figures: object) -> None:
        text = "  ".join(f"{k}={v}" for k, v in figures.items())
        print(f"{name:<12} {text}", flush=True)


def _one_rpc(report: Report, name: str, rpc: bytes) -> None:
    port = report.server.netconf_port
    client = RawNetconf(port)
    try:
        client.channel.settimeout(600)
        with Bystander(port) as bystander:
            start = time.monotonic()
            client.channel.sendall(client.session.rpc(rpc))
            reply = client.reply()
            took = time.monotonic() - start
        tags = error_tags(reply) or ["ok"]
        report.line(name, answer=",".join(tags), seconds=f"{took:.2f}", bystander_worst=f"{bystander.worst:.2f}s",
                    rss_mib=f"{report.rss():.0f}", message=error_messages(reply)[:90])
    finally:
        client.close()


def attack_xpath(report: Report) -> None:
    _one_rpc(report, "xpath", _get_xpath(NESTED_COUNT))


def attack_exslt(report: Report) -> None:
    _one_rpc(report, "exslt", _get_xpath("//*[re:test(name(), '(a|aa)+$')]"))


def attack_attributes(report: Report) -> None:
    port = report.server.netconf_port
    attributes = " ".join(f'a{i}="v"' for i in range(100_000))
    message = f'<rpc xmlns="{BASE}" message-id="1" {attributes}>{GET.decode()}</rpc>'.encode()
    client = RawNetconf(port)
    try:
        with Bystander(port) as bystander:
            start = time.monotonic()
            client.send_raw(encode_message(message, Framing.CHUNKED))
            reply = client.reply()
            took = time.monotonic() - start
        report.line("attributes", bytes=len(message), answer=",".join(error_tags(reply)), seconds=f"{took:.2f}",
                    bystander_worst=f"{bystander.worst:.2f}s", message=error_messages(reply)[:60])
    finally:
        client.close()


def attack_edit(count: int) -> Callable[[Report], None]:
    def run(report: Report) -> None:
        _one_rpc(report, f"edit{count}", _tenants_edit(count * 10, count))

    return run


def attack_pipeline(report: Report) -> None:
    """One session pipelines 100 <get/> and reads them; another asks one small thing meanwhile."""
    port = report.server.netconf_port
    client = RawNetconf(port)
    try:
        client.channel.settimeout(120)
        with Bystander(port) as bystander:
            start = time.monotonic()
            client.send_raw(b"".join(client.session.rpc(GET) for _ in range(100)))
            for _ in range(100):
                client.reply()
            took = time.monotonic() - start
        report.line("pipeline", gets=100, seconds=f"{took:.2f}", bystander_worst=f"{bystander.worst:.2f}s",
                    bystander_answers=len(bystander.times))
    finally:
        client.close()


def attack_slow_reader(report: Report, seconds: float) -> None:
    """Pipelines <get/> for ``seconds`` without reading a reply, then leaves."""
    port = report.server.netconf_port
    client = RawNetconf(port)
    before = peak = report.rss()
    sent = 0
    with Bystander(port) as bystander:
        batch = b"".join(client.session.rpc(GET) for _ in range(100))
        client.channel.settimeout(0.2)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                client.channel.sendall(batch)
                sent += 100
            except (socket.timeout, TimeoutError):
                pass
            peak = max(peak, report.rss())
        client.close()
        time.sleep(1.0)
        after = report.rss()
    observer = RawNetconf(port)
    try:
        stats = _get_xpath("netconf-state/statistics/in-rpcs")
        first = int(observer.call(stats).element.xpath("string(//*[local-name()='in-rpcs'])"))
        time.sleep(2.0)
        second = int(observer.call(stats).element.xpath("string(//*[local-name()='in-rpcs'])"))
    finally:
        observer.close()
    report.line("slow-reader", seconds=seconds, sent_rpcs=sent, rss_before_mib=f"{before:.0f}",
                rss_peak_mib=f"{peak:.0f}", rss_after_mib=f"{after:.0f}", rpcs_after_leaving=second - first - 1,
                bystander_worst=f"{bystander.worst:.2f}s")


def attack_partial(report: Report, sessions: int = 20, size: int = 60 * MiB) -> None:
    """``sessions`` sessions each send ``size`` bytes of one message that never ends."""
    port = report.server.netconf_port
    before = peak = report.rss()
    refused = 0
    lock = threading.Lock()

    def one() -> None:
        nonlocal refused
        client = RawNetconf(port)
        try:
            client.channel.settimeout(30)
            header = b"\n#%d\n" % (size + 10)
            client.channel.sendall(header)
            block = b"<a>" + b"x" * (MiB - 3)
            for _ in range(size // MiB):
                client.channel.sendall(block)
        except (OSError, EOFError, socket.timeout) :
            with lock:
                refused += 1
        finally:
            time.sleep(1.0)
            client.close()

    with Bystander(port) as bystander:
        threads = [threading.Thread(target=one) for _ in range(sessions)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, report.rss())
            time.sleep(0.1)
        time.sleep(1.0)
        after = report.rss()
    report.line("partial", sessions=sessions, each_mib=size // MiB, refused_sessions=refused,
                rss_before_mib=f"{before:.0f}", rss_peak_mib=f"{peak:.0f}", rss_after_mib=f"{after:.0f}",
                bystander_worst=f"{bystander.worst:.2f}s")


def attack_replay(subscribers: int = 40, events: int = 10_000) -> None:
    """``subscribers`` sessions each replay ``events`` stored events at once; a bystander is timed.

    The replay log is filled through the store before the server starts (publishing 10,000 events
    through NETCONF would take minutes), then the server runs as its own process as for the others.
    """
    from tests.integration.test_hardening_replay import _replay_all

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        data_dir.mkdir()
        database = Database.open(data_dir / "esc.db")
        log = SqlReplayLog(database)
        now = datetime.now(timezone.utc)
        for i in range(events):
            log.append("escEvent", now, etree.tostring(etree.Element("{urn:example}tick", n=str(i))))
        database.close()
        server = ServerProcess(data_dir).start()
        try:
            port = server.netconf_port
            counts: list[int] = []
            errors: list[BaseException] = []
            peak = before = vm_rss_bytes(server.pid) / MiB
            with Bystander(port) as connecting:  # the SSH handshakes first, measured apart
                clients = [RawNetconf(port) for _ in range(subscribers)]
            with Bystander(port) as bystander:
                started = time.monotonic()
                threads = [threading.Thread(target=_replay_all, args=(port, counts, errors, 600.0, client))
                           for client in clients]
                for thread in threads:
                    thread.start()
                while any(thread.is_alive() for thread in threads):
                    peak = max(peak, vm_rss_bytes(server.pid) / MiB)
                    time.sleep(0.1)
                took = time.monotonic() - started
            complete = sum(1 for count in counts if count == events)
            Report(server).line("replay", subscribers=subscribers, events_each=events, complete=complete,
                                seconds=f"{took:.2f}", bystander_worst=f"{bystander.worst:.2f}s",
                                bystander_worst_while_connecting=f"{connecting.worst:.2f}s",
                                rss_before_mib=f"{before:.0f}", rss_peak_mib=f"{peak:.0f}")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--slow-reader-seconds", type=float, default=20.0)
    args = parser.parse_args()
    attacks: dict[str, Callable[[Report], None]] = {
        "xpath": attack_xpath,
        "exslt": attack_exslt,
        "attributes": attack_attributes,
        "edit3000": attack_edit(3000),
        "edit10000": attack_edit(10000),
        "pipeline": attack_pipeline,
        "slow-reader": lambda report: attack_slow_reader(report, args.slow_reader_seconds),
        "partial": attack_partial,
    }
    if args.only is None or "replay" in args.only:
        attack_replay()
    if args.only is not None and not set(args.only) & set(attacks):
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = ServerProcess(Path(tmp) / "data", properties={"vim.sim.delay.scale": "0.02"}).start()
        try:
            report = Report(server)
            report.line("start", rss_mib=f"{report.rss():.0f}")
            for name, attack in attacks.items():
                if args.only is None or name in args.only:
                    attack(report)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
