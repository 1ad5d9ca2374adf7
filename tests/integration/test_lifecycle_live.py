"""Deploy, operate and undeploy a composite VNF through NETCONF on a live server with the simulated VIM.

Each step checks the escEvents it must produce (types, order, status, codes and the identifying fields)
and the opdata an operator would read afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf.vim.base import ServerStatus
from tests.integration import samples
from tests.integration.esc_client import NS, EscClient, Event, EventWatcher, RpcFailed
from tests.integration.server_process import ServerProcess

TENANT, DEP = "lifecycle-tenant", "composite-dep"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def composite() -> str:
    return samples.deployment(
        TENANT, DEP,
        [
            samples.vm_group("db", min_active=1, max_active=1),
            samples.vm_group("web", min_active=2, max_active=3, network="net-data",
                             pool=["10.20.0.2", "10.20.0.3", "10.20.0.4"]),
        ],
        depends={"web": ["db"]},
    )


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


def assert_success(events: list[Event]) -> None:
    for event in events:
        assert event.status == "SUCCESS", event
        assert event.status_code in ("200", "201", "202"), event
        assert event.fields["tenant"] == TENANT and event.fields["depname"] == DEP, event
        assert re.fullmatch(UUID, event.fields["depid"]), event


@pytest.fixture
def deployed(server: ServerProcess) -> Iterator[tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]]:
    client, watcher = EscClient(server.netconf_port), EventWatcher(server.netconf_port)
    client.edit(composite())
    events = watcher.until("SERVICE_ALIVE")
    vm_names = {e.vmname: e.fields["vm_group"] for e in events if e.type == "VM_ALIVE"}
    yield server, client, watcher, vm_names  # type: ignore[misc]
    client.close()
    watcher.close()


def test_deploy_composite_in_dependency_order(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    server, client, watcher, vms = deployed
    created, *events = watcher.events
    assert (created.type, created.status, created.fields["tenant"]) == ("CREATE_TENANT", "SUCCESS", TENANT)
    assert_success(events)
    assert types(events).count("VM_DEPLOYED") == 3 and types(events).count("VM_ALIVE") == 3
    assert types(events)[-1] == "SERVICE_ALIVE"
    # the db group is alive before any web VM is deployed
    db_alive = next(i for i, e in enumerate(events) if e.type == "VM_ALIVE" and e.fields["vm_group"] == "db")
    first_web = next(i for i, e in enumerate(events) if e.type == "VM_DEPLOYED" and e.fields["vm_group"] == "web")
    assert db_alive < first_web
    for name, group in vms.items():
        assert re.fullmatch(rf"{DEP}_{group}_\d+_{UUID}", name), name
    alive = next(e for e in events if e.type == "VM_ALIVE")
    source = alive.fields["vm_source"]
    assert source["generated_vmname"] == source["vmname"]
    assert source["vim_project"] == TENANT and source["vim_project_id"] and source["hostname"]

    assert client.service_state(TENANT, DEP) == "SERVICE_ACTIVE_STATE"
    assert set(client.vm_states(TENANT, DEP).values()) == {"VM_ALIVE_STATE"}
    opdata = client.opdata(TENANT, DEP)
    web_ips = opdata.xpath(
        "e:vm_group[e:name='web']/e:vm_instance/e:interfaces/e:interface/e:ip_address/text()", namespaces=NS
    )
    assert sorted(web_ips) == ["10.20.0.2", "10.20.0.3"]
    history = opdata.xpath("e:vm_group/e:vm_instance/e:history/e:entry/e:type/text()", namespaces=NS)
    assert history, "each VM keeps its lifecycle history"

    # opdata built from the filter (one deployment) is exactly that deployment as the unfiltered get shows it
    whole = client.call('<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"/>').find(
        f".//e:opdata/e:tenants/e:tenant[e:name='{TENANT}']/e:deployments[e:deployment_name='{DEP}']", namespaces=NS)
    subtree = client.call(
        '<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter type="subtree">'
        f'<esc_datamodel xmlns="{NS["e"]}"><opdata><tenants><tenant><name>{TENANT}</name><deployments>'
        f"<deployment_name>{DEP}</deployment_name></deployments></tenant></tenants></opdata></esc_datamodel>"
        "</filter></get>").find(".//e:deployments", namespaces=NS)
    assert whole is not None and subtree is not None
    assert etree.tostring(subtree, method="c14n") == etree.tostring(whole, method="c14n")
    assert etree.tostring(client.opdata(TENANT, DEP), method="c14n") == etree.tostring(whole, method="c14n")


def test_stop_start_reboot_service(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    server, client, watcher, vms = deployed
    with pytest.raises(RpcFailed) as refused:
        client.service_action("START", TENANT, DEP)
    assert refused.value.error_code == "409" and "running" in (refused.value.message or "").lower()

    client.service_action("STOP", TENANT, DEP)
    events = watcher.until("SERVICE_STOPPED")
    assert_success(events)
    assert sorted(e.vmname for e in events if e.type == "VM_STOPPED") == sorted(vms)
    assert client.service_state(TENANT, DEP) == "SERVICE_STOPPED_STATE"
    assert set(client.vm_states(TENANT, DEP).values()) == {"VM_SHUTOFF_STATE"}
    with pytest.raises(RpcFailed) as refused:
        client.recovery(next(iter(vms)))
    assert refused.value.error_code == "409"

    client.service_action("START", TENANT, DEP)
    events = watcher.until("SERVICE_ALIVE")
    assert_success(events)
    assert types(events).count("VM_STARTED") == 3
    assert set(client.vm_states(TENANT, DEP).values()) == {"VM_ALIVE_STATE"}

    client.service_action("REBOOT", TENANT, DEP)
    with pytest.raises(RpcFailed) as busy:
        client.service_action("STOP", TENANT, DEP)
    assert busy.value.error_code == "409" and "busy" in (busy.value.message or "")
    events = watcher.until("SERVICE_ALIVE")
    assert_success(events)
    assert types(events).count("VM_REBOOTED") == 3
    assert client.service_state(TENANT, DEP) == "SERVICE_ACTIVE_STATE"


def test_vm_stop_needs_force_below_min_active(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    server, client, watcher, vms = deployed
    web = sorted(name for name, group in vms.items() if group == "web")[0]
    with pytest.raises(RpcFailed) as refused:
        client.vm_action("STOP", web)
    assert refused.value.error_code == "409" and "force" in (refused.value.message or "")
    client.vm_action("STOP", web, force=True)
    events = watcher.until("VM_STOPPED")
    assert [e.vmname for e in events if e.type == "VM_STOPPED"] == [web]
    assert client.vm_states(TENANT, DEP)[web] == "VM_SHUTOFF_STATE"
    client.vm_action("START", web)
    watcher.until("VM_STARTED")
    with pytest.raises(RpcFailed) as unknown:
        client.vm_action("STOP", "no-such-vm")
    assert unknown.value.error_code == "404"


def test_vm_killed_out_of_band_is_recovered(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    import asyncio

    from esc_netconf.vim.sim import SimCloud, SimSettings

    server, client, watcher, vms = deployed
    db = next(name for name, group in vms.items() if group == "db")

    async def kill() -> None:
        cloud = SimCloud(server.data_dir / "sim", lambda: SimSettings(delay_scale=0.02))
        victim = next(s for s in await cloud.list_servers() if s.name == db)
        await cloud.force_server_status(victim.id, ServerStatus.SHUTOFF)
        await cloud.close()

    asyncio.run(kill())
    events = watcher.until("VM_RECOVERY_COMPLETE", timeout=60)
    recovery = [e for e in events if e.type.startswith("VM_RECOVERY")]
    assert types(recovery) == ["VM_RECOVERY_INIT", "VM_RECOVERY_REBOOT", "VM_RECOVERY_COMPLETE"]
    assert all(e.vmname == db and e.status == "SUCCESS" for e in recovery)
    assert client.vm_states(TENANT, DEP)[db] == "VM_ALIVE_STATE"

    client.recovery(db)
    events = watcher.until("VM_RECOVERY_COMPLETE", timeout=60)
    assert [e.status for e in events if e.type == "VM_RECOVERY_COMPLETE"] == ["SUCCESS"]


def test_scale_out_and_in_and_refusals(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    server, client, watcher, vms = deployed
    too_many = composite().replace("<min_active>2</min_active><max_active>3</max_active>",
                                   "<min_active>4</min_active><max_active>5</max_active>")
    with pytest.raises(RpcFailed) as refused:
        client.edit(too_many)  # three pool addresses cannot serve four VMs
    assert "pool" in (refused.value.message or "").lower()
    above_max = composite().replace("<min_active>2</min_active><max_active>3</max_active>",
                                    "<min_active>4</min_active><max_active>3</max_active>")
    with pytest.raises(RpcFailed):
        client.edit(above_max)

    client.edit(composite().replace("<min_active>2</min_active>", "<min_active>3</min_active>"))
    events = watcher.until("VM_SCALE_OUT_COMPLETE")
    assert [t for t in types(events) if t.startswith("VM_SCALE")] == ["VM_SCALE_OUT_INIT", "VM_SCALE_OUT_DEPLOYED", "VM_SCALE_OUT_COMPLETE"]
    watcher.until("SERVICE_UPDATED")
    assert len(client.vm_states(TENANT, DEP)) == 4

    client.edit(composite().replace("<min_active>2</min_active><max_active>3</max_active>",
                                    "<min_active>1</min_active><max_active>1</max_active>"))
    events = watcher.until("SERVICE_UPDATED")
    assert types(events).count("VM_SCALE_IN_COMPLETE") == 2
    assert len(client.vm_states(TENANT, DEP)) == 2


def test_undeploy(deployed: tuple[ServerProcess, EscClient, EventWatcher, dict[str, str]]) -> None:
    server, client, watcher, vms = deployed
    client.edit(samples.delete_deployment(TENANT, DEP))
    events = watcher.until("SERVICE_UNDEPLOYED")
    assert_success(events)
    assert sorted(e.vmname for e in events if e.type == "VM_UNDEPLOYED") == sorted(vms)
    reply = client.call(
        f'<get xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><filter type="xpath" '
        f"select=\"esc_datamodel/opdata/tenants/tenant[name='{TENANT}']/deployments\"/></get>"
    )
    assert reply.find(".//e:deployments", namespaces=NS) is None


def test_failed_deploy_reports_the_vims_reason(tmp_path: Path) -> None:
    from tests.integration.conftest import FAST_PROPERTIES

    proc = ServerProcess(tmp_path / "data", properties={**FAST_PROPERTIES, "vim.sim.fault.server.create": "error"}).start()
    client, watcher = EscClient(proc.netconf_port), EventWatcher(proc.netconf_port)
    try:
        client.edit(samples.deployment(TENANT, "doomed", [samples.vm_group("g")]))
        events = watcher.until("SERVICE_ALIVE")
        assert events[-1].status == "FAILURE" and events[-1].status_code == "500"
        assert "No valid host" in events[-1].status_message
        assert client.service_state(TENANT, "doomed") == "SERVICE_ERROR_STATE"
    finally:
        client.close()
        watcher.close()
        proc.stop()
