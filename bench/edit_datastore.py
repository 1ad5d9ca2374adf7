"""One-deployment edits on the datastore alone (walk, incremental validation, the parts to store; no
SQLite, no core), against how many deployments of 5 VMs are stored: p50 and p95 of ``--edits`` edits per
size (``Datastore.edit``, on this thread); then the same edits and one edit of ``--batch`` new deployments
through ``Datastore.edit_off_loop`` as the NETCONF server runs them, with a task on the same event loop
that sleeps 1 ms in a loop and records how late it wakes (the longest time the loop was held, by the
commit or by the worker thread's hold on the GIL).

Usage (repository root, after ``make setup``)::

    .venv/bin/python bench/edit_datastore.py [--sizes 10 500 2000] [--edits 20] [--batch 100]

``bench/edit_scale.py`` measures the same edit end to end through NETCONF on a live server.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.editconfig_lists import ESC, YANG  # noqa: E402
from esc_netconf.netconf.datastore import Datastore  # noqa: E402
from esc_netconf.netconf.errors import BASE_NS  # noqa: E402
from esc_netconf.netconf.persistence import MemoryConfigStore  # noqa: E402
from esc_netconf.netconf.yangmodel import YangModel  # noqa: E402

GROUP = ("<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>"
         "<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
         "<scaling><min_active>5</min_active><max_active>5</max_active></scaling></vm_group>")


def _config(first: int, count: int) -> etree._Element:
    by_tenant: dict[str, list[str]] = {}
    for i in range(first, first + count):
        by_tenant.setdefault(f"tenant-{i % 10}", []).append(f"<deployment><name>dep-{i}</name>{GROUP}</deployment>")
    tenants = "".join(f"<tenant><name>{t}</name><deployments>{''.join(d)}</deployments></tenant>"
                      for t, d in by_tenant.items())
    return etree.fromstring(f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants>{tenants}'
                            "</tenants></esc_datamodel></config>")


class LoopLag:
    """The longest lateness of a 1 ms sleep on the running loop while it runs."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(0.001)
            self.worst = max(self.worst, loop.time() - start - 0.001)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def timed_edits(size: int, edits: int, model: YangModel) -> tuple[Datastore, list[float]]:
    """``edits`` one-deployment edits with ``Datastore.edit`` (no loop, no thread: the datastore's own cost)."""
    ds = Datastore(model, MemoryConfigStore())
    ds.edit(_config(0, size))
    times = []
    for j in range(edits):
        config = _config(size + j, 1)
        start = time.perf_counter()
        ds.edit(config)
        times.append(time.perf_counter() - start)
    return ds, sorted(times)


async def loop_held(ds: Datastore, first: int, edits: int, batch: int) -> dict[str, float]:
    """The same edits again through ``edit_off_loop``, as the server runs them, then one edit of ``batch``
    deployments: the longest the loop was held meanwhile (the 1 ms sampler itself slows the worker a little)."""
    with LoopLag() as lag:
        await asyncio.sleep(0.01)
        for j in range(edits):
            await ds.edit_off_loop(_config(first + j, 1))
        lag_one = lag.worst
        lag.worst = 0.0
        start = time.perf_counter()
        await ds.edit_off_loop(_config(first + edits, batch))
        batch_s = time.perf_counter() - start
        await asyncio.sleep(0.01)
        lag_batch = lag.worst
    return {"lag_one": lag_one, "batch": batch_s, "lag_batch": lag_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[10, 500, 2000])
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    model = YangModel.load(YANG)
    print(f"{'stored':>7} {'edit p50 ms':>12} {'p95 ms':>7} {'loop held ms':>13} "
          f"{f'{args.batch}-dep edit ms':>16} {'loop held ms':>13}", flush=True)
    for size in args.sizes:
        ds, times = timed_edits(size, args.edits, model)
        p50, p95 = statistics.median(times), times[int(0.95 * (len(times) - 1))]
        r = asyncio.run(loop_held(ds, size + args.edits, args.edits, args.batch))
        print(f"{size:>7} {p50 * 1000:>12.1f} {p95 * 1000:>7.1f} {r['lag_one'] * 1000:>13.1f} "
              f"{r['batch'] * 1000:>16.0f} {r['lag_batch'] * 1000:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
