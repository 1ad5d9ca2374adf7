"""Deploy N deployments of M VMs through NETCONF, measure the event loop meanwhile, then watch the monitor.

The server runs in this process (so the loop can be probed and the VIM call counter read), the sim VIM
with ``vim.sim.delay.scale=0``; the client is a raw NETCONF client over SSH on loopback, in a process of its
own (``bench/client_process.py``: in this one it would compete with the server for the GIL), that sends one
edit-config per ``--batch`` deployments (spread over ``--tenants`` tenants), each after the previous reply.
The bench learns that the deployments are alive (or gone) from the core's events, not by polling the core.

Reported:

* edits accepted: the time until the last edit-config's reply, and the slowest reply;
* all VMs alive: the time from the first edit until every deployment is SERVICE_ACTIVE;
* loop lag: a task on the server's loop sleeps 5 ms in a loop and records how late it wakes. The longest
  lateness bounds the longest stall (the longest time nothing else could run on the loop); the p99 is
  over all wake-ups of the run. Beside it, the CPU time the loop's thread used between two wake-ups,
  with and without the garbage collections it ran (on a loaded machine a thread waits for a CPU, which
  the wall-clock lateness includes), and the garbage collections' pauses;
* with ``--profile-callbacks``, each loop callback that used more than ``--stall-ms`` of CPU, by the
  coroutine or function it ran; with ``--slow-callbacks`` asyncio's debug mode logs each callback that
  held the loop longer than ``--stall-ms`` of wall time (debug mode slows everything: use either to find
  stalls, not to time the run);
* with ``--stall-stacks``, where the loop was while it was late (``bench/stall_stacks.py``: a watchdog
  thread samples the loop thread's stack while the loop's heartbeat is older than ``--stall-ms`` / 2);
* the monitor's VIM calls per VM per minute over ``--monitor-seconds`` once everything is alive;
* the garbage-collector policy (``--gc-policy``: the server's own, ``esc_netconf.gcpolicy``, by default;
  the others compare it with CPython's and with single remedies) and, with ``--churn N``, the resident
  size over N rounds of undeploying and redeploying everything, then how much cyclic garbage the policy's
  freezes kept (a full collection of everything finds it); with ``--tracemalloc K`` also what grew
  between the first and the last undeployed point (K frames per allocation; the top lines by size), each
  taken after the policy's sweep (``gcpolicy.sweep``), so what grew is kept, not garbage awaiting a
  sweep: state kept per deployment after its undeploy;
* whether the server's background threads pause for the loop (``esc_netconf.gilshare``; ``--no-gil-share``
  turns it off to measure the difference), and whether glibc's fastbins are off while the server serves
  (``esc_netconf.mallocpolicy``; ``--malloc-fastbins`` keeps them);
* the machine's load average at start and end, and the share of its CPU time the hypervisor gave to other
  guests during the run ("steal" in ``/proc/stat``): the machine is shared, and while a virtual CPU is taken
  away the thread on it stops, the GIL with it if it held it, so stalls in a run with much steal say more
  about the host than about the server. With ``--stall-steal``, each listed stall also says what share of
  the machine's CPU time the host took while it lasted (a thread of the bench reads ``/proc/stat`` every
  10 ms).

Usage (repository root, after ``make setup``)::

    .venv/bin/python bench/deploy_scale.py --deployments 2000 --vms 5 --batch 100
    .venv/bin/python bench/deploy_scale.py --deployments 500 --churn 6 --gc-policy cpython
    .venv/bin/python bench/deploy_scale.py --deployments 500 --churn 4 --monitor-seconds 0 --tracemalloc 1

To see where the loop spends its time, run it under py-spy (``pip install py-spy``)::

    .venv/bin/py-spy record -o deploy.svg -- .venv/bin/python bench/deploy_scale.py --deployments 500
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import logging
import os
import resource
import sys
import tempfile
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.client_process import ClientProcess  # noqa: E402
from bench.loop_turns import LongTurns, describe  # noqa: E402
from bench.stall_stacks import StallStacks, report  # noqa: E402
from esc_netconf import gcpolicy, gilshare, mallocpolicy  # noqa: E402
from esc_netconf.app import Application, Options  # noqa: E402
from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType  # noqa: E402

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC = "http://www.cisco.com/esc/esc"


def _group(vms: int) -> str:
    return (f"<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>"
            f"<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
            f"<scaling><min_active>{vms}</min_active><max_active>{vms}</max_active></scaling></vm_group>")


def edit(names: list[tuple[str, str]], vms: int) -> bytes:
    """One edit-config creating the deployments ``(tenant, name)`` of one group of ``vms`` VMs each."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, name in names:
        by_tenant.setdefault(tenant, []).append(f"<deployment><name>{name}</name>{_group(vms)}</deployment>")
    tenants = "".join(f"<tenant><name>{t}</name><deployments>{''.join(d)}</deployments></tenant>"
                      for t, d in by_tenant.items())
    return (f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
            f'<esc_datamodel xmlns="{ESC}"><tenants>{tenants}</tenants></esc_datamodel></config></edit-config>'
            ).encode()


