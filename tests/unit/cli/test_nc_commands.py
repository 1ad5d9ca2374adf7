"""esc_nc_cli's argument checks and the requests they produce: every refusal happens before sending."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.cli.errors import UsageError
from esc_netconf.cli.esc_nc_cli import build_parser, command_listing
from esc_netconf.cli.nc_commands import BY_NAME
from esc_netconf.cli.nc_requests import (
    BASE_NS,
    ESC_NS,
    EditConfigRequest,
    GetRequest,
    NotificationsRequest,
    SnapshotActionRequest,
    VmActionRequest,
    VmBackupRequest,
)

E = f"{{{ESC_NS}}}"
B = f"{{{BASE_NS}}}"


def request(*argv: str) -> object:
    args = build_parser().parse_args(list(argv))
    return BY_NAME[args.command].request(args)


def leaves(element: etree._Element) -> dict[str, str]:
    return {etree.QName(child).localname: child.text or "" for child in element}


def refusal(*argv: str) -> str:
    with pytest.raises(UsageError) as info:
        request(*argv)
    return info.value.message


# --- the help listing --------------------------------------------------------------------------------------


def test_help_lists_vm_backup_action_exactly_as_the_seed() -> None:
    lines = command_listing().splitlines()
    index = lines.index("VM Backup Action : vm-backup-action vm-name backup-name [<action-type>] [<xmlfile>]")
    assert lines[index + 1] == "  action-type := SNAPSHOT|EXPORT"


@pytest.mark.parametrize(
    "name", ["vm-backup-action", "snapshot-action", "vm-action", "service-action", "recovery-vm-action",
             "edit-config", "delete-dep", "get-config", "get", "notif"],
)
def test_help_lists_every_contract_command(name: str) -> None:
    entries = [line for line in command_listing().splitlines() if " : " in line]
    assert any(line.split(" : ", 1)[1].split()[0] == name for line in entries)


# --- vm-backup-action ---------------------------------------------------------------------------------------


def test_vm_backup_defaults_to_snapshot() -> None:
    req = request("vm-backup-action", "dep_g_0_abc", "my-snapshot-name")
    assert isinstance(req, VmBackupRequest)
    element = req.to_element()
    assert element.tag == f"{E}vmBackupAction"
    assert leaves(element) == {"vmName": "dep_g_0_abc", "backupName": "my-snapshot-name", "actionType": "SNAPSHOT"}


def test_vm_backup_accepts_export_in_any_case() -> None:
    req = request("vm-backup-action", "vm", "b", "export")
    assert leaves(req.to_element())["actionType"] == "EXPORT"  # type: ignore[attr-defined]


def test_vm_backup_refuses_an_unknown_action_type() -> None:
    message = refusal("vm-backup-action", "vm", "b", "BACKUP")
    assert "[BACKUP]" in message and "SNAPSHOT|EXPORT" in message


def test_vm_backup_refuses_a_name_over_255_characters() -> None:
    assert "255" in refusal("vm-backup-action", "vm", "x" * 256)
    assert isinstance(request("vm-backup-action", "vm", "x" * 255), VmBackupRequest)


def test_vm_backup_refuses_a_vm_name_over_255_characters() -> None:
    assert "VM name" in refusal("vm-backup-action", "v" * 256, "b")


def test_vm_backup_xmlfile_adds_rpc_input(tmp_path: Path) -> None:
    xml = tmp_path / "extra.xml"
    xml.write_text("<vmBackupAction><destination>/backups/vm1</destination></vmBackupAction>")
    element = request("vm-backup-action", "vm", "b", "EXPORT", str(xml)).to_element()  # type: ignore[attr-defined]
    assert element.find(f"{E}destination").text == "/backups/vm1"


def test_vm_backup_refuses_a_missing_xmlfile(tmp_path: Path) -> None:
    assert "does not exist" in refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(tmp_path / "nope.xml"))


def test_vm_backup_refuses_an_unreadable_xmlfile(tmp_path: Path) -> None:
    assert "directory" in refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(tmp_path))


@pytest.mark.parametrize("content", ["<vmBackupAction><destination>x</vmBackupAction>", "", "not xml"])
def test_vm_backup_refuses_an_xmlfile_that_is_not_well_formed(tmp_path: Path, content: str) -> None:
    xml = tmp_path / "bad.xml"
    xml.write_text(content)
    message = refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(xml))
    assert str(xml) in message and "valid XML document" in message


def test_vm_backup_refuses_an_xmlfile_with_a_dtd(tmp_path: Path) -> None:
    xml = tmp_path / "dtd.xml"
    xml.write_text('<!DOCTYPE x [<!ENTITY e "boom">]><vmBackupAction><destination>&e;</destination></vmBackupAction>')
    assert "valid XML document" in refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(xml))


def test_vm_backup_refuses_an_xmlfile_overriding_the_command_line(tmp_path: Path) -> None:
    xml = tmp_path / "x.xml"
    xml.write_text("<vmBackupAction><vmName>other</vmName></vmBackupAction>")
    assert "<vmName>" in refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(xml))


def test_vm_backup_refuses_an_xmlfile_of_another_kind(tmp_path: Path) -> None:
    xml = tmp_path / "x.xml"
    xml.write_text("<esc_datamodel/>")
    assert "<vmBackupAction" in refusal("vm-backup-action", "vm", "b", "SNAPSHOT", str(xml))


# --- snapshot-action, vm-action, service-action, recovery ----------------------------------------------------


@pytest.mark.parametrize("argv", [("delete", "my-snapshot-name"), ("DELETE", "my-snapshot-name"), ("my-snapshot-name",)])
def test_snapshot_action_delete(argv: tuple[str, ...]) -> None:
    req = request("snapshot-action", *argv)
    assert isinstance(req, SnapshotActionRequest)
    assert leaves(req.to_element()) == {"actionType": "DELETE", "snapshot": "my-snapshot-name"}


def test_snapshot_action_refuses_unknown_action_and_extra_words() -> None:
    assert "DELETE" in refusal("snapshot-action", "purge", "s")
    assert "3 words" in refusal("snapshot-action", "delete", "a", "b")
    assert "255" in refusal("snapshot-action", "delete", "s" * 256)


@pytest.mark.parametrize("word, force", [(None, False), ("force", True), ("true", True), ("false", False)])
def test_vm_action(word: str | None, force: bool) -> None:
    argv = ["vm-action", "stop", "vm1"] + ([word] if word else [])
    req = request(*argv)
    assert isinstance(req, VmActionRequest)
    assert leaves(req.to_element()) == {"actionType": "STOP", "vmName": "vm1", "force": str(force).lower()}


def test_vm_action_refusals() -> None:
    assert "START|STOP|REBOOT|ENABLE_MONITOR|DISABLE_MONITOR" in refusal("vm-action", "PAUSE", "vm1")
    assert "[force]" in refusal("vm-action", "STOP", "vm1", "now")


def test_service_action() -> None:
    element = request("service-action", "REBOOT", "t1", "d1").to_element()  # type: ignore[attr-defined]
    assert element.tag == f"{E}serviceAction"
    assert leaves(element) == {"actionType": "REBOOT", "tenantName": "t1", "depName": "d1"}
    assert "deployment name" in refusal("service-action", "START", "t1", "d" * 256)


def test_recovery_vm_action() -> None:
    element = request("recovery-vm-action", "do", "vm1").to_element()  # type: ignore[attr-defined]
    assert leaves(element) == {"actionType": "DO", "vmName": "vm1"}
    assert "DO" in refusal("recovery-vm-action", "UNDO", "vm1")


# --- configuration and reads ---------------------------------------------------------------------------------


def test_edit_config_wraps_an_esc_datamodel_document(tmp_path: Path) -> None:
    xml = tmp_path / "dep.xml"
    xml.write_text(f'<esc_datamodel xmlns="{ESC_NS}"><tenants/></esc_datamodel>')
    req = request("edit-config", str(xml))
    assert isinstance(req, EditConfigRequest)
    element = req.to_element()
    assert element.find(f"{B}target/{B}running") is not None
    assert element.find(f"{B}config/{E}esc_datamodel/{E}tenants") is not None


def test_edit_config_takes_a_config_element_as_it_is(tmp_path: Path) -> None:
    xml = tmp_path / "dep.xml"
    xml.write_text(f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC_NS}"/></config>')
    element = request("edit-config", str(xml)).to_element()  # type: ignore[attr-defined]
    assert [child.tag for child in element.find(f"{B}config")] == [f"{E}esc_datamodel"]


def test_edit_config_refuses_a_bad_file(tmp_path: Path) -> None:
    xml = tmp_path / "dep.xml"
    xml.write_text("<esc_datamodel>")
    assert "valid XML document" in refusal("edit-config", str(xml))


def test_delete_dep_marks_the_deployment_for_deletion() -> None:
    element = request("delete-dep", "t1", "d1").to_element()  # type: ignore[attr-defined]
    dep = element.find(f"{B}config/{E}esc_datamodel/{E}tenants/{E}tenant/{E}deployments/{E}deployment")
    assert dep.get(f"{B}operation") == "delete"
    assert dep.findtext(f"{E}name") == "d1"
    assert element.findtext(f".//{E}tenant/{E}name") == "t1"


def test_names_are_sent_as_data_never_as_markup() -> None:
    element = request("delete-dep", "t<1>&", "d1").to_element()  # type: ignore[attr-defined]
    assert element.findtext(f".//{E}tenant/{E}name") == "t<1>&"


def test_get_config_and_get_filters() -> None:
    plain = request("get-config")
    assert isinstance(plain, GetRequest)
    assert plain.to_element().find(f"{B}filter") is None
    filtered = request("get", "esc_datamodel/opdata").to_element()  # type: ignore[attr-defined]
    assert filtered.tag == f"{B}get"
    assert filtered.find(f"{B}filter").get("select") == "esc_datamodel/opdata"
    assert filtered.find(f"{B}filter").get("type") == "xpath"
    assert "empty" in refusal("get", " ")


def test_notif_subscribes_to_esc_event() -> None:
    assert request("notif") == NotificationsRequest("escEvent")
