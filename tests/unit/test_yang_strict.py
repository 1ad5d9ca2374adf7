"""The YANG modules under yang/ pass ``pyang --strict`` silently and carry what CONTRACT section 3 fixes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyang import context, repository

YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
ESC_NS = "http://www.cisco.com/esc/esc"


def _pyang() -> list[str]:
    script = Path(sys.executable).with_name("pyang")
    if not script.exists():
        pytest.fail(f"pyang is not installed next to {sys.executable}")
    return [str(script)]


@pytest.mark.timeout(60)
def test_pyang_strict_prints_nothing() -> None:
    files = sorted(str(p) for p in YANG_DIR.glob("*.yang"))
    assert files, "no YANG modules in yang/"
    result = subprocess.run([*_pyang(), "--strict", "-p", str(YANG_DIR), *files],
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.fixture(scope="module")
def esc_module() -> object:
    ctx = context.Context(repository.FileRepository(str(YANG_DIR)))
    path = YANG_DIR / "esc.yang"
    module = ctx.add_module(str(path), path.read_text(encoding="utf-8"))
    ctx.validate()
    assert module is not None
    return module


def _enum(module: object, typedef: str) -> list[str]:
    stmt = module.search_one("typedef", typedef)  # type: ignore[attr-defined]
    assert stmt is not None, f"typedef {typedef} is missing"
    return [e.arg for e in stmt.search_one("type").search("enum")]


def test_module_header(esc_module: object) -> None:
    m = esc_module
    assert m.arg == "esc"  # type: ignore[attr-defined]
    assert m.search_one("namespace").arg == ESC_NS  # type: ignore[attr-defined]
    assert m.search_one("prefix").arg == "esc"  # type: ignore[attr-defined]
    assert "2026-11-25" in [r.arg for r in m.search("revision")]  # type: ignore[attr-defined]
    for keyword in ("organization", "contact", "description"):
        assert m.search_one(keyword) is not None, keyword  # type: ignore[attr-defined]


def test_contract_enums(esc_module: object) -> None:
    states = ["DEPLOYING", "INERT", "ACTIVE", "UNDEPLOYING", "STOPPING", "STOPPED", "STARTING", "REBOOTING", "ERROR"]
    assert _enum(esc_module, "service_state") == [f"SERVICE_{s}_STATE" for s in states]
    vm = ["DEPLOYING", "INERT", "ALIVE", "STOPPING", "SHUTOFF", "STARTING", "REBOOTING", "UNDEPLOYING", "ERROR",
          "MONITOR_UNSET", "MONITOR_DISABLED", "RECOVERY_DEPLOYING", "RECOVERY_REBOOTING", "RECOVERY_UNDEPLOYING"]
    assert _enum(esc_module, "vm_state") == [f"VM_{s}_STATE" for s in vm]
    assert _enum(esc_module, "action_type") == ["START", "STOP", "REBOOT", "ENABLE_MONITOR", "DISABLE_MONITOR"]
    assert _enum(esc_module, "status") == ["SUCCESS", "FAILURE"]
    events = set(_enum(esc_module, "event_type"))
    esc_types = """CREATE_TENANT DELETE_TENANT VM_DEPLOYED VM_ALIVE SERVICE_ALIVE VM_UNDEPLOYED SERVICE_UNDEPLOYED
        SERVICE_UPDATED VM_UPDATED VM_STOPPED SERVICE_STOPPED VM_STARTED VM_REBOOTED VM_MONITOR_SET
        VM_MONITOR_UNSET SERVICE_MONITOR_UNSET VM_RECOVERY_INIT VM_RECOVERY_REBOOT VM_RECOVERY_UNDEPLOYED
        VM_RECOVERY_DEPLOYED VM_RECOVERY_COMPLETE VM_RECOVERY_CANCELLED VM_SCALE_OUT_INIT VM_SCALE_OUT_DEPLOYED
        VM_SCALE_OUT_COMPLETE VM_SCALE_IN_INIT VM_SCALE_IN_COMPLETE ESC_IN_SERVICE ESC_OUT_OF_SERVICE
        VM_BACKUP_INIT VM_BACKUP_CREATED VM_BACKUP_COMPLETE VM_SNAPSHOT_DELETING VM_SNAPSHOT_DELETED""".split()
    assert events == set(esc_types)  # ESC's own types and no others (CONTRACT section 3)


def test_rpcs_and_notification(esc_module: object) -> None:
    m = esc_module
    rpcs = {r.arg: r for r in m.search("rpc")}  # type: ignore[attr-defined]
    assert set(rpcs) == {"serviceAction", "vmAction", "vmBackupAction", "snapshotAction", "recoveryVmAction"}
    for rpc in rpcs.values():
        assert rpc.search_one("output") is None, f"{rpc.arg} must answer <ok/>"
    inputs = {name: {leaf.arg for leaf in rpc.search_one("input").search("leaf")} for name, rpc in rpcs.items()}
    assert inputs["serviceAction"] == {"actionType", "tenantName", "depName", "serviceName", "serviceVersion"}
    assert inputs["vmAction"] == {"actionType", "vmName", "force"}
    assert inputs["vmBackupAction"] == {"vmName", "backupName", "actionType", "destination"}
    assert inputs["snapshotAction"] == {"actionType", "snapshot"}
    assert inputs["recoveryVmAction"] == {"actionType", "vmName"}
    notification = m.search_one("notification", "escEvent")  # type: ignore[attr-defined]
    leaves = {leaf.arg for leaf in notification.search("leaf")}
    assert leaves == {"status", "status_code", "status_message", "depname", "tenant", "tenant_id", "depid", "vm_group"}
    source = {leaf.arg for leaf in notification.search_one("container", "vm_source").search("leaf")}
    assert source == {"vmid", "vmname", "generated_vmname", "vim_id", "vim_project", "vim_project_id",
                      "hostid", "hostname"}
    target = notification.search_one("container", "vm_target")
    assert {leaf.arg for leaf in target.search("leaf")} == {"vmid", "hostid", "hostname"}
    for parent in (notification.search_one("container", "vm_source"), target):
        assert parent.search_one("uses").arg == "event_interfaces"
