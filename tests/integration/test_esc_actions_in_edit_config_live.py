"""ESC's developer guides send serviceAction, vmAction and recoveryVmAction inside ``<edit-config><config>``.

That form and the ``<rpc>`` form run the same validation and handler: the same work, the same events,
the same rpc-errors. Driven by ncclient and netconf-console2 against a live server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations import RPCError

from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, EventWatcher
from tests.integration.server_process import ServerProcess
from tests.integration.test_real_clients import console

ESC = samples.ESC_NS
BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
TENANT, DEP = "action-tenant", "action-dep"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("actions") / "data", properties=FAST_PROPERTIES).start()
    yield proc
    if proc.running():
        proc.stop()


@pytest.fixture(scope="module")
def deployed(server: ServerProcess) -> str:
    """A running one-VM deployment; returns its VM's generated name."""
    watcher = EventWatcher(server.netconf_port)
    client = EscClient(server.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, DEP, [samples.vm_group("g", max_active=1)]))
        events = watcher.until("SERVICE_ALIVE", timeout=60)
    finally:
        client.close()
        watcher.close()
    vm = next(e.vmname for e in events if e.type == "VM_ALIVE")
    assert vm
    return vm


@pytest.fixture
def nc(server: ServerProcess) -> Iterator[manager.Manager]:
    m = manager.connect(host="127.0.0.1", port=server.netconf_port, username="admin", password="admin",
                        hostkey_verify=False, allow_agent=False, look_for_keys=False, timeout=30)
    yield m
    m.close_session()


@pytest.fixture
def watcher(server: ServerProcess) -> Iterator[EventWatcher]:
    w = EventWatcher(server.netconf_port)
    yield w
    w.close()


def service_action(action: str, dep: str = DEP, *, extra: str = "") -> str:
    """As the guides write it, service name and version included and a stray space in depName."""
    return (f'<serviceAction xmlns="{ESC}"><actionType>{action}</actionType><tenantName>{TENANT}</tenantName>'
            f"<depName>{dep} </depName><serviceName>svc</serviceName><serviceVersion>1.0</serviceVersion>"
            f"{extra}</serviceAction>")


def in_config(*elements: str) -> str:
    return f'<config xmlns="{BASE}">{"".join(elements)}</config>'


def error_of(refused: pytest.ExceptionInfo[RPCError]) -> tuple[str | None, str | None, str | None, str | None]:
    """(error-tag, error-message, error-path, error_code) of a refusal."""
    error = refused.value
    xml = error.xml if isinstance(error.xml, etree._Element) else etree.fromstring(error.xml)
    ns = {"nc": BASE, "e": ESC}
    return (error.tag, error.message, xml.findtext("nc:error-path", namespaces=ns),
            xml.findtext("nc:error-info/e:error_code", namespaces=ns))


@pytest.mark.timeout(120)
def test_service_stop_and_start_sent_as_configuration(
    server: ServerProcess, deployed: str, nc: manager.Manager, watcher: EventWatcher, tmp_path: Path
) -> None:
    before = nc.get_config(source="running").data_xml
    nc.edit_config(target="running", config=in_config(service_action("STOP")))
    stopped = watcher.until("SERVICE_STOPPED", timeout=60)
    assert stopped[-1].status == "SUCCESS" and stopped[-1].fields["depname"] == DEP
    start = tmp_path / "start.xml"
    start.write_text(service_action("START"))
    result = console(server, "--edit-config", str(start))
    assert result.returncode == 0 and "<ok " in result.stdout, result.stdout + result.stderr
    alive = watcher.until("SERVICE_ALIVE", timeout=60)
    assert alive[-1].status == "SUCCESS"
    assert nc.get_config(source="running").data_xml == before, "an action is not configuration"


