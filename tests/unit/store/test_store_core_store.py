"""SqlCoreStore: a round trip for every method of core.store.Store, checked against MemoryStore."""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from esc_netconf.core.memory_store import MemoryStore
from esc_netconf.core.model import (
    CoreState,
    DeploymentRecord,
    DeploymentSpec,
    InterfaceSpec,
    IpPool,
    KpiSpec,
    OperationRecord,
    RuleSpec,
    ScalingSpec,
    StartupPolicy,
    TenantRecord,
    VmGroupSpec,
    VmInterface,
    VmRecord,
    VolumeSpec,
)
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.core.store import RecordKind, Store, Write
from esc_netconf.store import Database, SqlCoreStore
from tests.gilshare_pauses import every_look_pauses

WHEN = datetime(2026, 11, 25, 13, 0, 0, 250000, tzinfo=timezone.utc)


def spec(name: str = "dep") -> DeploymentSpec:
    group = VmGroupSpec(
        name="g1",
        image="cirros",
        flavor="m1.tiny",
        bootup_time=120,
        interfaces=(InterfaceSpec(0, "net-mgmt"), InterfaceSpec(1, "net-data", "10.0.0.5")),
        volumes=(VolumeSpec(name="v1", size=2, sizeunit="GiB", boot_index=0, image="cirros"),),
        scaling=ScalingSpec(1, 3, True, (IpPool("net-data", "10.0.0.1", "255.255.255.0", ("10.0.0.5", "10.0.0.6")),)),
        kpis=(KpiSpec("VM_ALIVE", "1", "GT", "UINT32", "ICMPPing", 0, 3, "seconds"),),
        rules=(RuleSpec("VM_ALIVE", ("ALWAYS log", "FALSE recover autohealing")),),
        vim_project="p1",
    )
    return DeploymentSpec(name, (group, group.with_changes(name="g2")), (StartupPolicy("g2", ("g1",)),))


def deployment(dep_id: str = "d-1", tenant: str = "t1", name: str = "dep") -> DeploymentRecord:
    return DeploymentRecord(dep_id, tenant, name, spec(name), ServiceState.ACTIVE, WHEN)


def vm(vm_id: str = "vm-1", dep_id: str = "d-1", name: str = "dep_g1_0_abcd", server_id: str | None = None) -> VmRecord:
    record = VmRecord(
        vm_id, dep_id, "t1", "dep", "g1", 0, name, VmState.ALIVE, True, server_id, "cirros", "m1.tiny",
        "host-1", "compute-1", [VmInterface(0, "net-mgmt", "192.168.0.4", "fa:16:3e:00:00:01", "port-1")], ["vol-1"],
    )
    record.remember(WHEN, "deployed", "on compute-1")
    record.remember(WHEN, "monitoring set")
    return record


def operation(op_id: str = "op-1", dep_id: str = "d-1", vm_id: str | None = "vm-1") -> OperationRecord:
    return OperationRecord(op_id, "vm_action", "t1", dep_id, vm_id, {"action": "STOP"}, WHEN)


