"""What the RFC 6470 config-change diff costs next to the edit it reports.

The running config holds N deployments of one tenant; each round merges one more deployment, timing the
datastore edit (apply, validate, commit) and then ``config_edits`` (the before/after walk that names the
changed node and its operation). In process, with an in-memory config store: no SSH, no SQLite.

Usage (from the repository root, after ``make setup``)::

    .venv/bin/python bench/config_change.py [--deployments 200] [--rounds 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from esc_netconf.netconf.datastore import Datastore  # noqa: E402
from esc_netconf.netconf.errors import BASE_NS  # noqa: E402
from esc_netconf.netconf.nc_notifications import config_edits  # noqa: E402
from esc_netconf.netconf.yangmodel import YangModel  # noqa: E402
from esc_netconf.packaged import yang_dir  # noqa: E402
from esc_netconf.netconf.persistence import MemoryConfigStore  # noqa: E402

ESC = "http://www.cisco.com/esc/esc"



def deployment(index: int) -> str:
    return (f"<deployment><name>d{index}</name><vm_group><name>g</name><image>cirros</image>"
            "<flavor>m1.tiny</flavor><interfaces><interface><nicid>0</nicid><network>net-mgmt</network>"
            "</interface></interfaces><scaling><min_active>1</min_active><max_active>1</max_active></scaling>"
            "</vm_group></deployment>")


def config(body: str) -> etree._Element:
    return etree.fromstring(f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                            f"<name>t</name><deployments>{body}</deployments></tenant></tenants></esc_datamodel>"
                            "</config>")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    model = YangModel.load(yang_dir())
    datastore = Datastore(model, MemoryConfigStore())
    datastore.edit(config("".join(deployment(i) for i in range(args.deployments))))
    edits_ms, diff_ms = [], []
    for n in range(args.rounds):
        cfg = config(deployment(100_000 + n))
        before = datastore.running
        start = time.perf_counter()
        datastore.edit(cfg)
        middle = time.perf_counter()
        edits = config_edits(before, datastore.running, cfg, "merge", model)
        end = time.perf_counter()
        assert len(edits) == 1, edits
        edits_ms.append(1000 * (middle - start))
        diff_ms.append(1000 * (end - middle))
    print(f"{args.deployments} deployments, {args.rounds} merges of one more:")
    print(f"  edit (apply, validate, commit)  median {statistics.median(edits_ms):7.1f} ms")
    print(f"  config-change diff              median {statistics.median(diff_ms):7.1f} ms")


if __name__ == "__main__":
    main()
