"""The hot paths leave no cyclic garbage: what they drop is freed by reference counting at once, not by a
collection that would stop every thread, the event loop's too (gcpolicy; issue 13's loop-stall figure).
Each test runs a path with the collector off and counts what a collection then finds."""

from __future__ import annotations

import gc
from datetime import datetime, timezone
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.core.model import TenantRecord
from esc_netconf.core.store import RecordKind, Write
from esc_netconf.netconf.editconfig import edit_in_place
from esc_netconf.netconf.persistence import ConfigPart
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.store import Database, SqlCoreStore
from esc_netconf.store.config_store import SqlConfigStore
from esc_netconf.store.replay_log import SqlReplayLog

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
ESC = "http://www.cisco.com/esc/esc"


@pytest.fixture()
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def garbage_of(run: Callable[[], object], times: int = 3) -> int:
    """What a collection finds after ``run`` ran ``times`` times (its first run may fill caches)."""
    run()
    gc.collect()
    for _ in range(times):
        run()
    return gc.collect()


def _tenants(root: str, names: list[str]) -> etree._Element:
    entries = "".join(f"<tenant><name>{n}</name></tenant>" for n in names)
    return etree.fromstring(f'<{root} xmlns="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants>{entries}'
                            f"</tenants></esc_datamodel></{root}>")


def test_an_edit_in_place_leaves_no_cycles(collector_off: None) -> None:
    model = YangModel.load(YANG_DIR)
    data = _tenants("data", [f"t{i}" for i in range(50)])
    count = iter(range(1_000_000))

    def edit() -> None:
        _, undo = edit_in_place(data, _tenants("config", [f"new-{next(count)}"]), model)
        undo.undo()

    assert garbage_of(edit) == 0


def test_the_stores_batch_writes_leave_no_cycles(collector_off: None, tmp_path: Path) -> None:
    """The core's group commit (saves, deletes by key, a deployment's delete), the datastore's parts and the
    replay log's look-up of event ids: each statement is built once, not per call."""
    db = Database.open(str(tmp_path / "esc.db"))
    core, parts, log = SqlCoreStore(db), SqlConfigStore(db), SqlReplayLog(db)
    count = iter(range(1_000_000))

    def writes() -> None:
        n = next(count)
        core.apply([Write(RecordKind.TENANT, f"t{n}", TenantRecord(f"t{n}", "p").to_dict()),
                    Write(RecordKind.TENANT, f"t{n - 1}", None), Write(RecordKind.DEPLOYMENT, f"d{n}", None)])
        parts.save_parts([ConfigPart(f"k{n}", "", n, b"<x/>")], [f"k{n - 1}"])
        log.append_many("escEvent", [(datetime.now(timezone.utc), b"<e/>")], [f"id-{n}"])

    try:
        assert garbage_of(writes) == 0
    finally:
        db.close()
