"""edit-config latency against how much is stored: p50/p95 of one-deployment edits at each size, and the
event loop's longest stall meanwhile.

For each size N the server starts fresh (in this process, sim VIM with ``vim.sim.delay.scale=0``); N
deployments of ``--vms`` VMs are created through NETCONF in batches of ``--batch`` per edit-config and
deployed; then ``--edits`` edit-configs each create one more one-VM deployment, one at a time, from a
raw NETCONF client over SSH on loopback, and their round trips are timed; then, once the server is quiet
(under 10% of a core over half a second: the deploy's last commits and events are stored), as many again
(the "once settled" p50: what an edit costs at that size alone, where the first figure also meets the end
of the deploy's work). A task on the server's loop
sleeps 5 ms in a loop and records how late it wakes (the loop-lag figure: the longest time nothing
else could run on the loop), per phase (fill, deploy, edits, gets); the longest single commit step on the
loop (the checkers; the swap and the listeners; the store write runs in a worker thread) is timed too, for
the fill's ``--batch``-deployment edits and for the one-deployment edits. Then a ``get`` of all opdata and a
subtree-filtered ``get`` of one deployment's opdata are timed (median of 5), and the peak RSS of the
process (server and client) is read.  Beside each lag, the longest CPU time the loop's thread used between
two wake-ups of the probe (what the loop's own callbacks cost; the lag also counts waiting for a CPU on a
shared machine), and the load average.  ``--stall-stacks`` samples the loop thread's stack while the loop is
late (``bench/stall_stacks.py``) and prints where it was, per phase; ``--profile-turns`` lists the loop turns over
20 ms of CPU per phase with what ran in them (``bench/loop_turns.py``).

Usage (repository root, after ``make setup``)::

    .venv/bin/python bench/edit_scale.py [--sizes 10 500 2000] [--vms 5] [--edits 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import etree

from bench.client_process import call  # noqa: E402
from bench.deploy_scale import BASE, ESC  # noqa: E402
from bench.loop_turns import LongTurns  # noqa: E402
from bench.netconf_roundtrips import RawClient  # noqa: E402
from bench.opdata_scale import settle  # noqa: E402
from bench.stall_stacks import StallStacks, report  # noqa: E402
from esc_netconf import gilshare, mallocpolicy  # noqa: E402
from esc_netconf.app import Application, Options  # noqa: E402
from esc_netconf.netconf.datastore import Datastore  # noqa: E402


def _group(vms: int) -> str:
    return (f"<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>"
            f"<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
            f"<scaling><min_active>{vms}</min_active><max_active>{vms}</max_active></scaling></vm_group>")


def _edit(names: list[tuple[str, str]], vms: int) -> bytes:
    by_tenant: dict[str, list[str]] = {}
    for tenant, name in names:
        by_tenant.setdefault(tenant, []).append(f"<deployment><name>{name}</name>{_group(vms)}</deployment>")
    tenants = "".join(f"<tenant><name>{t}</name><deployments>{''.join(d)}</deployments></tenant>"
                      for t, d in by_tenant.items())
    return (f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
            f'<esc_datamodel xmlns="{ESC}"><tenants>{tenants}</tenants></esc_datamodel></config></edit-config>'
            ).encode()


class CommitTimer:
    """The longest time one step of a commit that runs on the loop (the checkers, then, once the store write
    in a worker thread is durable, the swap and the listeners) held the loop, wrapped around the datastore's
    ``_check`` and ``_finish`` of this one server; and the time of each whole datastore edit (walk and
    validation, checkers, store write, listeners), to tell the datastore's share of a round trip."""

    def __init__(self, datastore: Datastore) -> None:
        self.worst = 0.0
        self.edits: list[float] = []
        edit = datastore.edit_off_loop

        async def timed_edit(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await edit(*args, **kwargs)
            finally:
                self.edits.append(time.perf_counter() - start)

        datastore.edit_off_loop = timed_edit  # type: ignore[method-assign]
        for name in ("_check", "_finish"):
            setattr(datastore, name, self._timed(getattr(datastore, name)))

    def _timed(self, step: Any) -> Any:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return step(*args)
            finally:
                self.worst = max(self.worst, time.perf_counter() - start)
        return timed

    def take(self) -> float:
        worst, self.worst = self.worst, 0.0
        self.edits.clear()
        return worst


class LoopLag:
    """Longest lateness of a 5 ms sleep on the loop: an upper bound of the longest stall; and the longest
    CPU time the loop's thread used between two wake-ups (on a loaded machine a thread also waits for a
    CPU, which the lateness includes and the CPU figure does not)."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.worst_cpu = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - start - 0.005)
            self.worst_cpu = max(self.worst_cpu, time.thread_time() - cpu)

    def take(self) -> float:
        """The worst lateness since the last call."""
        worst, self.worst = self.worst, 0.0
        return worst

    def take_cpu(self) -> float:
        """The longest loop-thread CPU time between two wake-ups since the last call."""
        worst, self.worst_cpu = self.worst_cpu, 0.0
        return worst

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None:
            loop.call_soon_threadsafe(self._task.cancel)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        async def begin() -> None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        asyncio.run_coroutine_threadsafe(begin(), loop).result(10)


def measure(size: int, vms: int, edits: int, batch: int, stall_stacks: bool = False,
            turns: LongTurns | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "application.properties").write_text("vim.sim.delay.scale=0\nvim.monitor.poll.secs=60\n")
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, daemon=True).start()
        app = Application(Options(netconf_port=0, rest_port=0, data_dir=data,
                                  properties=data / "application.properties"))
        asyncio.run_coroutine_threadsafe(app.start(), loop).result(60)
        lag = LoopLag()
        lag.start(loop)
        stacks = StallStacks() if stall_stacks else None
        if stacks is not None:
            stacks.start(loop)
        where: dict[str, list[str]] = {}
        long_turns: dict[str, list[str]] = {}
        if turns is not None:
            turns.take()  # what start-up ran
        commits = CommitTimer(app.datastore)
        client = RawClient(int(app.netconf_port or 0))
        assert app.domain is not None
        core = app.domain.core
        start = time.perf_counter()
        names = [(f"tenant-{i % 10}", f"dep-{i}") for i in range(size)]
        for first in range(0, size, batch):
            reply = call(client, _edit(names[first:first + batch], vms))
            assert reply.ok, reply.element
        filled = time.perf_counter() - start
        lag_fill, cpu_fill = lag.take(), lag.take_cpu()
        if stacks is not None:
            where["fill"] = report(*stacks.take(), top=12)
        if turns is not None:
            long_turns["fill"] = turns.take()
        commit_fill = commits.take()
        while sum(d.state.value == "SERVICE_ACTIVE_STATE" for d in core.deployments()) < size:
            time.sleep(0.2)
        deployed = time.perf_counter() - start
        lag_deploy, cpu_deploy = lag.take(), lag.take_cpu()
        if stacks is not None:
            where["deploy"] = report(*stacks.take(), top=12)
        if turns is not None:
            long_turns["deploy"] = turns.take()
        times = _timed_edits(client, edits, "extra")
        datastore_p50 = statistics.median(commits.edits)  # the first edits'
        quiet_after = settle(os.getpid(), limit=60.0)
        settled_times = _timed_edits(client, edits, "later")
        lag_edits, cpu_edits = lag.take(), lag.take_cpu()
        if stacks is not None:
            where["edits"] = report(*stacks.take(), top=12)
        if turns is not None:
            long_turns["edits"] = turns.take()
        commit_edits = commits.take()
        full = _timed_get(client, '<filter type="xpath" select="esc_datamodel/opdata"/>')
        one = _timed_get(client, f'<filter type="subtree"><esc_datamodel xmlns="{ESC}"><opdata><tenants><tenant>'
                                 "<name>tenant-0</name><deployments><deployment_name>dep-0</deployment_name>"
                                 "</deployments></tenant></tenants></opdata></esc_datamodel></filter>")
        lag_gets, cpu_gets = lag.take(), lag.take_cpu()
        if stacks is not None:
            where["gets"] = report(*stacks.take(), top=12)
        if turns is not None:
            long_turns["gets"] = turns.take()
        lag.stop(loop)
        if stacks is not None:
            stacks.stop(loop)
        client.close()
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
    times.sort()
    settled_times.sort()
    return {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
            "settled_p50": statistics.median(settled_times),
            "settled_p95": settled_times[int(0.95 * (len(settled_times) - 1))], "quiet_after": quiet_after,
            "filled": filled, "deployed": deployed,
            "lag_fill": lag_fill, "lag_deploy": lag_deploy, "lag_edits": lag_edits,
            "cpu_fill": cpu_fill, "cpu_deploy": cpu_deploy, "cpu_edits": cpu_edits, "cpu_gets": cpu_gets,
            "load": os.getloadavg()[0], "where": where, "turns": long_turns,
            "commit_fill": commit_fill, "commit_edits": commit_edits, "datastore_p50": datastore_p50,
            "get_full": full, "get_one": one, "lag_gets": lag_gets,
            "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _timed_edits(client: RawClient, count: int, prefix: str) -> list[float]:
    """Seconds of each of ``count`` edit-configs, one at a time, each creating a one-VM deployment."""
    seconds = []
    for i in range(count):
        t0 = time.perf_counter()
        reply = call(client, _edit([(f"tenant-{i % 10}", f"{prefix}-{i}")], 1))
        seconds.append(time.perf_counter() - t0)
        assert reply.ok, reply.element
    return seconds


def _timed_get(client: RawClient, filter_xml: str, times: int = 5) -> float:
    """Median seconds of a ``<get>`` with this filter."""
    seconds = []
    for _ in range(times):
        t0 = time.perf_counter()
        reply = call(client, f'<get xmlns="{BASE}">{filter_xml}</get>'.encode())
        seconds.append(time.perf_counter() - t0)
        assert reply.element.find(f"{{{BASE}}}rpc-error") is None, etree.tostring(reply.element)[:2000]
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[10, 500, 2000])
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100, help="deployments per edit-config while filling")
    parser.add_argument("--stall-stacks", action="store_true",
                        help="sample the loop thread's stack while the loop is late (bench/stall_stacks.py)")
    parser.add_argument("--profile-turns", action="store_true",
                        help="list the loop turns over 20 ms of CPU per phase, with what ran in them (bench/loop_turns.py)")
    parser.add_argument("--no-gil-share", action="store_true",
                        help="the server's background threads do not pause for the loop (esc_netconf.gilshare)")
    parser.add_argument("--malloc-fastbins", action="store_true",
                        help="glibc keeps its fastbins while the server serves (esc_netconf.mallocpolicy)")
    args = parser.parse_args()
    gilshare.enabled = not args.no_gil_share
    mallocpolicy.enabled = not args.malloc_fastbins
    turns = LongTurns(0.02) if args.profile_turns else None
    print(f"{'stored':>7} {'VMs':>6} {'fill s':>7} {'active s':>9} {'edit p50 ms':>12} {'p95 ms':>7} "
          f"{'in datastore p50 ms':>19} "
          f"{'lag fill/deploy/edits/gets ms':>30} {'commit fill/edits ms':>20} {'get all ms':>10} {'get one ms':>10} "
          f"{'peak RSS MiB':>12}",
          flush=True)
    for size in args.sizes:
        r = measure(size, args.vms, args.edits, args.batch, args.stall_stacks, turns)
        print(f"{size:>7} {size * args.vms:>6} {r['filled']:>7.1f} {r['deployed']:>9.1f} {r['p50'] * 1000:>12.1f} "
              f"{r['p95'] * 1000:>7.1f} {r['datastore_p50'] * 1000:>19.1f} "
              f"{r['lag_fill'] * 1000:>14.0f}/{r['lag_deploy'] * 1000:.0f}/{r['lag_edits'] * 1000:.0f}"
              f"/{r['lag_gets'] * 1000:.0f} {r['commit_fill'] * 1000:>14.0f}/{r['commit_edits'] * 1000:.0f} "
              f"{r['get_full'] * 1000:>10.0f} {r['get_one'] * 1000:>10.1f} "
              f"{r['rss_mib']:>12.0f}", flush=True)
        print(f"{'':>7} edit p50 once settled {r['settled_p50'] * 1000:.1f} ms, p95 {r['settled_p95'] * 1000:.1f} ms "
              f"(the server quiet {r['quiet_after']:.1f} s after the first edits)", flush=True)
        print(f"{'':>7} loop CPU between two wake-ups, longest, fill/deploy/edits/gets: "
              f"{r['cpu_fill'] * 1000:.0f}/{r['cpu_deploy'] * 1000:.0f}/{r['cpu_edits'] * 1000:.0f}"
              f"/{r['cpu_gets'] * 1000:.0f} ms (load average {r['load']:.1f} on {os.cpu_count()} CPUs)", flush=True)
        for phase, lines in r["where"].items():
            print(f"  where the loop was while late, {phase}:")
            for line in lines:
                print("    " + line)
        for phase, lines in r["turns"].items():
            print(f"  loop turns over 20 ms of CPU, {phase}:")
            for line in lines:
                print("    " + line)


if __name__ == "__main__":
    main()
