"""YangModel: loading, get-schema, schema look-ups, and validation errors in RFC 6241 shape."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from copy import deepcopy
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.netconf import editconfig, incremental
from esc_netconf.netconf.editconfig import edit_in_place
from esc_netconf.netconf.errors import BASE_NS, ErrorTag, NetconfError, NetconfErrors
from esc_netconf.netconf.yangmodel import YangModel, YangModelError
from tests.gilshare_pauses import every_look_pauses

YANG_DIR = Path(__file__).resolve().parents[3] / "yang"
ESC = "http://www.cisco.com/esc/esc"
NSMAP = {"esc": ESC}
DEP = "/esc:esc_datamodel/esc:tenants/esc:tenant[esc:name='t']/esc:deployments/esc:deployment[esc:name='d']"
GROUP = "<vm_group><name>g</name><image>cirros</image><flavor>m1.tiny</flavor>{}</vm_group>"


@pytest.fixture(scope="module")
def model() -> YangModel:
    return YangModel.load(YANG_DIR)


def data(deployment_body: str) -> etree._Element:
    return etree.fromstring(
        f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name>'
        f"<deployments><deployment><name>d</name>{deployment_body}</deployment></deployments>"
        "</tenant></tenants></esc_datamodel></data>")


def errors_of(fn: object, element: etree._Element) -> list[NetconfError]:
    with pytest.raises(NetconfError) as caught:
        fn(element)  # type: ignore[operator]
    return list(caught.value)


def rpc(name: str, body: str) -> etree._Element:
    return etree.fromstring(f'<{name} xmlns="{ESC}">{body}</{name}>')


# ---------------------------------------------------------------- loading and get-schema

def test_modules_and_capabilities(model: YangModel) -> None:
    names = {m.name: m for m in model.modules}
    assert {"esc", "ietf-inet-types", "ietf-yang-types"} <= set(names)
    esc = names["esc"]
    assert (esc.revision, esc.namespace, esc.prefix) == ("2026-11-25", ESC, "esc")
    assert esc.text == (YANG_DIR / "esc.yang").read_text(encoding="utf-8")
    assert f"{ESC}?module=esc&revision=2026-11-25" in model.capabilities()
    # import-only modules are served and listed by the YANG library, not announced as implemented
    assert not names["ietf-inet-types"].implemented
    assert not any("module=ietf-inet-types" in c for c in model.capabilities())


def test_schema_text(model: YangModel) -> None:
    text = model.schema_text("esc", None)
    assert text.startswith("module esc {")
    assert model.schema_text("esc", "2026-11-25") == text
    assert "module ietf-inet-types" in model.schema_text("ietf-inet-types", "")
    with pytest.raises(NetconfError) as unknown:
        model.schema_text("nope", None)
    assert unknown.value.tag is ErrorTag.INVALID_VALUE
    with pytest.raises(NetconfError) as version:
        model.schema_text("esc", "1999-01-01")
    assert version.value.tag is ErrorTag.INVALID_VALUE  # RFC 6022: the requested schema does not exist


def test_broken_module_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bad.yang").write_text("module bad { namespace urn:bad; prefix b; leaf x { type nosuch; } }")
    with pytest.raises(YangModelError):
        YangModel.load(tmp_path)
    with pytest.raises(YangModelError):
        YangModel.load(tmp_path / "empty-dir-that-does-not-exist")


def test_node_info(model: YangModel) -> None:
    root = f"{{{ESC}}}esc_datamodel"
    tenant = model.node([root, f"{{{ESC}}}tenants", f"{{{ESC}}}tenant"])
    assert tenant is not None and (tenant.kind, tenant.keys, tenant.config) == ("list", (f"{{{ESC}}}name",), True)
    path = [root, f"{{{ESC}}}tenants", f"{{{ESC}}}tenant", f"{{{ESC}}}deployments", f"{{{ESC}}}deployment",
            f"{{{ESC}}}vm_group"]
    bootup = model.node([*path, f"{{{ESC}}}bootup_time"])
    assert bootup is not None and (bootup.kind, bootup.default) == ("leaf", "300")
    image = model.node([*path, f"{{{ESC}}}image"])
    assert image is not None and image.mandatory
    ips = model.node([*path, f"{{{ESC}}}scaling", f"{{{ESC}}}static_ip_address_pool", f"{{{ESC}}}ip_address"])
    assert ips is not None and ips.kind == "leaf-list"
    opdata = model.node([root, f"{{{ESC}}}opdata"])
    assert opdata is not None and (opdata.kind, opdata.config) == ("container", False)
    assert model.node([root, f"{{{ESC}}}nope"]) is None
    assert model.node(["{urn:other}esc_datamodel"]) is None


def test_has_rpc(model: YangModel) -> None:
    for name in ("serviceAction", "vmAction", "vmBackupAction", "snapshotAction", "recoveryVmAction"):
        assert model.has_rpc(f"{{{ESC}}}{name}")
    assert not model.has_rpc(f"{{{ESC}}}esc_datamodel")
    assert not model.has_rpc("{urn:other}vmAction")


# ---------------------------------------------------------------- config validation

def test_valid_config(model: YangModel) -> None:
    body = GROUP.format(
        "<bootup_time>-1</bootup_time><interfaces><interface><nicid>0</nicid><network>net-mgmt</network>"
        "<ip_address>10.0.0.5</ip_address></interface></interfaces>"
        "<volumes><volume><name>v</name><size>2</size><sizeunit>GiB</sizeunit><bus>scsi</bus></volume></volumes>"
        "<scaling><min_active>2</min_active><max_active>4</max_active><static_ip_address_pool><network>n</network>"
        "<ip_address>10.0.0.6</ip_address><ip_address>10.0.0.7</ip_address></static_ip_address_pool></scaling>"
        "<kpi_data><kpi><event_name>VM_ALIVE</event_name><metric_value>1</metric_value><metric_cond>GT</metric_cond>"
        "<metric_type>UINT32</metric_type><metric_collector><type>ICMPPing</type><nicid>0</nicid>"
        "<poll_frequency>3</poll_frequency><polling_unit>seconds</polling_unit></metric_collector></kpi></kpi_data>"
        "<rules><admin_rules><rule><event_name>VM_ALIVE</event_name><action>ALWAYS log</action></rule></admin_rules>"
        "</rules><locator><vim_id>default</vim_id><vim_project>p</vim_project></locator>")
    second = "<vm_group><name>h</name><image>i</image><flavor>f</flavor></vm_group>"
    policies = ("<policies><startup><target_vm_group_ref>g</target_vm_group_ref><depends_on>"
                "<vm_group_ref>h</vm_group_ref></depends_on></startup></policies>")
    model.validate_config(data(body + second + policies))


def test_unknown_element(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data(GROUP.format("<colour>red</colour>")))
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT
    assert error.info == {"bad-element": "colour"}
    assert error.path == f"{DEP}/esc:vm_group[esc:name='g']"
    assert error.path_nsmap == NSMAP


def test_unknown_namespace(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data('<x:y xmlns:x="urn:x"/>'))
    assert error.tag is ErrorTag.UNKNOWN_NAMESPACE
    assert error.info == {"bad-element": "y", "bad-namespace": "urn:x"}


def test_state_data_is_not_config(model: YangModel) -> None:
    element = etree.fromstring(f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><opdata/></esc_datamodel></data>')
    [error] = errors_of(model.validate_config, element)
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT
    assert "state data" in error.message


@pytest.mark.parametrize(("leaf", "value", "words"), [
    ("bootup_time", "-5", "bootup_time must be -1 (wait forever) or a positive number of seconds"),
    ("bootup_time", "soon", "expected int32"),
    ("recovery_wait_time", "-1", "expected int32 in range 0..2147483647"),
    ("flavor", "x" * 256, "length 1..255"),
])
def test_invalid_value(model: YangModel, leaf: str, value: str, words: str) -> None:
    body = f"<vm_group><name>g</name><image>i</image><flavor>f</flavor><{leaf}>{value}</{leaf}></vm_group>"
    if leaf == "flavor":
        body = f"<vm_group><name>g</name><image>i</image><flavor>{value}</flavor></vm_group>"
    [error] = errors_of(model.validate_config, data(body))
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.path == f"{DEP}/esc:vm_group[esc:name='g']/esc:{leaf}"
    assert words in error.message and leaf in error.message


def test_invalid_enum_and_address(model: YangModel) -> None:
    body = GROUP.format("<volumes><volume><name>v</name><bus>usb</bus></volume></volumes>"
                        "<interfaces><interface><nicid>0</nicid><network>n</network>"
                        "<ip_address>10.0.0.300</ip_address></interface></interfaces>")
    bus, address = errors_of(model.validate_config, data(body))
    assert isinstance(bus, NetconfError) and bus.tag is ErrorTag.INVALID_VALUE
    assert "one of virtio, ide, scsi" in bus.message
    assert bus.path == f"{DEP}/esc:vm_group[esc:name='g']/esc:volumes/esc:volume[esc:name='v']/esc:bus"
    assert address.path == (f"{DEP}/esc:vm_group[esc:name='g']/esc:interfaces/esc:interface[esc:nicid='0']"
                            "/esc:ip_address")


def test_all_parse_errors_are_reported_together(model: YangModel) -> None:
    with pytest.raises(NetconfErrors) as caught:
        model.validate_config(data(GROUP.format("<bootup_time>x</bootup_time><bogus/>")))
    assert [e.tag for e in caught.value] == [ErrorTag.INVALID_VALUE, ErrorTag.UNKNOWN_ELEMENT]
    assert len(caught.value.to_elements()) == 2


def test_missing_mandatory(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data("<vm_group><name>g</name><image>i</image></vm_group>"))
    assert error.tag is ErrorTag.DATA_MISSING
    assert error.path == f"{DEP}/esc:vm_group[esc:name='g']/esc:flavor"
    assert "flavor" in error.message


def test_missing_key(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data("<vm_group><image>i</image><flavor>f</flavor></vm_group>"))
    assert error.tag is ErrorTag.MISSING_ELEMENT
    assert error.info == {"bad-element": "name"}


def test_duplicate_leaf(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data(GROUP.format("<image>other</image>")))
    assert error.tag is ErrorTag.BAD_ELEMENT


def test_must_violation(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data(GROUP.format("<scaling><min_active>3</min_active></scaling>")))
    assert error.tag is ErrorTag.OPERATION_FAILED
    assert error.message == "scaling: min_active must be less than or equal to max_active"
    assert error.path == f"{DEP}/esc:vm_group[esc:name='g']/esc:scaling"
    model.validate_config(data(GROUP.format("<scaling><min_active>3</min_active><max_active>3</max_active></scaling>")))


def test_leafref_and_self_dependency(model: YangModel) -> None:
    policy = ("<policies><startup><target_vm_group_ref>g</target_vm_group_ref><depends_on>"
              "<vm_group_ref>{}</vm_group_ref></depends_on></startup></policies>")
    [dangling] = errors_of(model.validate_config, data(GROUP.format("") + policy.format("h")))
    assert (dangling.tag, dangling.app_tag) == (ErrorTag.DATA_MISSING, "instance-required")
    assert dangling.path == (f"{DEP}/esc:policies/esc:startup[esc:target_vm_group_ref='g']"
                             "/esc:depends_on[esc:vm_group_ref='h']/esc:vm_group_ref")
    assert "vm_group" in dangling.message and "'h'" in dangling.message
    [itself] = errors_of(model.validate_config, data(GROUP.format("") + policy.format("g")))
    assert itself.tag is ErrorTag.OPERATION_FAILED
    assert itself.message == "a vm_group cannot depend on itself"


def test_error_path_renders_with_prefixes(model: YangModel) -> None:
    [error] = errors_of(model.validate_config, data(GROUP.format("<bootup_time>x</bootup_time>")))
    element = error.to_element()
    path = element.find(f"{{{BASE_NS}}}error-path")
    assert path is not None and path.nsmap.get("esc") == ESC
    assert element.findtext(f"{{{BASE_NS}}}error-tag") == "invalid-value"


def test_invalid_config_is_never_cached(model: YangModel) -> None:
    element = data(GROUP.format("<bootup_time>0</bootup_time>"))
    for _ in range(2):
        errors_of(model.validate_config, element)


def test_two_hundred_deployments_validate_quickly(model: YangModel) -> None:
    group = GROUP.format("<interfaces><interface><nicid>0</nicid><network>n</network></interface></interfaces>"
                         "<scaling><min_active>1</min_active><max_active>2</max_active></scaling>")
    deployments = "".join(f"<deployment><name>d{i}</name>{group}</deployment>" for i in range(200))
    element = etree.fromstring(
        f'<data xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>t</name>'
        f"<deployments>{deployments}</deployments></tenant></tenants></esc_datamodel></data>")
    started = time.perf_counter()
    model.validate_config(element)
    assert time.perf_counter() - started < 5.0


# ---------------------------------------------------------------- RPC input

def test_rpc_input_valid_with_defaults(model: YangModel) -> None:
    model.validate_rpc_input(rpc("vmAction", "<actionType>STOP</actionType><vmName>vm</vmName>"))
    filled = model.rpc_input_with_defaults(rpc("vmAction", "<actionType>STOP</actionType><vmName>vm</vmName>"))
    assert filled.findtext(f"{{{ESC}}}force") == "false"
    backup = model.rpc_input_with_defaults(rpc("vmBackupAction", "<vmName>vm</vmName><backupName>b</backupName>"))
    assert backup.findtext(f"{{{ESC}}}actionType") == "SNAPSHOT"
    explicit = model.rpc_input_with_defaults(
        rpc("vmAction", "<actionType>STOP</actionType><vmName>vm</vmName><force>true</force>"))
    assert [c.text for c in explicit.iter(f"{{{ESC}}}force")] == ["true"]


def test_rpc_missing_mandatory(model: YangModel) -> None:
    [error] = errors_of(model.validate_rpc_input, rpc("vmAction", "<actionType>STOP</actionType>"))
    assert error.tag is ErrorTag.MISSING_ELEMENT
    assert error.info == {"bad-element": "vmName"}
    assert error.path == "/esc:vmAction/esc:vmName"
    [error] = errors_of(model.validate_rpc_input, rpc("serviceAction", "<actionType>START</actionType>"
                                                                        "<tenantName>t</tenantName>"))
    assert error.info == {"bad-element": "depName"}


@pytest.mark.parametrize(("name", "body", "leaf"), [
    ("vmAction", "<actionType>JUMP</actionType><vmName>vm</vmName>", "actionType"),
    ("vmAction", "<actionType>STOP</actionType><vmName>vm</vmName><force>yes</force>", "force"),
    ("vmBackupAction", f"<vmName>vm</vmName><backupName>{'b' * 256}</backupName>", "backupName"),
    ("snapshotAction", "<actionType>CREATE</actionType><snapshot>s</snapshot>", "actionType"),
    ("recoveryVmAction", "<actionType>DO</actionType><vmName></vmName>", "vmName"),
])
def test_rpc_invalid_value(model: YangModel, name: str, body: str, leaf: str) -> None:
    [error] = errors_of(model.validate_rpc_input, rpc(name, body))
    assert error.tag is ErrorTag.INVALID_VALUE
    assert error.path == f"/esc:{name}/esc:{leaf}"
    assert leaf in error.message


def test_rpc_unknown_parameter_and_operation(model: YangModel) -> None:
    [error] = errors_of(model.validate_rpc_input, rpc("recoveryVmAction", "<actionType>DO</actionType>"
                                                                           "<vmName>v</vmName><when>now</when>"))
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT and error.info == {"bad-element": "when"}
    [error] = errors_of(model.validate_rpc_input, rpc("deployAll", ""))
    assert error.tag is ErrorTag.UNKNOWN_ELEMENT and error.info == {"bad-element": "deployAll"}


def test_validation_in_a_worker_thread_pauses_for_the_loop_and_on_the_loop_does_not(
        model: YangModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """yangson's walks call ``gilshare.breathe`` per container and list entry (``yangson_pauses``)."""
    pauses = every_look_pauses(monkeypatch)
    config = data(GROUP.format("") + GROUP.replace("<name>g</name>", "<name>h</name>").format(""))

    async def on_the_loop() -> None:
        model.validate_config(config)
        pauses_on_the_loop.extend(pauses)
        await asyncio.to_thread(model.validate_config, data(GROUP.format("<bootup_time>30</bootup_time>")))  # not cached

    pauses_on_the_loop: list[float] = []
    asyncio.run(on_the_loop())
    assert pauses_on_the_loop == []
    assert len(pauses) >= 6  # data, tenants, tenant, deployments, deployment, vm_group: each walk


def test_an_edit_s_walk_and_the_tree_it_validates_pause_for_the_loop_per_element(
        model: YangModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bulk edit is walked, and its changed part copied for validation, in a worker thread: both call
    ``gilshare.breathe`` per element they go into (the loop waited behind them, ``bench/deploy_scale.py``)."""
    calls: Counter[str] = Counter()
    monkeypatch.setattr(editconfig, "breathe", lambda: calls.update(["walk"]))
    monkeypatch.setattr(incremental, "breathe", lambda: calls.update(["copy"]))
    running = data(GROUP.format(""))
    twin = deepcopy(running)
    deployments = "".join(f"<deployment><name>n{n}</name>{GROUP.format('')}</deployment>" for n in range(20))
    edit = etree.fromstring(f'<config xmlns="{BASE_NS}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                            f"<name>t</name><deployments>{deployments}</deployments></tenant></tenants>"
                            "</esc_datamodel></config>")
    edited, _ = edit_in_place(twin, edit, model)
    model.validate_edit(running, edited)
    elements = sum(1 for _ in edit.iter()) - 1
    assert calls["walk"] >= elements  # every element of the edit
    assert calls["copy"] >= 20 * 2  # every deployment and its vm_group