def undeploy(names: list[tuple[str, str]]) -> bytes:
    """One edit-config deleting the deployments ``(tenant, name)``."""
    by_tenant: dict[str, list[str]] = {}
    for tenant, name in names:
        by_tenant.setdefault(tenant, []).append(
            f'<deployment xmlns:nc="{BASE}" nc:operation="delete"><name>{name}</name></deployment>')
    tenants = "".join(f"<tenant><name>{t}</name><deployments>{''.join(d)}</deployments></tenant>"
                      for t, d in by_tenant.items())
    return (f'<edit-config xmlns="{BASE}"><target><running/></target><config>'
            f'<esc_datamodel xmlns="{ESC}"><tenants>{tenants}</tenants></esc_datamodel></config></edit-config>'
            ).encode()


def thread_cpu() -> dict[str, float]:
    """CPU seconds used so far by each live thread of this process, by its Python name (Linux ``/proc``).

    Why: every thread of the process runs Python under one GIL, so the loop's lateness depends on how much
    the others want it; this says who they are (summed per name without the pool index: ``sim-cloud``)."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    ticks = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        name = names.get(int(task.name), "other")
        name = name.rsplit("_", 1)[0] if name.rsplit("_", 1)[-1].isdigit() else name
        used[name] = used.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
    return used


def rss_mib() -> float:
    """The process's resident size now (Linux ``/proc``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


#: ``--gc-policy`` choices: the server's own, CPython's, and the single remedies it combines.
GC_POLICIES = {
    "server": gcpolicy.DEFAULT,
    "cpython": gcpolicy.CPYTHON,
    "freeze-start": gcpolicy.GcPolicy(freeze_at_start=True),
    "thresholds": gcpolicy.GcPolicy(thresholds=(10_000, 10, 10)),
    "freeze-full": gcpolicy.GcPolicy(freeze_at_start=True, freeze_after=2),
    "freeze-full-thresholds": gcpolicy.GcPolicy((10_000, 10, 10), freeze_at_start=True, freeze_after=2),
}


def deployment(tenant: str, name: str, vms: int) -> bytes:
    """One edit-config creating one deployment (kept for the other benches)."""
    return edit([(tenant, name)], vms)


class Outcomes:
    """Counts the deployments that came alive or went away, from the core's events (a subscriber on the
    loop: one call per event), so the bench waits for them without polling the core from its thread."""

    def __init__(self) -> None:
        self.alive = self.undeployed = self.failed = 0
        self.changed = threading.Condition()

    def start(self, bus: EventBus, loop: asyncio.AbstractEventLoop) -> None:
        loop.call_soon_threadsafe(bus.subscribe, self._seen)

    def _seen(self, event: EscEvent) -> None:
        if event.event_type not in (EventType.SERVICE_ALIVE, EventType.SERVICE_UNDEPLOYED):
            return
        with self.changed:
            if event.status is not EventStatus.SUCCESS:
                self.failed += 1
            elif event.event_type is EventType.SERVICE_ALIVE:
                self.alive += 1
            else:
                self.undeployed += 1
            self.changed.notify_all()

    def wait(self, what: str, count: Callable[[], int], target: int, timeout: float) -> None:
        """Until ``count()`` reaches ``target``; exits the bench when a deployment failed or on timeout."""
        deadline = time.perf_counter() + timeout
        with self.changed:
            while count() < target:
                if self.failed:
                    raise SystemExit(f"{self.failed} deployment(s) failed")
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise SystemExit(f"{what}: {count()} of {target} after {timeout:.0f} s")
                self.changed.wait(left)


