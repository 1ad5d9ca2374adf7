"""Deployment files written for ESC (its guides' shapes and NSO's NFVO output) against a live server.

Each file under ``tests/data/esc_guides`` is sent unchanged by ncclient and by netconf-console2 (a
subprocess): the edit is accepted, the deployment reaches SERVICE_ALIVE (seen by an escEvent
subscriber and in opdata), and get-config returns every element the file holds. Documents that break
ESC's model get the rpc-error an operator can act on, and leave the running config as it was.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError

from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess
from tests.integration.test_real_clients import console

GUIDES = Path(__file__).resolve().parents[1] / "data" / "esc_guides"
YANG_DIR = Path(__file__).resolve().parents[2] / "yang"
ESC = "http://www.cisco.com/esc/esc"
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NS = {"e": ESC}
GUIDE_FILES = ("deployment_attributes.xml", "day0_configuration.xml", "kpi_rules.xml", "nso_nfvo.xml")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("guides") / "data", properties=FAST_PROPERTIES).start()
    yield proc
    if proc.running():
        proc.stop()


def connect(server: ServerProcess) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=server.netconf_port, username="admin", password="admin",
                           hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30)


def guide_document(name: str, tmp_path: Path) -> Path:
    """The guide file as sent. Only a day-0 ``<file>`` URL is pointed at this checkout's copy of the
    template, since the guide's path exists on an ESC VM, not here."""
    document = etree.parse(str(GUIDES / name), etree.XMLParser(resolve_entities=False, no_network=True))
    for url in document.iterfind(".//e:config_data/e:configuration/e:file", NS):
        url.text = (GUIDES / "day0" / Path(url.text or "").name).as_uri()
    path = tmp_path / name
    document.write(str(path), xml_declaration=True, encoding="UTF-8")
    return path


def canonical(element: etree._Element) -> str:
    """A tree as text with children sorted, so two trees that differ only in element order compare equal."""
    children = sorted(canonical(c) for c in element if isinstance(c.tag, str))
    text = (element.text or "").strip() if not children else ""
    return f"<{etree.QName(element).localname}>{text}{''.join(children)}</>"


def deployment_of(document: etree._Element) -> tuple[str, str]:
    tenant = document.find("e:tenants/e:tenant", NS)
    assert tenant is not None
    return tenant.findtext("e:name", namespaces=NS) or "", tenant.findtext(
        "e:deployments/e:deployment/e:name", namespaces=NS) or ""


def selector(tenant: str) -> str:
    return f"esc_datamodel/tenants/tenant[name='{tenant}']"


def send_with_ncclient(server: ServerProcess, path: Path, tenant: str, dep: str) -> etree._Element:
    with connect(server) as nc:
        config = f'<config xmlns="{BASE}">{path.read_text().split("?>", 1)[1]}</config>'
        nc.edit_config(target="running", config=config)
        return nc.get_config(source="running", filter=("xpath", selector(tenant))).data_ele


def send_with_console(server: ServerProcess, path: Path, tenant: str, dep: str) -> etree._Element:
    edit = console(server, "--edit-config", str(path))
    assert edit.returncode == 0 and "<ok " in edit.stdout, edit.stdout + edit.stderr
    got = console(server, "--get-config", "-x", selector(tenant))
    assert got.returncode == 0, got.stderr
    return etree.fromstring(got.stdout.encode(), etree.XMLParser(resolve_entities=False, no_network=True))


def undeploy(server: ServerProcess, watcher: EventWatcher, tenant: str, dep: str) -> None:
    client = EscClient(server.netconf_port)
    try:
        client.edit(f'<config xmlns="{BASE}" xmlns:nc="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants><tenant>'
                    f'<name>{tenant}</name><deployments><deployment nc:operation="delete"><name>{dep}</name>'
                    "</deployment></deployments></tenant></tenants></esc_datamodel></config>")
    finally:
        client.close()
    watcher.until("SERVICE_UNDEPLOYED", timeout=60)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("client", ["ncclient", "netconf-console2"])
@pytest.mark.parametrize("name", GUIDE_FILES)
def test_guide_deployment_is_accepted_deployed_and_read_back(
    server: ServerProcess, tmp_path: Path, name: str, client: str
) -> None:
    path = guide_document(name, tmp_path)
    sent = etree.parse(str(path)).getroot()
    tenant, dep = deployment_of(sent)
    watcher = EventWatcher(server.netconf_port)
    try:
        send = send_with_ncclient if client == "ncclient" else send_with_console
        returned = send(server, path, tenant, dep)
        events = watcher.until("SERVICE_ALIVE", timeout=90)
        alive = [e for e in events if e.type == "SERVICE_ALIVE"][-1]
        assert (alive.status, alive.fields.get("depname")) == ("SUCCESS", dep), [(e.type, e.status) for e in events]
        stored = returned.find("e:esc_datamodel", NS)
        assert stored is not None, etree.tostring(returned)
        assert canonical(stored) == canonical(sent), etree.tostring(stored).decode()
        assert_libyang_accepts(stored, tmp_path / "returned.xml")
        opdata = EscClient(server.netconf_port)
        try:
            assert opdata.service_state(tenant, dep) == "SERVICE_ACTIVE_STATE"
        finally:
            opdata.close()
        undeploy(server, watcher, tenant, dep)
    finally:
        watcher.close()


