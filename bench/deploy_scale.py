"""Deploy N deployments of M VMs through NETCONF, then read all opdata and watch the monitor's VIM calls.

The issue's figure: 200 deployments x 5 VMs with ``vim.sim.delay.scale=0``. The server runs in this process
(so the VIM call counter can be read); the client is a raw NETCONF client over SSH on loopback.

Usage::

    .venv/bin/python bench/deploy_scale.py [--deployments 200] [--vms 5] [--monitor-seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.netconf_roundtrips import RawClient  # noqa: E402
from esc_netconf.app import Application, Options  # noqa: E402
from esc_netconf.netconf.messages import RpcReply  # noqa: E402

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC = "http://www.cisco.com/esc/esc"


def deployment(tenant: str, name: str, vms: int) -> bytes:
    group = (
        f"<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>"
        f"<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
        f"<scaling><min_active>{vms}</min_active><max_active>{vms}</max_active></scaling></vm_group>"
    )
    return (
        f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
        f'<esc_datamodel xmlns="{ESC}"><tenants><tenant><name>{tenant}</name><deployments>'
        f"<deployment><name>{name}</name>{group}</deployment>"
        "</deployments></tenant></tenants></esc_datamodel></config></edit-config>"
    ).encode()


def call(client: RawClient, operation: bytes) -> RpcReply:
    client.channel.sendall(client.session.rpc(operation))
    reply = client._wait(RpcReply)
    assert isinstance(reply, RpcReply)
    return reply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--monitor-seconds", type=float, default=20.0)
    parser.add_argument("--monitor-interval", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "application.properties").write_text(
            f"vim.sim.delay.scale=0\nvim.monitor.poll.secs={args.monitor_interval}\n"
        )
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        app = Application(Options(netconf_port=0, rest_port=0, data_dir=data,
                                  properties=data / "application.properties"))
        asyncio.run_coroutine_threadsafe(app.start(), loop).result(60)
        client = RawClient(int(app.netconf_port or 0))
        driver = app.domain.driver

        start = time.perf_counter()
        for i in range(args.deployments):
            reply = call(client, deployment(f"tenant-{i % 10}", f"dep-{i}", args.vms))
            assert reply.ok, reply.element
        accepted = time.perf_counter() - start
        total = args.deployments * args.vms
        while True:
            states = [d.state.value for d in app.domain.core.deployments()]
            if states.count("SERVICE_ACTIVE_STATE") == args.deployments:
                break
            if "SERVICE_ERROR_STATE" in states:
                raise SystemExit("a deployment failed")
            time.sleep(0.2)
        deployed = time.perf_counter() - start

        get = f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata"/></get>'.encode()
        t0 = time.perf_counter()
        reply = call(client, get)
        get_seconds = time.perf_counter() - t0
        vm_count = reply.element.xpath("count(//e:vm_instance)", namespaces={"e": ESC})

        before = driver.calls.snapshot()
        time.sleep(args.monitor_seconds)
        after = driver.calls.snapshot()
        monitor_calls = sum(after.values()) - sum(before.values())
        per_vm_minute = monitor_calls / total / (args.monitor_seconds / 60)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

        client.close()
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)

    print(f"deployments x VMs             {args.deployments} x {args.vms} = {total} VMs")
    print(f"edit-configs accepted in      {accepted:.1f} s ({args.deployments / accepted:.0f}/s)")
    print(f"all SERVICE_ACTIVE after      {deployed:.1f} s ({total / deployed:.0f} VMs/s)")
    print(f"get of all opdata             {get_seconds * 1000:.0f} ms ({int(vm_count)} vm_instance)")
    print(f"peak RSS (server + client)    {peak_mb:.0f} MiB")
    print(f"monitoring VIM calls          {monitor_calls} in {args.monitor_seconds:.0f} s "
          f"= {per_vm_minute:.3f} per VM per minute (interval {args.monitor_interval} s, 10 tenants)")


if __name__ == "__main__":
    main()