def cpu_ticks() -> tuple[int, int]:
    """(all, steal) clock ticks of the machine's CPUs so far (``/proc/stat``; (0, 0) elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0, 0
    return sum(fields[:8]), fields[7]  # user nice system idle iowait irq softirq steal (guest is in user)


class StealSampler:
    """The machine's (all, steal) CPU ticks every ``period`` seconds, read on a thread of its own (not on the
    loop: file I/O there gives up the GIL and waits to get it back), so that each stall can be matched with
    the share of CPU time the host took from this machine while it lasted. A stall through which the host ran
    nothing of ours (steal near 100%) is the host's, whatever the code does.

    /proc/stat counts in 10 ms ticks per CPU: a stall of 50 ms spans about ten of them on 2 CPUs.
    """

    def __init__(self, period: float = 0.01) -> None:
        self._period = period
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-steal", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.samples.append((time.perf_counter(), *cpu_ticks()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def share(self, begin: float, end: float) -> float:
        """The stolen share of the CPU ticks between the samples around ``begin`` and ``end`` (perf_counter)."""
        times = [at for at, _, _ in self.samples]
        first = max(bisect.bisect_right(times, begin) - 1, 0)
        last = min(bisect.bisect_left(times, end), len(times) - 1)
        if last <= first:
            return float("nan")
        (_, all0, steal0), (_, all1, steal1) = self.samples[first], self.samples[last]
        return (steal1 - steal0) / (all1 - all0) if all1 > all0 else float("nan")


def run_delay() -> float:
    """Seconds the calling thread has spent runnable but waiting for a CPU (Linux schedstat): a stall whose
    wall time is neither the loop's CPU nor this waited for the GIL."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stats:
            return int(stats.read().split()[1]) / 1e9
    except OSError:
        return 0.0


@dataclass
class LoopLag:
    """How late a 5 ms sleep on the loop wakes: every lateness is kept (for percentiles), and the stalls
    longer than ``stall`` seconds with the moment they ended (seconds since ``begin``).

    With each lateness goes the CPU time the loop's thread used meanwhile: on a machine shared with
    other work a thread may wait for a CPU (or for the GIL) for a long time while the loop itself runs
    nothing long; the CPU figure is what the loop's own callbacks cost.
    """

    stall: float = 0.05
    period: float = 0.005
    gc: GcPauses | None = None
    #: read the loop thread's wait for a CPU at each wake-up (two reads of a /proc file on the loop per
    #: wake-up: their file I/O lets the loop's thread give up the GIL twice more per wake-up, each time
    #: to wait again for it behind the other threads, so it is off unless asked for)
    cpu_wait: bool = False
    lateness: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    #: the loop thread's CPU per wake-up without the garbage collections it ran meanwhile
    cpu_no_gc: list[float] = field(default_factory=list)
    #: (seconds into the run, lateness, the loop thread's CPU, its time runnable but waiting for a CPU)
    stalls: list[tuple[float, float, float, float]] = field(default_factory=list)
    begin: float = field(default_factory=time.perf_counter)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        me = threading.get_ident()
        collected = self.gc.cpu_by_thread if self.gc is not None else {}
        while True:
            queued = run_delay() if self.cpu_wait else 0.0
            start, cpu, in_gc = loop.time(), time.thread_time(), collected.get(me, 0.0)
            await asyncio.sleep(self.period)
            late = loop.time() - start - self.period
            used = time.thread_time() - cpu
            self.lateness.append(late)
            self.cpu.append(used)
            self.cpu_no_gc.append(used - (collected.get(me, 0.0) - in_gc))
            if late > self.stall:
                waited = run_delay() - queued if self.cpu_wait else float("nan")
                self.stalls.append((time.perf_counter() - self.begin, late, used, waited))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        async def begin() -> None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag-probe")
        asyncio.run_coroutine_threadsafe(begin(), loop).result(10)

    def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None:
            loop.call_soon_threadsafe(self._task.cancel)

    def take(self) -> tuple[list[float], list[float], list[float]]:
        """The lateness, the loop thread's CPU time per wake-up, and that CPU time without garbage
        collection, recorded since the last call (and forget them)."""
        taken, self.lateness, cpu, self.cpu, no_gc, self.cpu_no_gc = self.lateness, [], self.cpu, [], self.cpu_no_gc, []
        return taken, cpu, no_gc


