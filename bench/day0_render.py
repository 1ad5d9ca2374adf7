"""What day-0 costs: rendering alone, and one deployment of N VMs with and without day-0 configuration.

The core runs in this process over the simulated cloud (``delay_scale=0``) and the in-memory store, so the
figure is the core's own work (pool allocation, one ``get_network`` per interface network, rendering, the
boot data kept by the sim), not the VIM's.  The template is ~4 KiB with 60 references.

Usage::

    .venv/bin/python bench/day0_render.py [--vms 200]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esc_netconf.core.context import CoreSettings  # noqa: E402
from esc_netconf.core.day0.template import render  # noqa: E402
from esc_netconf.core.events import EventBus  # noqa: E402
from esc_netconf.core.lifecycle import EscCore  # noqa: E402
from esc_netconf.core.memory_store import MemoryStore  # noqa: E402
from esc_netconf.core.model import (Day0Configuration, Day0Variable, DeploymentSpec, InterfaceSpec,  # noqa: E402
                                    IpPool, ScalingSpec, VmGroupSpec)
from esc_netconf.vim.sim import SimCloud, SimSettings  # noqa: E402

LINE = "interface Gi${N} ip ${NICID_0_IP_ADDRESS} ${NICID_0_NETMASK} gw $NICID_0_GATEWAY host $HOSTNAME\n"
TEMPLATE = "! day-0\n" + "".join(LINE.replace("${N}", str(i)) for i in range(15)) + "x" * 2500 + "\n"


def spec(vms: int, day0: bool) -> DeploymentSpec:
    addresses = tuple(f"10.10.{1 + i // 250}.{1 + i % 250}" for i in range(vms))
    config = (Day0Configuration("iosxe_config.txt", data=TEMPLATE, variables=(
        Day0Variable("HOSTNAME", tuple(f"vnf-{i}" for i in range(vms))),)),) if day0 else ()
    group = VmGroupSpec("g", "cirros", "m1.tiny", interfaces=(InterfaceSpec(0, "net-mgmt"),),
                        scaling=ScalingSpec(vms, vms, True, (IpPool("net-mgmt", "10.10.0.1", "255.255.0.0", addresses),)),
                        config_data=config)
    return DeploymentSpec("bench", (group,))


async def deploy(vms: int, day0: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        sim = SimCloud(Path(tmp) / "sim", lambda: SimSettings(delay_scale=0.0))
        core = EscCore(sim, MemoryStore(), EventBus(), settings=CoreSettings(poll_interval=0.01, monitor_interval=60))
        await core.start()
        started = time.perf_counter()
        core.apply_update("t", None, spec(vms, day0))
        await core.wait_idle(600)
        elapsed = time.perf_counter() - started
        await core.stop()
        await sim.close()
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=200)
    args = parser.parse_args()
    values = {"NICID_0_IP_ADDRESS": "10.10.0.5", "NICID_0_NETMASK": "255.255.0.0", "NICID_0_GATEWAY": "10.10.0.1",
              "HOSTNAME": "vnf-1"}
    rounds = 2000
    started = time.perf_counter()
    for _ in range(rounds):
        render(TEMPLATE, values)
    per_render = (time.perf_counter() - started) / rounds
    print(f"render: {len(TEMPLATE)} bytes, 60 references: {per_render * 1e6:.0f} us per VM")
    plain = asyncio.run(deploy(args.vms, False))
    with_day0 = asyncio.run(deploy(args.vms, True))
    print(f"deploy {args.vms} VMs (sim delay 0): {plain:.2f} s without day-0, {with_day0:.2f} s with day-0 "
          f"({(with_day0 - plain) / args.vms * 1e3:.2f} ms per VM)")


if __name__ == "__main__":
    main()