def assert_libyang_accepts(config: etree._Element, path: Path) -> None:
    """libyang's yanglint, a validator independent of ours, accepts ``config`` (when it is installed)."""
    if shutil.which("yanglint") is None:
        return  # test_guide_files_are_valid_for_libyang reports the skip once
    path.write_bytes(etree.tostring(config))
    result = subprocess.run(["yanglint", "-p", str(YANG_DIR), "-t", "config", str(YANG_DIR / "esc.yang"), str(path)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), path.read_text()


def test_get_schema_serves_the_configuration_submodule(server: ServerProcess) -> None:
    with connect(server) as nc:
        text = nc.get_schema("esc-config").data
    assert text == (YANG_DIR / "esc-config.yang").read_text(encoding="utf-8")


def test_guide_files_are_valid_for_libyang(tmp_path: Path) -> None:
    """An independent validator agrees that the guide files are valid for the modules the server serves."""
    if shutil.which("yanglint") is None:
        pytest.skip("yanglint (Debian package libyang2-tools) is not installed")
    for name in GUIDE_FILES:
        result = subprocess.run(["yanglint", "-p", str(YANG_DIR), "-t", "config", str(YANG_DIR / "esc.yang"),
                                 str(guide_document(name, tmp_path))], capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), name


# ------------------------------------------------------------------ documents that break the model

def _group(body: str) -> str:
    return (f'<config xmlns="{BASE}"><esc_datamodel xmlns="{ESC}"><tenants><tenant><name>bad-tenant</name>'
            "<deployments><deployment><name>bad-dep</name><vm_group><name>g</name><image>cirros</image>"
            f"<flavor>m1.tiny</flavor>{body}</vm_group></deployment></deployments></tenant></tenants>"
            "</esc_datamodel></config>")


def _policies(body: str) -> str:
    return _group("").replace("</vm_group>", f"</vm_group><policies>{body}</policies>")


def _kpi(**fields: str) -> str:
    values = {"event_name": "VM_ALIVE", "metric_value": "1", "metric_cond": "GT", "metric_type": "UINT32"} | fields
    return "<kpi_data><kpi>" + "".join(f"<{k}>{v}</{k}>" for k, v in values.items()) + "</kpi></kpi_data>"


BAD_DOCUMENTS = {
    "metric_cond": (_group(_kpi(metric_cond="GTE")), "invalid-value", "metric_cond"),
    "metric_type": (_group(_kpi(metric_type="INT128")), "invalid-value", "metric_type"),
    "continuous_alarm": (_group(_kpi(metric_collector="<continuous_alarm>sometimes</continuous_alarm>")),
                         "invalid-value", "continuous_alarm"),
    "sizeunit": (_group("<volumes><volume><name>v</name><size>1</size><sizeunit>ZiB</sizeunit></volume></volumes>"),
                 "invalid-value", "sizeunit"),
    "interface type": (_group("<interfaces><interface><nicid>0</nicid><type>sriov</type><network>net-mgmt</network>"
                              "</interface></interfaces>"), "invalid-value", "type"),
    "day-0 file and data": (_group("<config_data><configuration><dst>a</dst><file>file:///x</file><data>x</data>"
                                   "</configuration></config_data>"), "unknown-element", "data"),
    "day-0 without template": (_group("<config_data><configuration><dst>a</dst></configuration></config_data>"),
                               "operation-failed", "needs a file, data or encrypted_data"),
    "day-0 variable without value": (_group("<config_data><configuration><dst>a</dst><data>$A</data><variable>"
                                            "<name>A</name></variable></configuration></config_data>"),
                                     "data-missing", "val"),
    "extension property": (_group("<extensions><extension><name>NSO</name><properties><property><value>1</value>"
                                  "</property></properties></extension></extensions>"), "missing-element", "name"),
    "placement on itself": (_policies("<placement><target_vm_group_ref>g</target_vm_group_ref><type>affinity</type>"
                                      "<vm_group_ref>g</vm_group_ref></placement>"),
                            "operation-failed", "cannot refer a vm_group to itself"),
    "placement group of an unknown group": (_policies("<placement_group><name>pg</name><type>anti_affinity</type>"
                                                      "<vm_group>nope</vm_group></placement_group>"),
                                            "data-missing", "nope"),
    "reversed address range": (_group(
        "<interfaces><interface><nicid>0</nicid><network>net-mgmt</network></interface></interfaces>"
        "<scaling><static_ip_address_pool><network>net-mgmt</network><ip_address_range><start>10.10.9.9</start>"
        "<end>10.10.9.1</end></ip_address_range></static_ip_address_pool></scaling>"),
        "invalid-value", "start is after end"),
}


@pytest.mark.parametrize("case", sorted(BAD_DOCUMENTS))
def test_a_document_breaking_the_model_is_refused_and_changes_nothing(server: ServerProcess, case: str) -> None:
    document, tag, words = BAD_DOCUMENTS[case]
    with connect(server) as nc:
        before = nc.get_config(source="running").data_xml
        with pytest.raises(RPCError) as refused:
            nc.edit_config(target="running", config=document)
        assert refused.value.tag == tag, refused.value.message
        assert words in (refused.value.message or ""), refused.value.message
        assert nc.get_config(source="running").data_xml == before
