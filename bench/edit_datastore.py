"""One-deployment edits on the datastore alone (walk, incremental validation, serialization; no SQLite, no
core), against how many deployments of 5 VMs are stored: p50 and p95 of ``--edits`` edits per size.

Usage (repository root, after ``make setup``)::

    .venv/bin/python bench/edit_datastore.py [--sizes 10 500 2000] [--edits 20]

``bench/edit_scale.py`` measures the same edit end to end through NETCONF on a live server.
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="*", type=int, default=[10, 500, 2000])
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    model = YangModel.load(YANG)
    print(f"{'stored':>7} {'edit p50 ms':>12} {'p95 ms':>7}", flush=True)
    for size in args.sizes:
        ds = Datastore(model, MemoryConfigStore())
        ds.edit(_config(0, size))
        times = []
        for j in range(args.edits):
            config = _config(size + j, 1)
            start = time.perf_counter()
            ds.edit(config)
            times.append(time.perf_counter() - start)
        times.sort()
        print(f"{size:>7} {statistics.median(times) * 1000:>12.1f} {times[int(0.95 * (len(times) - 1))] * 1000:>7.1f}",
              flush=True)


if __name__ == "__main__":
    main()
