"""RFC 6470 events: netconf-config-change (which nodes an edit changed, and with which operation)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf.nc_notifications import Edit, config_change_event, config_edits
from esc_netconf.netconf.context import SessionContext
from esc_netconf.netconf import datastore as datastore_module
from esc_netconf.netconf.datastore import Datastore
from esc_netconf.netconf.errors import BASE_NS
from esc_netconf.netconf.yangmodel import DataPath, YangModel
from esc_netconf.netconf.persistence import MemoryConfigStore
from tests.unit.netconf.test_subscriptions import MemoryReplayLog

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
TENANTS = "/esc:esc_datamodel/esc:tenants"



@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


@pytest.fixture
def ds(model: YangModel) -> Datastore:
    return Datastore(model, MemoryConfigStore())


def config(tenants: str) -> etree._Element:
    return etree.fromstring(f'<config xmlns="{BASE_NS}" xmlns:nc="{BASE_NS}"><esc_datamodel xmlns="{ESC}">'
                            f"<tenants>{tenants}</tenants></esc_datamodel></config>")


def group(name: str = "g", image: str = "cirros", actions: str = "") -> str:
    rules = (f"<rules><admin_rules><rule><event_name>e</event_name>{actions}</rule></admin_rules></rules>"
             if actions else "")
    return (f"<vm_group><name>{name}</name><image>{image}</image><flavor>m1.tiny</flavor>"
            f"<scaling><min_active>1</min_active><max_active>1</max_active></scaling>{rules}</vm_group>")


def edit(ds: Datastore, model: YangModel, tenants: str, default_operation: str = "merge") -> list[Edit]:
    """Run an edit as edit-config does and return the edits its notification would carry."""
    before = ds.running
    cfg = config(tenants)
    result = ds.edit(cfg, default_operation=default_operation)
    if not result.committed:
        return []
    edits = config_edits(before, ds.running, cfg, default_operation, model, result.touched)
    assert pairs(edits) == pairs(config_edits(before, ds.running, cfg, default_operation, model))  # walking all
    return edits


def pairs(edits: list[Edit]) -> list[tuple[str, str]]:
    return [(str(e.target), e.operation) for e in edits]


def test_a_created_tenant_is_one_edit_naming_the_tenant(ds: Datastore, model: YangModel) -> None:
    edits = edit(ds, model, "<tenant nc:operation='create'><name>t1</name></tenant>")
    assert pairs(edits) == [(f"{TENANTS}/esc:tenant[esc:name='t1']", "create")]
    assert edits[0].target.nsmap == {"esc": ESC}


def test_a_tenant_merged_into_an_empty_datastore_is_named_not_its_containers(
        ds: Datastore, model: YangModel) -> None:
    # esc_datamodel and tenants are non-presence containers: YANG treats them as always there
    assert pairs(edit(ds, model, "<tenant><name>t1</name></tenant>")) == [
        (f"{TENANTS}/esc:tenant[esc:name='t1']", "merge")]


def test_a_merged_leaf_change_names_the_leaf_only(ds: Datastore, model: YangModel) -> None:
    dep = f"<deployments><deployment><name>d</name>{group()}</deployment></deployments>"
    edit(ds, model, f"<tenant><name>t1</name>{dep}</tenant>")
    changed = dep.replace("<image>cirros</image>", "<image>ubuntu-22.04</image>")
    edits = edit(ds, model, f"<tenant><name>t1</name>{changed}</tenant>")
    where = f"{TENANTS}/esc:tenant[esc:name='t1']/esc:deployments/esc:deployment[esc:name='d']"
    assert pairs(edits) == [(f"{where}/esc:vm_group[esc:name='g']/esc:image", "merge")]


def test_a_merge_that_writes_the_same_values_reports_nothing(ds: Datastore, model: YangModel) -> None:
    edit(ds, model, "<tenant><name>t1</name></tenant>")
    assert edit(ds, model, "<tenant><name>t1</name></tenant>") == []


def test_a_delete_names_the_deleted_entry(ds: Datastore, model: YangModel) -> None:
    edit(ds, model, "<tenant><name>t1</name></tenant><tenant><name>t2</name></tenant>")
    edits = edit(ds, model, "<tenant nc:operation='delete'><name>t2</name></tenant>")
    assert pairs(edits) == [(f"{TENANTS}/esc:tenant[esc:name='t2']", "delete")]


def test_one_edit_per_changed_subtree_each_with_its_own_operation(ds: Datastore, model: YangModel) -> None:
    edit(ds, model, "<tenant><name>t1</name></tenant><tenant><name>t2</name></tenant>")
    edits = edit(ds, model, "<tenant nc:operation='remove'><name>t1</name></tenant>"
                            "<tenant nc:operation='delete'><name>t2</name></tenant>"
                            "<tenant nc:operation='create'><name>t3</name></tenant>")
    assert sorted(pairs(edits)) == [(f"{TENANTS}/esc:tenant[esc:name='t1']", "remove"),
                                    (f"{TENANTS}/esc:tenant[esc:name='t2']", "delete"),
                                    (f"{TENANTS}/esc:tenant[esc:name='t3']", "create")]


def test_a_replace_reports_the_entries_it_dropped(ds: Datastore, model: YangModel) -> None:
    edit(ds, model, "<tenant><name>t1</name></tenant><tenant><name>t2</name></tenant>")
    edits = edit(ds, model, "<tenant><name>t1</name></tenant>", default_operation="replace")
    assert pairs(edits) == [(f"{TENANTS}/esc:tenant[esc:name='t2']", "replace")]


def test_leaf_list_entries_are_named_by_value(ds: Datastore, model: YangModel) -> None:
    dep = "<deployments><deployment><name>d</name>{}</deployment></deployments>"
    edit(ds, model, "<tenant><name>t1</name>" + dep.format(group(actions="<action>TRUE a</action>")) + "</tenant>")
    edits = edit(ds, model, "<tenant><name>t1</name>"
                 + dep.format(group(actions="<action>TRUE b</action>")) + "</tenant>")
    targets = sorted(pairs(edits))
    assert len(targets) == 1 and targets[0][0].endswith("/esc:action[.='TRUE b']") and targets[0][1] == "merge"


def test_the_notification_carries_the_session_and_each_edit() -> None:
    ctx = SessionContext(7, "admin", "127.0.0.1", transport=None)  # type: ignore[arg-type]  # never sends here
    edits = [Edit(_tenant_path("t1"), "create"), Edit(_tenant_path("t2"), "delete")]
    event = config_change_event(ctx, edits)
    assert event.tag == f"{{{NCN}}}netconf-config-change"
    assert event.findtext(f"{{{NCN}}}changed-by/{{{NCN}}}session-id") == "7"
    assert event.findtext(f"{{{NCN}}}datastore") == "running"
    entries = event.findall(f"{{{NCN}}}edit")
    assert [(e.findtext(f"{{{NCN}}}target"), e.findtext(f"{{{NCN}}}operation")) for e in entries] == [
        (f"{TENANTS}/esc:tenant[esc:name='t1']", "create"), (f"{TENANTS}/esc:tenant[esc:name='t2']", "delete")]
    # the target's prefixes are declared on it, so the instance-identifier resolves
    target = entries[0].find(f"{{{NCN}}}target")
    assert target is not None and target.nsmap["esc"] == ESC


def _tenant_path(tenant: str) -> DataPath:
    return (DataPath().child("esc", ESC, "esc_datamodel").child("esc", ESC, "tenants")
            .child("esc", ESC, "tenant").predicate(f"[esc:name='{tenant}']"))


def test_among_many_siblings_the_touched_walk_agrees_with_the_whole_walk(ds: Datastore, model: YangModel) -> None:
    """With many untouched siblings the walk looks up the counterparts of the touched entries by key (and
    reads the list whole when something was deleted): same edits as comparing the trees whole (``edit``)."""
    def deps(*names: str, image: str = "cirros", op: str = "") -> str:
        return "".join(f"<deployment{op}><name>{n}</name>{group(image=image)}</deployment>" for n in names)

    many = [f"d{i}" for i in range(12)]
    edit(ds, model, f"<tenant><name>t1</name><deployments>{deps(*many)}</deployments></tenant>")
    where = f"{TENANTS}/esc:tenant[esc:name='t1']/esc:deployments/esc:deployment"
    assert pairs(edit(ds, model, f"<tenant><name>t1</name><deployments>{deps('d3', image='u')}</deployments></tenant>")) \
        == [(f"{where}[esc:name='d3']/esc:vm_group[esc:name='g']/esc:image", "merge")]
    assert pairs(edit(ds, model, f"<tenant><name>t1</name><deployments>{deps('new')}</deployments></tenant>")) == [
        (f"{where}[esc:name='new']", "merge")]
    gone = deps("d5", op=' nc:operation="delete"')
    assert pairs(edit(ds, model, f"<tenant><name>t1</name><deployments>{gone}"
                                 f"{deps('d6', image='u')}</deployments></tenant>")) == [
        (f"{where}[esc:name='d6']/esc:vm_group[esc:name='g']/esc:image", "merge"),
        (f"{where}[esc:name='d5']", "delete")]


async def test_a_big_edit_s_changes_are_found_off_the_loop_and_notified(model: YangModel,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """edit-config reads the changes its datastore preparer found (a worker thread for a big edit), and they
    are those of the edit: the notification names the new tenants with the request's operation."""
    from esc_netconf.netconf import base_operations, nc_notifications
    from esc_netconf.netconf.server import NetconfServer
    from esc_netconf.netconf.subscriptions import NotificationHub, StreamInfo, SubscriptionRequest

    monkeypatch.setattr(datastore_module, "INLINE_ELEMENTS", 0)  # every edit is prepared in the worker
    threads: list[int] = []
    real = nc_notifications.changes

    def changes(*args: object, **kwargs: object) -> object:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(base_operations, "changes", changes)
    hub = NotificationHub(MemoryReplayLog(), [StreamInfo("NETCONF", "d", False)], lambda: datetime.now(UTC))
    server = NetconfServer(model, Datastore(model, MemoryConfigStore()), hub)
    seen: list[etree._Element] = []
    hub.subscribe(SubscriptionRequest("NETCONF"), lambda _t, payload: seen.append(payload), lambda: None)
    ctx = SessionContext(7, "admin", "127.0.0.1", transport=None)  # type: ignore[arg-type]  # never sends here
    for names in (("t1", "t2"), ("t3",)):
        op = etree.fromstring(f'<edit-config xmlns="{BASE_NS}"><target><running/></target>'
                              f'{etree.tostring(config("".join(f"<tenant><name>{n}</name></tenant>" for n in names))).decode()}'
                              "</edit-config>")
        await server._handlers[f"{{{BASE_NS}}}edit-config"](ctx, op)
    assert len(threads) == 2 and threading.get_ident() not in threads
    assert [[e.findtext(f"{{{NCN}}}target") for e in event.iter(f"{{{NCN}}}edit")] for event in seen] == [
        [f"{TENANTS}/esc:tenant[esc:name='t1']", f"{TENANTS}/esc:tenant[esc:name='t2']"],
        [f"{TENANTS}/esc:tenant[esc:name='t3']"]]