@pytest.fixture(params=["memory", "file", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SqlCoreStore:
    if request.param == "postgresql":
        db = Database.open(request.getfixturevalue("postgres").create_database())
    else:
        db = Database.open(":memory:") if request.param == "memory" else Database.open(tmp_path / "esc.db")
    request.addfinalizer(db.close)
    return SqlCoreStore(db)


def test_satisfies_the_core_protocol_structurally() -> None:
    protocol_methods = {
        name for name, member in vars(Store).items() if callable(member) and not name.startswith("_")
    }
    assert protocol_methods == {
        "load", "save_tenant", "delete_tenant", "save_deployment", "delete_deployment",
        "save_vm", "delete_vm", "save_operation", "finish_operation", "apply", "pending_events",
    }
    for name in protocol_methods:
        wanted = inspect.signature(getattr(Store, name))
        got = inspect.signature(getattr(SqlCoreStore, name))
        assert list(got.parameters) == list(wanted.parameters), name
        assert str(got.return_annotation) == str(wanted.return_annotation), name
    with Database.open(":memory:") as db:
        typed: Store = SqlCoreStore(db)  # mypy checks this line
        assert typed.load() == CoreState()


def test_empty_store_loads_empty_state(store: SqlCoreStore) -> None:
    assert store.load() == CoreState()


def test_tenant_round_trip(store: SqlCoreStore) -> None:
    store.save_tenant(TenantRecord("t1", "proj-1"))
    store.save_tenant(TenantRecord("t2", "proj-2", "other_vim"))
    store.save_tenant(TenantRecord("t1", "proj-1b"))  # upsert
    assert store.load().tenants == {"t1": TenantRecord("t1", "proj-1b"), "t2": TenantRecord("t2", "proj-2", "other_vim")}
    store.delete_tenant("t1")
    store.delete_tenant("absent")
    assert list(store.load().tenants) == ["t2"]


def test_deployment_round_trip_keeps_the_whole_spec(store: SqlCoreStore) -> None:
    record = deployment()
    store.save_deployment(record)
    loaded = store.load().deployments["d-1"]
    assert loaded == record
    assert loaded.spec.depends_on("g2") == ("g1",)
    assert loaded.state is ServiceState.ACTIVE and loaded.created == WHEN
    record.state = ServiceState.STOPPED
    store.save_deployment(record)
    assert store.load().deployments["d-1"].state is ServiceState.STOPPED
    assert [d.dep_id for d in store.deployments_of("t1", "dep")] == ["d-1"]
    assert store.deployments_of("t1", "nope") == [] and store.deployments_of("t2") == []


def test_vm_round_trip_with_intent_and_server_id(store: SqlCoreStore) -> None:
    intent = vm(server_id=None)
    store.save_vm(intent)
    assert store.load().vms["vm-1"] == intent
    intent.server_id = "srv-1"
    intent.remember(WHEN, "stopped")
    store.save_vm(intent)
    loaded = store.load().vms["vm-1"]
    assert loaded == intent and loaded.history[-1].seq == 3 and loaded.server_id == "srv-1"
    store.delete_vm("vm-1")
    store.delete_vm("vm-1")
    assert store.load().vms == {}


def test_operation_round_trip(store: SqlCoreStore) -> None:
    op = operation()
    store.save_operation(op)
    store.save_operation(operation("op-2", vm_id=None))
    assert store.load().operations == {"op-1": op, "op-2": operation("op-2", vm_id=None)}
    op.params["force"] = "true"
    store.save_operation(op)
    assert store.load().operations["op-1"].params == {"action": "STOP", "force": "true"}
    store.finish_operation("op-1")
    store.finish_operation("absent")
    assert list(store.load().operations) == ["op-2"]


def test_delete_deployment_takes_its_vms_and_operations_only(store: SqlCoreStore) -> None:
    store.save_deployment(deployment("d-1"))
    store.save_deployment(deployment("d-2", name="other"))
    store.save_vm(vm("vm-1", "d-1"))
    store.save_vm(vm("vm-2", "d-2", name="other_g1_0_ef"))
    store.save_operation(operation("op-1", "d-1"))
    store.save_operation(operation("op-2", "d-2", "vm-2"))
    store.delete_deployment("d-1")
    store.delete_deployment("absent")
    state = store.load()
    assert (list(state.deployments), list(state.vms), list(state.operations)) == (["d-2"], ["vm-2"], ["op-2"])


def test_load_returns_fresh_objects(store: SqlCoreStore) -> None:
    record = vm()
    store.save_vm(record)
    record.interfaces.clear()
    first = store.load()
    assert len(first.vms["vm-1"].interfaces) == 1
    first.vms["vm-1"].volume_ids.append("mutated")
    assert store.load().vms["vm-1"].volume_ids == ["vol-1"]


def test_a_vm_may_be_saved_before_its_deployment(store: SqlCoreStore) -> None:
    store.save_vm(vm("vm-9", "d-not-yet"))
    assert "vm-9" in store.load().vms


def test_same_history_as_the_memory_store(tmp_path: Path) -> None:
    memory = MemoryStore()
    with Database.open(tmp_path / "esc.db") as db:
        sql = SqlCoreStore(db)
        for target in (memory, sql):
            target.save_tenant(TenantRecord("t1", "p1"))
            target.save_deployment(deployment("d-1"))
            target.save_deployment(deployment("d-2", name="b"))
            target.save_vm(vm("vm-1", "d-1"))
            target.save_vm(vm("vm-2", "d-2", name="b_g1_0_x", server_id="s2"))
            target.save_operation(operation("op-1", "d-1"))
            target.save_operation(operation("op-2", "d-2", "vm-2"))
            target.finish_operation("op-2")
            target.delete_vm("vm-2")
            target.delete_deployment("d-1")
            target.save_tenant(TenantRecord("t2", "p2"))
            target.delete_tenant("t1")
        expected = memory.load()
        assert sql.load() == expected
    with Database.open(tmp_path / "esc.db") as reopened:
        assert SqlCoreStore(reopened).load() == expected


def test_the_event_journal_keeps_save_order_until_deleted(store: SqlCoreStore) -> None:
    def saved(event_id: str) -> Write:
        return Write(RecordKind.EVENT, event_id, {"event_id": event_id, "status_message": f"m-{event_id}"})

    store.apply([saved("z"), saved("a"), Write(RecordKind.VM, "absent", None), saved("m")])
    store.apply([Write(RecordKind.EVENT, "a", None), saved("b")])
    assert [(key, data["status_message"]) for key, data in store.pending_events()] == [
        ("z", "m-z"), ("m", "m-m"), ("b", "m-b")]
    store.apply([Write(RecordKind.EVENT, key, None) for key in ("z", "m", "b", "never")])
    assert store.pending_events() == []


def test_a_batch_larger_than_one_statement_is_stored_whole_in_order_pausing_for_the_loop(
        store: SqlCoreStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows go in statements of a few dozen, the writer thread pausing between them (``gilshare``)."""
    pauses = every_look_pauses(monkeypatch)
    memory = MemoryStore()
    store.apply([Write(RecordKind.VM, f"vm-{n}", vm(f"vm-{n}").to_dict()) for n in range(50)])
    memory.apply([Write(RecordKind.VM, f"vm-{n}", vm(f"vm-{n}").to_dict()) for n in range(50)])
    batch = [*(Write(RecordKind.VM, f"vm-{n}", vm(f"vm-{n}", server_id=f"s-{n}").to_dict()) for n in range(25, 225)),
             *(Write(RecordKind.EVENT, f"e-{n:03}", {"event_id": f"e-{n:03}"}) for n in range(150, 0, -1))]
    pauses.clear()
    store.apply(batch)
    memory.apply([write for write in batch if write.kind is not RecordKind.EVENT])
    assert store.load() == memory.load()
    assert [key for key, _ in store.pending_events()] == [f"e-{n:03}" for n in range(150, 0, -1)]
    assert len(pauses) >= 200 // 64 + 150 // 64  # at least once per statement of each table


def test_a_batch_s_rows_are_encoded_before_the_write_lock_and_read_back_the_same(
        store: SqlCoreStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every other writer of the database waits while a batch holds the write lock: its JSON is encoded before
    (``EncodedJson``), and what comes back is what was saved, on each database."""
    held = []
    encoded_under_lock = []
    write = Database.write

    @contextmanager
    def watched_write(self: Database, **options: Any) -> Iterator[Any]:
        with write(self, **options) as connection:
            held.append(True)
            try:
                yield connection
            finally:
                held.pop()

    dumps = json.dumps

    def watched_dumps(value: Any, **options: Any) -> str:
        if held:
            encoded_under_lock.append(value)
        return dumps(value, **options)

    monkeypatch.setattr(Database, "write", watched_write)
    monkeypatch.setattr(json, "dumps", watched_dumps)
    memory = MemoryStore()
    batch = [Write(RecordKind.TENANT, "t1", TenantRecord("t1", "p1").to_dict()),
             Write(RecordKind.DEPLOYMENT, "d-1", deployment().to_dict()),
             *(Write(RecordKind.VM, f"vm-{n}", vm(f"vm-{n}").to_dict()) for n in range(100)),
             Write(RecordKind.EVENT, "e-1", {"event_id": "e-1", "message": "é ✓"})]
    store.apply(batch)
    memory.apply([w for w in batch if w.kind is not RecordKind.EVENT])
    assert encoded_under_lock == []
    assert store.load() == memory.load()
    assert store.pending_events() == [("e-1", {"event_id": "e-1", "message": "é ✓"})]
