"""Day-0 through the core over the simulated cloud: what each server receives, pools across scaling and
restarts, and the failures (unfetchable template, exhausted pool) that fail a VM before any VIM call."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from esc_netconf.core.day0.fetch import TemplateFetchError
from esc_netconf.core.errors import InvalidRequest
from esc_netconf.core.model import Day0Configuration, Day0Variable, DeploymentRecord, DeploymentSpec, VmRecord
from esc_netconf.core.states import ServiceState, VmState
from esc_netconf.vim.base import VimNotFound

from ..conftest import FAIL, OK, Harness, group, spec

POOL = ("10.10.7.1", "10.10.7.2", "10.10.7.3")
URL = "http://templates.invalid/day0.cfg"


class FakeFetcher:
    """Serves ``pages``; any other URL fails as an unreachable server would."""

    def __init__(self) -> None:
        self.pages = {URL: "hostname ${HOSTNAME}\nip ${NICID_0_IP_ADDRESS} gw ${NICID_0_GATEWAY}\n"}
        self.fetched: list[str] = []

    async def fetch(self, url: str) -> str:
        self.fetched.append(url)
        if url not in self.pages:
            raise TemplateFetchError("Cannot connect to host templates.invalid:80.")
        return self.pages[url]


@pytest.fixture
async def day0(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path / "sim", fetcher=FakeFetcher())
    await h.core.start()
    try:
        yield h
    finally:
        await h.core.stop()
        await h.sim.close()


def day0_spec(lo: int, hi: int, *, names: tuple[str, ...] = ("vnf-a", "vnf-b", "vnf-c"), url: str = URL) -> DeploymentSpec:
    configs = (
        Day0Configuration("--user-data", data="#cloud-config\nhostname: ${HOSTNAME}\nfqdn: $HOSTNAME.$DOMAIN\n",
                          variables=(Day0Variable("HOSTNAME", names), Day0Variable("DOMAIN", ("example.com",)))),
        Day0Configuration("/config/day0.cfg", file=url, variables=(Day0Variable("HOSTNAME", names),)),
    )
    return spec(group("g", lo, hi, pool=POOL).with_changes(config_data=configs))


async def boot_of(h: Harness, vm: VmRecord) -> tuple[str | None, bool, dict[str, str]]:
    assert vm.server_id is not None
    boot = await h.sim.server_boot_data(vm.server_id)
    return boot.user_data, boot.config_drive, boot.files


async def deployed(h: Harness, the_spec: DeploymentSpec) -> DeploymentRecord:
    h.core.apply_update("t1", None, the_spec)
    await h.idle()
    (dep,) = h.core.deployments()
    return dep


async def update(h: Harness, dep: DeploymentRecord, new: DeploymentSpec) -> list[tuple[str, str, int]]:
    mark = len(h.events)
    h.core.check_update("t1", dep.spec, new)
    h.core.apply_update("t1", dep.spec, new)
    await h.idle()
    return h.kinds(mark)


async def test_each_vm_gets_its_rendered_content_with_its_own_pool_value(day0: Harness) -> None:
    dep = await deployed(day0, day0_spec(2, 3))
    assert dep.state is ServiceState.ACTIVE
    vms = day0.core.vms(dep.dep_id)
    for vm, name, ip in zip(vms, ("vnf-a", "vnf-b"), POOL):
        user_data, config_drive, files = await boot_of(day0, vm)
        assert config_drive
        assert user_data == f"#cloud-config\nhostname: {name}\nfqdn: {name}.example.com\n"
        assert files == {"/config/day0.cfg": f"hostname {name}\nip {ip} gw 10.10.0.1\n"}


async def test_scale_out_takes_a_new_value_and_scale_in_returns_it(day0: Harness) -> None:
    dep = await deployed(day0, day0_spec(1, 3))
    kinds = await update(day0, dep, day0_spec(2, 3))
    assert kinds[-1] == ("SERVICE_UPDATED", OK, 200)
    second = day0.core.vms(dep.dep_id)[1]
    assert second.day0_values["--user-data"] == {"HOSTNAME": "vnf-b"}
    assert (await boot_of(day0, second))[2]["/config/day0.cfg"].startswith("hostname vnf-b\n")
    await update(day0, dep, day0_spec(1, 1))
    assert [v.index for v in day0.core.vms(dep.dep_id)] == [0]
    await update(day0, dep, day0_spec(2, 3))  # vnf-b was given back: the new VM takes it again
    assert [v.day0_values["--user-data"]["HOSTNAME"] for v in day0.core.vms(dep.dep_id)] == ["vnf-a", "vnf-b"]


async def test_allocations_survive_a_restart(day0: Harness) -> None:
    dep = await deployed(day0, day0_spec(2, 3))
    before = {v.vm_id: v.day0_values for v in day0.core.vms(dep.dep_id)}
    await day0.restart()
    dep = day0.core.deployments()[0]
    assert {v.vm_id: v.day0_values for v in day0.core.vms(dep.dep_id)} == before
    await update(day0, dep, day0_spec(3, 3))
    assert sorted(v.day0_values["--user-data"]["HOSTNAME"] for v in day0.core.vms(dep.dep_id)) == [
        "vnf-a", "vnf-b", "vnf-c"]


def file_only(the_spec: DeploymentSpec) -> DeploymentSpec:
    """Only the ``file`` template: its references are known at deployment, not at commit."""
    (g,) = the_spec.vm_groups
    return spec(g.with_changes(config_data=g.config_data[1:]))


async def test_an_exhausted_pool_fails_the_scale_out_with_a_sentence(day0: Harness) -> None:
    dep = await deployed(day0, file_only(day0_spec(1, 3, names=("vnf-a", "vnf-z"))))
    with pytest.raises(InvalidRequest, match=re.escape(  # an inline template's pool is checked at commit
            "day-0 configuration [--user-data]: variable [HOSTNAME] has 2 value(s), too few for min_active 3")):
        day0.core.check_update("t1", dep.spec, day0_spec(3, 3, names=("vnf-a", "vnf-z")))
    kinds = await update(day0, dep, file_only(day0_spec(3, 3, names=("vnf-a", "vnf-z"))))
    assert ("VM_SCALE_OUT_DEPLOYED", FAIL, 500) in kinds and kinds[-1] == ("SERVICE_UPDATED", FAIL, 500)
    failed = next(e for e in day0.events
                  if e.event_type.value == "VM_SCALE_OUT_DEPLOYED" and e.status.value == "FAILURE")
    assert "Day-0 variable [HOSTNAME] of vm_group [g] has no value left" in failed.status_message
    assert "all 2 value(s) of its pool are held by other VMs" in failed.status_message
    assert len(await day0.servers()) == 2  # nothing was requested for the VM without a value


async def test_an_unfetchable_template_fails_the_deployment_naming_the_url(day0: Harness) -> None:
    dep = await deployed(day0, day0_spec(1, 1, url="http://templates.invalid/missing.cfg"))
    assert day0.kinds() == [("CREATE_TENANT", "SUCCESS", 200), ("VM_DEPLOYED", FAIL, 500), ("SERVICE_ALIVE", FAIL, 500)]
    message = day0.events[1].status_message
    assert "cannot fetch template [http://templates.invalid/missing.cfg]" in message
    assert "Cannot connect to host" in message and "[/config/day0.cfg]" in message
    assert dep.state is ServiceState.ERROR and day0.core.vms(dep.dep_id)[0].state is VmState.ERROR
    assert await day0.servers() == []  # nothing half-done in the VIM


async def test_a_redeployed_vm_gets_the_same_rendering(day0: Harness) -> None:
    dep = await deployed(day0, day0_spec(2, 3))
    vm = day0.core.vms(dep.dep_id)[1]
    before, old_server = await boot_of(day0, vm), vm.server_id
    new = day0_spec(2, 3)
    new = spec(new.vm_groups[0].with_changes(image="ubuntu-22.04"))  # a changed image: recovery redeploys
    await update(day0, dep, new)
    day0.core.recovery_vm_action(vm.name)
    await day0.idle()
    assert vm.server_id != old_server and vm.state is VmState.ALIVE
    assert await boot_of(day0, vm) == before and before[0] is not None and "vnf-b" in before[0]


@pytest.mark.parametrize(("config", "reason"), [
    (Day0Configuration("/a", file="ftp://host/x"), "must be an http, https or file URL"),
    (Day0Configuration("/a"), "needs exactly one of file (a URL) or data (inline)"),
])
async def test_a_config_that_can_never_work_is_refused_at_commit(day0: Harness, config: Day0Configuration,
                                                                 reason: str) -> None:
    bad = spec(group("g").with_changes(config_data=(config,)))
    with pytest.raises(InvalidRequest, match=re.escape("vm_group [g] day-0 configuration [/a]") + ".*" + re.escape(reason)):
        day0.core.check_update("t1", None, bad)
    assert day0.core.deployments() == []


async def test_address_and_mac_of_a_dhcp_interface_come_from_a_port_made_first(day0: Harness) -> None:
    config = Day0Configuration("--user-data", data="ip ${NICID_0_IP_ADDRESS} mac $NICID_0_MAC_ADDRESS\n")
    the_spec = spec(group("g", 1, 2).with_changes(config_data=(config,)))  # no pool: the VIM picks the address
    dep = await deployed(day0, the_spec)
    (vm,) = day0.core.vms(dep.dep_id)
    (nic,) = vm.interfaces
    assert nic.reserved_port and nic.port_id is not None
    server = await day0.sim.get_server(vm.server_id)  # type: ignore[arg-type]
    address = server.address(0)
    assert address is not None and address.port_id == nic.port_id
    assert (await boot_of(day0, vm))[0] == f"ip {address.fixed_ip} mac {address.mac}\n"

    old_server = vm.server_id  # a redeploy plugs the same port: the rendered files stay true
    redeployed = spec(the_spec.vm_groups[0].with_changes(image="ubuntu-22.04"))
    await update(day0, dep, redeployed)
    day0.core.recovery_vm_action(vm.name)
    await day0.idle()
    assert vm.server_id != old_server and vm.interfaces[0].port_id == nic.port_id
    assert (await boot_of(day0, vm))[0] == f"ip {address.fixed_ip} mac {address.mac}\n"

    day0.core.apply_update("t1", redeployed, None)  # undeploy deletes the port
    await day0.idle()
    with pytest.raises(VimNotFound):
        await day0.sim.delete_port(nic.port_id)