@pytest.mark.timeout(120)
def test_vm_reboot_and_recovery_sent_as_configuration(
    server: ServerProcess, deployed: str, nc: manager.Manager, watcher: EventWatcher, tmp_path: Path
) -> None:
    reboot = f'<vmAction xmlns="{ESC}"><actionType>REBOOT</actionType><vmName>{deployed}</vmName></vmAction>'
    nc.edit_config(target="running", config=in_config(reboot))
    rebooted = watcher.until("VM_REBOOTED", timeout=60)
    assert rebooted[-1].status == "SUCCESS" and rebooted[-1].vmname == deployed
    recover = tmp_path / "recover.xml"
    recover.write_text(f'<recoveryVmAction xmlns="{ESC}"><actionType>DO</actionType><vmName>{deployed}</vmName>'
                       "</recoveryVmAction>")
    result = console(server, "--edit-config", str(recover))
    assert result.returncode == 0 and "<ok " in result.stdout, result.stdout + result.stderr
    done = watcher.until("VM_RECOVERY_COMPLETE", timeout=90)
    assert done[-1].status == "SUCCESS"


REFUSED_ACTIONS = {
    "unknown deployment": service_action("STOP", dep="no-such-dep"),
    "missing actionType": f'<serviceAction xmlns="{ESC}"><tenantName>{TENANT}</tenantName><depName>{DEP}</depName>'
                          "</serviceAction>",
    "bad actionType": service_action("PAUSE"),
    "unknown VM": f'<vmAction xmlns="{ESC}"><actionType>STOP</actionType><vmName>no-such-vm</vmName></vmAction>',
    "unknown parameter": service_action("STOP", extra="<colour>red</colour>"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_ACTIONS))
def test_a_refused_action_gets_the_same_error_in_both_forms(deployed: str, nc: manager.Manager, case: str) -> None:
    operation = REFUSED_ACTIONS[case]
    with pytest.raises(RPCError) as as_rpc:
        nc.dispatch(etree.fromstring(operation))
    with pytest.raises(RPCError) as as_config:
        nc.edit_config(target="running", config=in_config(operation))
    assert error_of(as_config) == error_of(as_rpc)
    assert as_rpc.value.message


def test_an_action_shares_its_edit_config_with_nothing(deployed: str, nc: manager.Manager) -> None:
    before = nc.get_config(source="running").data_xml
    mixed = in_config(service_action("STOP"), f'<esc_datamodel xmlns="{ESC}"><tenants><tenant><name>mixed-tenant'
                                              "</name></tenant></tenants></esc_datamodel>")
    with pytest.raises(RPCError) as refused:
        nc.edit_config(target="running", config=mixed)
    assert refused.value.tag == "bad-element"
    assert "serviceAction" in (refused.value.message or "") and "esc_datamodel" in (refused.value.message or "")
    assert nc.get_config(source="running").data_xml == before
    assert_service_active(nc)


def test_test_only_validates_an_action_without_running_it(
    deployed: str, nc: manager.Manager, watcher: EventWatcher
) -> None:
    nc.edit_config(target="running", config=in_config(service_action("STOP")), test_option="test-only")
    with pytest.raises(RPCError) as refused:
        nc.edit_config(target="running", config=in_config(service_action("PAUSE")), test_option="test-only")
    assert refused.value.tag == "invalid-value"
    reboot = f'<vmAction xmlns="{ESC}"><actionType>REBOOT</actionType><vmName>{deployed}</vmName></vmAction>'
    nc.dispatch(etree.fromstring(reboot))
    seen = [e.type for e in watcher.until("VM_REBOOTED", timeout=60)]
    assert "SERVICE_STOPPED" not in seen and "VM_STOPPED" not in seen, seen
    assert_service_active(nc)


def assert_service_active(nc: manager.Manager) -> None:
    reply = nc.get(filter=("xpath", f"esc_datamodel/opdata/tenants/tenant[name='{TENANT}']/deployments"
                                    f"[deployment_name='{DEP}']/state_machine/state"))
    assert reply.data_ele.xpath("//e:state/text()", namespaces={"e": ESC}) == ["SERVICE_ACTIVE_STATE"]
