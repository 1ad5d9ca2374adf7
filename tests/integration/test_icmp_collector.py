"""The real ICMPPing collector sends echo requests: answered on loopback, a timeout where nothing answers.

Nothing leaves the machine: 127.0.0.1 answers on loopback; the address that does not answer is routed into
the loopback of a network namespace made for the test (``unshare -n``), where the kernel drops it, so the
collector's timeout is exercised for real.  The datagram-socket path is tested in a namespace whose
``net.ipv4.ping_group_range`` admits the process's group; the raw path needs CAP_NET_RAW.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from esc_netconf.collectors.icmp import IcmpCollector, IcmpUnavailable, open_socket, ping_many
from esc_netconf.core.collectors import Metric, Probe

SILENT = "10.99.0.2"
PROBE_SCRIPT = f"""
import asyncio, json, time
from esc_netconf.collectors.icmp import open_socket, ping_many
sock, raw = open_socket(); sock.close()
start = time.monotonic()
answered = asyncio.run(ping_many(["127.0.0.1", "{SILENT}"], 1.0))
print(json.dumps({{"raw": raw, "answered": sorted(answered), "seconds": time.monotonic() - start}}))
"""


def _icmp_available() -> bool:
    try:
        sock, _ = open_socket()
    except IcmpUnavailable:
        return False
    sock.close()
    return True


@pytest.mark.skipif(not _icmp_available(), reason="this process may open neither an ICMP datagram nor a raw socket")
def test_loopback_answers_and_other_metrics_are_not_read() -> None:
    collector = IcmpCollector(timeout=2.0)
    probes = [Probe("a", "s", "127.0.0.1"), Probe("b", "s", None), Probe("c", "s", "::1")]
    assert asyncio.run(collector.collect(Metric.PING, probes)) == [True, None, False]  # IPv6: not spoken
    assert asyncio.run(collector.collect(Metric.CPU, probes[:1])) == [None]


def _in_namespace(setup: str) -> dict[str, object]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare and ip (util-linux, iproute2) are needed for a private network namespace")
    script = (f"ip link set lo up && ip route add {SILENT.rsplit('.', 1)[0]}.0/24 dev lo && {setup}"
              f"exec {sys.executable} -c '{PROBE_SCRIPT}'")
    result = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    if result.returncode != 0 and ("Operation not permitted" in result.stderr or "unshare failed" in result.stderr):
        pytest.skip(f"no private network namespace here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    out: dict[str, object] = json.loads(result.stdout)
    return out


@pytest.mark.parametrize("kind", ["datagram", "raw"])
def test_an_address_that_does_not_answer_times_out(kind: str) -> None:
    # ping_group_range is per namespace: "0 2147483647" admits every group (datagram), "1 0" none (raw)
    groups = "0 2147483647" if kind == "datagram" else "1 0"
    started = time.monotonic()
    result = _in_namespace(f"echo '{groups}' > /proc/sys/net/ipv4/ping_group_range && ")
    assert result["raw"] is (kind == "raw")
    assert result["answered"] == ["127.0.0.1"]
    assert 0.9 <= float(result["seconds"]) < 3.0  # waited for the silent address, then gave up
    assert time.monotonic() - started < 20


def test_many_loopback_addresses_in_one_batch() -> None:
    if not _icmp_available():
        pytest.skip("this process may open neither an ICMP datagram nor a raw socket")
    addresses = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(500)]
    assert asyncio.run(ping_many(addresses, 2.0)) == set(addresses)
