"""``northbound.snapshot_xml``: the ``<snapshots>`` opdata container, checked against the YANG model."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.core.backup import SnapshotRecord, SnapshotStatus
from esc_netconf.netconf.yangmodel import YangModel
from esc_netconf.northbound.snapshot_xml import ESC_NS, snapshots_element

YANG_DIR = Path(__file__).resolve().parents[4] / "yang"
Q = f"{{{ESC_NS}}}"


def record(sid: str, *, done: bool) -> SnapshotRecord:
    return SnapshotRecord(
        id=sid, name="my-snapshot-name", tenant="snapshot-tenant", generated_vm_name="dep_g_0_x", vm_id="vm",
        server_id="srv", deployment="dep", dep_id="d", vm_group="g", vim_id="default_openstack_vim",
        status=SnapshotStatus.ACTIVE if done else SnapshotStatus.QUEUED,
        status_message="Snapshot image for VM [dep_g_0_x] is active." if done else "",
        creation_start_date=datetime(2021, 7, 20, 11, 26, 47, 532000, tzinfo=timezone.utc),
        creation_end_date=datetime(2021, 7, 20, 11, 27, 53, 139999, tzinfo=timezone.utc) if done else None,
        volume_snapshot_id="c3cd5d13" if done else None)


def test_fields_in_yang_order_with_millisecond_dates() -> None:
    root = snapshots_element([record("a", done=True), record("b", done=False)])
    assert root.tag == f"{Q}snapshots" and root.nsmap == {None: ESC_NS}
    first, second = root
    assert [(c.tag[len(Q):], c.text) for c in first] == [
        ("id", "a"), ("name", "my-snapshot-name"),
        ("creation_start_date", "2021-07-20T11:26:47.532+00:00"),
        ("creation_end_date", "2021-07-20T11:27:53.139+00:00"),
        ("status", "active"), ("status_message", "Snapshot image for VM [dep_g_0_x] is active."),
        ("created_from_generated_vm_name", "dep_g_0_x"), ("vim_id", "default_openstack_vim"),
        ("tenant", "snapshot-tenant"), ("volume_snapshot_id", "c3cd5d13")]
    assert [c.tag[len(Q):] for c in second] == [
        "id", "name", "creation_start_date", "status", "created_from_generated_vm_name", "vim_id", "tenant"]
    assert b"xmlns=\"http://www.cisco.com/esc/esc\"" in etree.tostring(root)
    assert len(snapshots_element([])) == 0


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


def test_every_leaf_is_in_the_yang_list(model: YangModel) -> None:
    base = [f"{Q}esc_datamodel", f"{Q}opdata", f"{Q}snapshots"]
    container = model.node(base)
    assert container is not None and container.kind == "container"
    entry = model.node([*base, f"{Q}snapshot"])
    assert entry is not None and entry.kind == "list" and entry.keys == (f"{Q}id",)
    for leaf in snapshots_element([record("a", done=True)])[0]:
        info = model.node([*base, f"{Q}snapshot", leaf.tag])
        assert info is not None and info.kind == "leaf", leaf.tag
