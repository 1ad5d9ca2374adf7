"""Callback delivery latency: from ``EventBus.publish`` to the receiver's handler, and what publishing costs.

The real ``CallbackRegistry``/``CallbackRouter``/``CallbackDispatcher``/``HttpSender`` deliver events of
registered transactions to aiohttp receivers on loopback.  The receivers run in a separate process (so
their work does not share the publisher's interpreter) and stamp each POST with ``time.monotonic()``,
which is one clock for every process on Linux.  Reported:

* latency p50/p99/max per event, for events published one at a time (``--gap`` apart), and for a burst
  of ``--burst`` events published at once (ordered delivery per URL means the last waits for the others);
* the cost of ``publish`` on the core's loop (render + enqueue), per event and per destination;
* how long a dead receiver (nothing listening) holds anything: ``publish`` time is unchanged and no
  queue grows beyond its events.

Usage::

    .venv/bin/python bench/rest_callbacks.py [--events 300] [--receivers 1] [--burst 200]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web  # noqa: E402

from esc_netconf.core.events import EscEvent, EventBus, EventStatus, EventType, VmSource  # noqa: E402
from esc_netconf.rest.callbacks import (CallbackDispatcher, CallbackRegistry, CallbackRouter,  # noqa: E402
                                        HttpSender, RetryPolicy)


def receiver_process(ports: multiprocessing.Queue, arrivals: multiprocessing.Queue,  # type: ignore[type-arg]
                     expected: int) -> None:
    async def main() -> None:
        got: list[tuple[str, float]] = []
        done = asyncio.Event()

        async def handle(request: web.Request) -> web.Response:
            stamp = time.monotonic()
            body = await request.json()
            got.append((body["message"], stamp))
            if len(got) >= expected:
                done.set()
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/events", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.put(int(runner.addresses[0][1]))
        await done.wait()
        arrivals.put(got)
        await runner.cleanup()

    asyncio.run(main())


def event(n: int, tid: str) -> EscEvent:
    return EscEvent(EventType.VM_BACKUP_CREATED, EventStatus.SUCCESS, 202, f"event-{n}", "dep", "tenant", "proj",
                    "dep-1", "g", VmSource(vmid="vm-1", vmname="dep_g_0_x"), datetime.now(timezone.utc),
                    transaction_id=tid)


def pct(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(label: str, latencies: list[float]) -> None:
    ms = [v * 1000 for v in latencies]
    print(f"{label:<34}{statistics.median(ms):>9.2f}{pct(ms, 0.99):>9.2f}{max(ms):>9.2f}")


async def main_async(args: argparse.Namespace) -> None:
    ctx = multiprocessing.get_context("spawn")
    total = args.events + args.burst
    ports: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    arrivals: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [ctx.Process(target=receiver_process, args=(ports, arrivals, total)) for _ in range(args.receivers)]
    for proc in procs:
        proc.start()
    urls = [f"http://127.0.0.1:{ports.get(timeout=30)}/events" for _ in procs]

    bus = EventBus()
    registry = CallbackRegistry()
    sender = HttpSender()
    dispatcher = CallbackDispatcher(sender, policy=RetryPolicy())
    bus.subscribe(CallbackRouter(registry, dispatcher))
    registry.register("bench", urls)
    registry.register("dead", ["http://127.0.0.1:9/events"])

    published: dict[str, float] = {}
    publish_costs: list[float] = []
    for n in range(args.events):
        ev = event(n, "bench")
        published[ev.status_message] = time.monotonic()
        started = time.perf_counter()
        bus.publish(ev)
        publish_costs.append(time.perf_counter() - started)
        await asyncio.sleep(args.gap)
    for n in range(args.events, total):
        ev = event(n, "bench")
        published[ev.status_message] = time.monotonic()
        bus.publish(ev)
    await dispatcher.drain(60)
    dead_costs = []
    for n in range(50):
        started = time.perf_counter()
        bus.publish(event(n, "dead"))
        dead_costs.append(time.perf_counter() - started)

    print(f"{args.receivers} receiver(s) in another process; {args.events} single events {args.gap * 1000:.0f} ms "
          f"apart, then a burst of {args.burst}")
    print(f"{'':<34}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for _ in procs:
        got = arrivals.get(timeout=60)
        single = [stamp - published[m] for m, stamp in got if int(m.split("-")[1]) < args.events]
        burst = [stamp - published[m] for m, stamp in got if int(m.split("-")[1]) >= args.events]
        order = [int(m.split("-")[1]) for m, _ in got]
        assert order == sorted(order), "events arrived out of order"
        report("publish -> receiver, single", single)
        report(f"publish -> receiver, burst of {args.burst}", burst)
    print(f"publish cost on the loop: {statistics.median(publish_costs) * 1e6:.0f} us per event "
          f"({args.receivers} destination(s)); to a dead receiver: {statistics.median(dead_costs) * 1e6:.0f} us")
    await dispatcher.close()
    await sender.close()
    for proc in procs:
        proc.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--receivers", type=int, default=1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