#: A collection using more CPU than this (seconds) is listed with its thread and where it was triggered.
LONG_GC = 0.02


class GcPauses:
    """The time each cyclic garbage collection took, per generation (a pause of every thread)."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
        #: the same in CPU time of the collecting thread (wall pauses include waiting for a CPU)
        self.cpu: dict[int, list[float]] = {0: [], 1: [], 2: []}
        #: CPU seconds of collections run by each thread (a collection runs in the thread that triggered it)
        self.cpu_by_thread: dict[int, float] = {}
        #: collections of more than LONG_GC seconds of CPU: (CPU, generation, collected, thread name, where)
        self.long: list[tuple[float, int, int, str, str]] = []
        self._start = 0.0
        self._start_cpu = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start, self._start_cpu = time.perf_counter(), time.thread_time()
        else:
            self.pauses[info["generation"]].append(time.perf_counter() - self._start)
            ident = threading.get_ident()
            cpu = time.thread_time() - self._start_cpu
            self.cpu[info["generation"]].append(cpu)
            self.cpu_by_thread[ident] = self.cpu_by_thread.get(ident, 0.0) + cpu
            if cpu > LONG_GC:  # where the allocation that triggered it was: what made the garbage is near
                where = " < ".join(f"{Path(f.filename).name}:{f.name}"
                                   for f in reversed(traceback.extract_stack(limit=7)[:-1]))
                self.long.append((cpu, info["generation"], info["collected"], threading.current_thread().name,
                                  where))

    def summary(self) -> str:
        return ", ".join(f"gen{g} {len(p)}x max {max(p, default=0) * 1000:.0f} ms "
                         f"(CPU {max(self.cpu[g], default=0) * 1000:.0f} ms) total {sum(p):.1f} s"
                         for g, p in self.pauses.items())


class SlowCallbacks:
    """Every loop callback that used more than ``threshold`` seconds of the loop thread's CPU, by what it
    ran (a task's coroutine or a plain callback): count, longest, total. CPU time, not wall time, so that
    waiting for a CPU on a shared machine is not blamed on the callback (garbage collections that start
    inside a callback are, since they run in it)."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.stats: dict[str, list[float]] = {}
        original = asyncio.events.Handle._run
        profiler = self

        def _run(handle: asyncio.events.Handle) -> None:
            start = time.thread_time()
            try:
                original(handle)
            finally:
                used = time.thread_time() - start
                if used > profiler.threshold:
                    profiler.stats.setdefault(describe(handle), []).append(used)

        asyncio.events.Handle._run = _run  # type: ignore[method-assign]

    def summary(self, top: int = 12) -> list[str]:
        ranked = sorted(self.stats.items(), key=lambda kv: -sum(kv[1]))[:top]
        return [f"{len(v):>5}x  max {max(v) * 1000:>5.0f} ms  total {sum(v):>5.1f} s  {k}" for k, v in ranked]


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--vms", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100, help="deployments per edit-config")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--monitor-seconds", type=float, default=20.0)
    parser.add_argument("--monitor-interval", type=float, default=5.0)
    parser.add_argument("--stall-ms", type=float, default=50.0, help="a loop stall longer than this is listed")
    parser.add_argument("--slow-callbacks", action="store_true",
                        help="asyncio debug mode: log each callback holding the loop longer than --stall-ms")
    parser.add_argument("--profile-callbacks", action="store_true",
                        help="list the loop callbacks that used more than --stall-ms of CPU, by what they ran")
    parser.add_argument("--profile-turns", action="store_true",
                        help="list the loop turns that used more than --stall-ms of CPU, with the callbacks in them")
    parser.add_argument("--stall-stacks", action="store_true",
                        help="sample the loop thread's stack while the loop is late (see bench/stall_stacks.py)")
    parser.add_argument("--gc-policy", choices=sorted(GC_POLICIES), default="server",
                        help="the garbage-collector policy (esc_netconf.gcpolicy) the server runs with")
    parser.add_argument("--churn", type=int, default=0,
                        help="after the run, this many rounds of undeploying and redeploying everything, "
                             "printing the resident size after each (cyclic garbage that outlives a freeze)")
    parser.add_argument("--tracemalloc", type=int, default=0, metavar="FRAMES",
                        help="with --churn: trace allocations (FRAMES frames each) and print what grew between the "
                             "first and the last undeployed point")
    parser.add_argument("--switch-interval", type=float, default=None, metavar="SECONDS",
                        help="sys.setswitchinterval for the process (CPython's default: 0.005)")
    parser.add_argument("--no-gil-share", action="store_true",
                        help="the server's background threads do not pause for the loop (esc_netconf.gilshare)")
    parser.add_argument("--malloc-fastbins", action="store_true",
                        help="glibc keeps its fastbins while the server serves (esc_netconf.mallocpolicy)")
    parser.add_argument("--cpu-wait", action="store_true",
                        help="with each stall, how long the loop's thread waited for a CPU (reads a /proc file on "
                             "the loop at every probe wake-up, which itself adds to the lag)")
    parser.add_argument("--stall-steal", action="store_true",
                        help="with each stall, the share of CPU time the host stole from this machine while it "
                             "lasted (/proc/stat read every 10 ms by a thread of the bench)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up waiting for the VMs after this")
    args = parser.parse_args()
    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    gilshare.enabled = not args.no_gil_share
    mallocpolicy.enabled = not args.malloc_fastbins
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        (data / "application.properties").write_text(
            f"vim.sim.delay.scale=0\nvim.monitor.poll.secs={args.monitor_interval}\n"
        )
        loop = asyncio.new_event_loop()
        if args.slow_callbacks:
            logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
            loop.set_debug(True)
            loop.slow_callback_duration = args.stall_ms / 1000
        slow = SlowCallbacks(args.stall_ms / 1000) if args.profile_callbacks else None
        turns = LongTurns(args.stall_ms / 1000) if args.profile_turns else None
        threading.Thread(target=loop.run_forever, daemon=True).start()
        app = Application(Options(netconf_port=0, rest_port=0, data_dir=data,
                                  properties=data / "application.properties"))
        asyncio.run_coroutine_threadsafe(app.start(), loop).result(60)
        if args.gc_policy != "server":
            gcpolicy.reset()
            gcpolicy.apply(GC_POLICIES[args.gc_policy])
        started_mib = rss_mib()
        assert app.domain is not None
        core, driver = app.domain.core, app.domain.driver
        client = ClientProcess(int(app.netconf_port or 0))
        outcomes = Outcomes()
        outcomes.start(app.domain.bus, loop)
        gc_pauses = GcPauses()
        lag = LoopLag(stall=args.stall_ms / 1000, gc=gc_pauses, cpu_wait=args.cpu_wait)
        lag.start(loop)
        steal_sampler = StealSampler() if args.stall_steal else None
        if steal_sampler is not None:
            steal_sampler.start()
        stacks = StallStacks(threshold=args.stall_ms / 2000) if args.stall_stacks else None
        if stacks is not None:
            stacks.start(loop)

        names = [(f"tenant-{i % args.tenants}", f"dep-{i}") for i in range(args.deployments)]
        batches = [names[first:first + args.batch] for first in range(0, args.deployments, args.batch)]

        def all_alive(before: int, *, check: bool = True) -> None:
            """Until every deployment came alive since ``outcomes.alive`` was ``before``; then, with ``check``,
            that the core says so too (this thread reads all deployments: its GIL share is not the server's,
            so the run's own check comes after the run's figures are taken)."""
            outcomes.wait("alive", lambda: outcomes.alive, before + args.deployments, args.timeout)
            if check:
                check_alive()

        def check_alive() -> None:
            states = [d.state.value for d in core.deployments()]  # once, to check what the events said
            assert states.count("SERVICE_ACTIVE_STATE") == args.deployments, states

        def all_gone(before: int) -> None:
            """Until every deployment went away since ``outcomes.undeployed`` was ``before``."""
            outcomes.wait("undeployed", lambda: outcomes.undeployed, before + args.deployments, args.timeout)
            assert not core.deployments()

        alive_before = outcomes.alive
        cpu_before, ticks_before = thread_cpu(), cpu_ticks()
        start = lag.begin = time.perf_counter()
        sent = client.send([edit(batch, args.vms) for batch in batches])
        accepted, slowest_edit = time.perf_counter() - start, sent.slowest
        all_alive(alive_before, check=False)
        deployed = time.perf_counter() - start
        ticks_after = cpu_ticks()
        ticks_run = ticks_after[0] - ticks_before[0]
        steal = (ticks_after[1] - ticks_before[1]) / ticks_run if ticks_run else 0.0
        cpu_run = {name: used - cpu_before.get(name, 0.0) for name, used in thread_cpu().items()}
        run_lag, run_cpu, run_no_gc = lag.take()
        run_turns = turns.take() if turns is not None else []
        gc_run = gc_pauses.summary()
        stack_lines = report(*stacks.take()) if stacks is not None else []
        if stacks is not None:
            stacks.stop(loop)
        stalls = list(lag.stalls)

        before = driver.calls.snapshot()
        time.sleep(args.monitor_seconds)
        after = driver.calls.snapshot()
        monitor_lag, monitor_cpu, _ = lag.take()
        check_alive()
        monitor_turns = turns.take() if turns is not None else []
        monitor_stack_lines = report(*stacks.take()) if stacks is not None else []
        monitor_calls = sum(after.values()) - sum(before.values())
        total = args.deployments * args.vms
        per_vm_minute = monitor_calls / total / (args.monitor_seconds / 60) if args.monitor_seconds else 0.0
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        churned: list[str] = []
        traced: list[tracemalloc.Snapshot] = []
        if args.churn and args.tracemalloc:
            tracemalloc.start(args.tracemalloc)
        for _ in range(args.churn):
            gone_before = outcomes.undeployed
            client.send([undeploy(batch) for batch in batches])
            all_gone(gone_before)
            gone_mib = rss_mib()
            if tracemalloc.is_tracing():  # after the sweep the server runs every 10 minutes: what stays is kept
                gcpolicy.sweep()
                traced.append(tracemalloc.take_snapshot().filter_traces(
                    [tracemalloc.Filter(False, tracemalloc.__file__)]))
            alive_before = outcomes.alive
            client.send([edit(batch, args.vms) for batch in batches])
            all_alive(alive_before)
            churned.append(f"{gone_mib:.0f}/{rss_mib():.0f} ({gc.get_freeze_count()})")
        _, churn_cpu, churn_no_gc = lag.take()
        if args.churn:  # what the freezes kept that was cyclic garbage: a full collection of everything finds it
            gc.unfreeze()
            frozen_garbage = gc.collect()

        policy = gcpolicy.applied()
        lag.stop(loop)
        if steal_sampler is not None:
            steal_sampler.stop()
        client.close()
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(120)
        loop.call_soon_threadsafe(loop.stop)
    load_after = os.getloadavg()

    print(f"deployments x VMs             {args.deployments} x {args.vms} = {total} VMs, "
          f"{args.batch} deployments per edit-config, {args.tenants} tenants")
    print(f"edit-configs accepted in      {accepted:.1f} s (slowest reply {slowest_edit:.2f} s)")
    print(f"all SERVICE_ACTIVE after      {deployed:.1f} s ({total / deployed:.0f} VMs/s)")
    print(f"loop lag during the run       longest {max(run_lag, default=0) * 1000:.0f} ms, "
          f"p99 {percentile(run_lag, 0.99) * 1000:.1f} ms, p50 {percentile(run_lag, 0.5) * 1000:.1f} ms, "
          f"{len(stalls)} stalls > {args.stall_ms:.0f} ms")
    print(f"  loop thread CPU per wake-up longest {max(run_cpu, default=0) * 1000:.0f} ms, "
          f"p99 {percentile(run_cpu, 0.99) * 1000:.1f} ms (the loop's own work between two wake-ups)")
    print(f"  the same without GC         longest {max(run_no_gc, default=0) * 1000:.0f} ms, "
          f"p99 {percentile(run_no_gc, 0.99) * 1000:.1f} ms, "
          f"{sum(1 for c in run_no_gc if c > args.stall_ms / 1000)} wake-ups over {args.stall_ms:.0f} ms")
    if stalls:
        heading = "wall/CPU/waiting for a CPU" if args.cpu_wait else "wall/CPU"
        longest = sorted(sorted(stalls, key=lambda stall: -stall[1])[:40])

        def stolen(at: float, ms: float) -> str:
            if steal_sampler is None:
                return ""
            end = lag.begin + at
            return f" ({steal_sampler.share(end - ms - lag.period, end):.0%} stolen)"

        print(f"  the {len(longest)} longest stalls (s into the run: {heading} ms) "
              + ", ".join(f"{at:.1f}: {ms * 1000:.0f}/{cpu * 1000:.0f}"
                          + (f"/{queued * 1000:.0f}" if args.cpu_wait else "") + stolen(at, ms)
                          for at, ms, cpu, queued in longest))
    busiest = sorted(cpu_run.items(), key=lambda kv: -kv[1])[:8]
    print(f"CPU by thread (run)           {sum(cpu_run.values()):.1f} s: "
          + ", ".join(f"{name} {used:.1f}" for name, used in busiest))
    print(f"garbage collections (run)     {gc_run}")
    for cpu, generation, collected, thread, where in sorted(gc_pauses.long, reverse=True)[:8]:
        print(f"  gen{generation} {cpu * 1000:.0f} ms CPU, {collected} collected, in {thread}: {where}")
    for line in stack_lines:
        print("  " + line)
    if run_turns:
        print(f"  loop turns over {args.stall_ms:.0f} ms of CPU:")
        for line in run_turns:
            print("    " + line)
    if slow is not None:
        print(f"callbacks over {args.stall_ms:.0f} ms of loop CPU (whole process life, start-up included):")
        for line in slow.summary():
            print("  " + line)
    print(f"loop lag while monitoring     longest {max(monitor_lag, default=0) * 1000:.0f} ms, "
          f"p99 {percentile(monitor_lag, 0.99) * 1000:.1f} ms; loop CPU per wake-up longest "
          f"{max(monitor_cpu, default=0) * 1000:.0f} ms")
    for line in monitor_stack_lines:
        print("  " + line)
    if monitor_turns:
        print(f"  loop turns over {args.stall_ms:.0f} ms of CPU:")
        for line in monitor_turns:
            print("    " + line)
    print(f"monitoring VIM calls          {monitor_calls} in {args.monitor_seconds:.0f} s "
          f"= {per_vm_minute:.4f} per VM per minute (interval {args.monitor_interval:g} s, "
          f"{args.tenants} tenants)")
    print(f"garbage-collector policy      {args.gc_policy}: {policy}")
    sharing = (f"pause {gilshare.PAUSE * 1000:g} ms after each {gilshare.EVERY * 1000:g} ms of a background "
               "thread's CPU" if gilshare.enabled else "off (--no-gil-share)")
    print(f"GIL sharing (gilshare)        {sharing}")
    print(f"C allocator (mallocpolicy)    glibc's fastbins "
          f"{'off while serving' if mallocpolicy.enabled else 'kept (--malloc-fastbins)'}")
    print(f"peak RSS (server)             {peak_mb:.0f} MiB (after start-up {started_mib:.0f} MiB)")
    if len(traced) >= 2:
        grown = traced[-1].compare_to(traced[0], "traceback" if args.tracemalloc > 1 else "lineno")
        total_grown = sum(d.size_diff for d in grown)
        print(f"grown between undeployed rounds 1 and {len(traced)}: {total_grown / 2**20:.2f} MiB traced; top:")
        for diff in grown[:15]:
            print(f"  {diff.size_diff / 1024:+.0f} KiB {diff.count_diff:+d} blocks  "
                  + " <- ".join(str(frame) for frame in diff.traceback))
    if churned:
        print(f"churn: RSS MiB undeployed/redeployed (frozen objects) per round: {', '.join(churned)}")
        print(f"  cyclic garbage found by a full collection after the churn: {frozen_garbage} objects")
        print(f"  loop CPU per wake-up while churning: longest {max(churn_cpu, default=0) * 1000:.0f} ms, "
              f"without GC {max(churn_no_gc, default=0) * 1000:.0f} ms")
    print(f"load average (1/5/15 min)     before {'/'.join(f'{x:.1f}' for x in load_before)}, "
          f"after {'/'.join(f'{x:.1f}' for x in load_after)} on {os.cpu_count()} CPUs")
    print(f"CPU time stolen by the host   {steal:.0%} during the run")


if __name__ == "__main__":
    main()
