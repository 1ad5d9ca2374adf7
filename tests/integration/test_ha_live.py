"""Two servers on one PostgreSQL, as an operator runs a pair (CONTRACT section 8): one active, one standby
whose listeners answer reads and refuse changes naming the active; kill -9 of the active and the standby
takes over within --ha-takeover-secs; a clean stop hands the lease over at once.

Real clients only: ncclient for NETCONF, curl for REST, escadm as a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from ncclient import manager
from ncclient.operations.rpc import RPCError

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from esc_netconf.vim.sim import SimCloud, SimSettings
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import EscClient, Event
from tests.integration.esc_client import replayed_esc_events as replayed_esc_events  # test_ha_switchover imports it from here
from tests.integration.server_process import ServerProcess
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql

TAKEOVER_SECS = 2.0


def connect(port: int) -> manager.Manager:
    return manager.connect(host="127.0.0.1", port=port, username="admin", password="admin", hostkey_verify=False,
                           allow_agent=False, look_for_keys=False, timeout=30)


def curl(method: str, url: str, body: str | None = None) -> tuple[int, dict[str, object]]:
    args = ["curl", "-s", "-u", "admin:admin", "-X", method, "-w", "\n%{http_code}", url]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "-d", body]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    text, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(text) if text.strip() else {}


def ha(server: ServerProcess) -> dict[str, object]:
    code, body = curl("GET", f"{server.rest_url}/ha")
    assert code == 200, body
    return body


def member(tmp_path: Path, name: str, url: str, properties: dict[str, str] = FAST_PROPERTIES) -> ServerProcess:
    """One server of the group: its own data dir, the group's database and simulated cloud."""
    return ServerProcess(tmp_path / name, properties=properties,
                         extra_args=["--database", url, "--ha-takeover-secs", str(TAKEOVER_SECS),
                                     "--sim-dir", str(tmp_path / "cloud")])


@pytest.fixture
def pair(request: pytest.FixtureRequest, tmp_path: Path,
         postgres: PostgresServer) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    url = postgres.create_database()
    properties = getattr(request, "param", FAST_PROPERTIES)
    first = member(tmp_path, "a", url, properties).start()
    second = member(tmp_path, "b", url, properties).start()
    yield first, second
    for proc in (first, second):
        if proc.running():
            proc.kill()


def wait_for_role(server: ServerProcess, role: str, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if ha(server)["role"] == role:
                return time.monotonic() - started
        except subprocess.CalledProcessError:  # a promoted standby swaps its listeners: a brief refusal
            time.sleep(0.05)
            continue
        time.sleep(0.05)
    raise AssertionError(f"{server.rest_url} did not become {role} in {timeout} s: {ha(server)}")


def test_one_active_one_standby_and_the_standby_refuses_changes_naming_the_active(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    where = {"host": "127.0.0.1", "netconf_port": active.netconf_port, "rest_port": active.rest_port}
    assert ha(active)["role"] == "active" and ha(active)["active"] == where
    assert ha(standby)["role"] == "standby" and ha(standby)["active"] == where
    assert ha(active)["node"] != ha(standby)["node"]

    on_active = escadm(active.rest_url, "status")
    on_standby = escadm(standby.rest_url, "status")
    assert on_active.returncode == 0 and on_active.stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"
    assert on_standby.returncode == 0 and on_standby.stdout.splitlines()[0] == "ESC status=0 ESC Backup Healthy"

    with connect(active.netconf_port) as nc_active:
        nc_active.edit_config(target="running", config=samples.tenant_only("ha-tenant"))
    with connect(standby.netconf_port) as nc_standby:
        # reads come from the shared store: the active's commit is visible on the standby
        assert "ha-tenant" in nc_standby.get_config(source="running").data_xml
        with pytest.raises(RPCError) as refused:
            nc_standby.edit_config(target="running", config=samples.tenant_only("not-here"))
        assert refused.value.tag == "operation-failed"
        assert f"127.0.0.1:{active.netconf_port}" in str(refused.value.message)
        with pytest.raises(RPCError) as rpc_refused:
            nc_standby.dispatch(_service_action())
        assert rpc_refused.value.tag == "operation-failed"
        assert "not-here" not in nc_standby.get_config(source="running").data_xml

    either = escadm(f"{standby.rest_url},{active.rest_url}", "status")
    assert either.returncode == 0 and either.stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"
    none = escadm(f"{standby.rest_url},http://127.0.0.1:1", "status")
    assert none.returncode == 3 and "No active ESC among the URLs given" in none.stderr
    assert "is a standby" in none.stderr

    # esc_nc_cli given both members uses the active, whichever order they come in
    hosts = f"127.0.0.1:{standby.netconf_port},127.0.0.1:{active.netconf_port}"
    listed = subprocess.run([sys.executable, "-m", "esc_netconf.cli.esc_nc_cli", "--host", hosts, "--timeout", "20",
                             "get-config"], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert f"--port={active.netconf_port}" in listed.stdout and "ha-tenant" in listed.stdout
    only_standby = subprocess.run([sys.executable, "-m", "esc_netconf.cli.esc_nc_cli", "--host",
                                   f"127.0.0.1:{standby.netconf_port},127.0.0.1:1", "get-config"],
                                  capture_output=True, text=True, timeout=60)
    assert only_standby.returncode == 3
    assert only_standby.stderr.startswith("esc_nc_cli: No active ESC among the hosts given: ")
    assert f"127.0.0.1:{standby.netconf_port} is a standby" in only_standby.stderr

    code, body = curl("POST", f"{standby.rest_url}/tenants/rest-tenant", "{}")
    assert code == 503 and f"http://127.0.0.1:{active.rest_port}" in str(body["error"])
    code, _ = curl("GET", f"{standby.rest_url}/ha")
    assert code == 200


def _service_action() -> object:
    return etree.fromstring(
        f'<serviceAction xmlns="{samples.ESC_NS}"><actionType>STOP</actionType>'
        "<tenantName>t</tenantName><depName>d</depName></serviceAction>")


def test_kill_9_of_the_active_and_the_standby_takes_over_within_the_takeover_time(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    with connect(active.netconf_port) as nc:
        nc.edit_config(target="running", config=samples.tenant_only("before"))
    killed = time.monotonic()
    active.kill()
    wait_for_role(standby, "active", timeout=TAKEOVER_SECS + 3)
    # accepting changes, on the same ports it listened on as a standby
    while True:
        try:
            with connect(standby.netconf_port) as nc:
                nc.edit_config(target="running", config=samples.tenant_only("after"))
                config = nc.get_config(source="running").data_xml
            break
        except (RPCError, OSError, Exception):  # noqa: BLE001 - the listeners are being swapped
            if time.monotonic() - killed > TAKEOVER_SECS + 3:
                raise
            time.sleep(0.1)
    took = time.monotonic() - killed
    assert took <= TAKEOVER_SECS + 1.5, f"took over in {took:.2f} s"
    assert "before" in config and "after" in config
    assert ha(standby)["active"] == {"host": "127.0.0.1", "netconf_port": standby.netconf_port,
                                     "rest_port": standby.rest_port}
    assert escadm(standby.rest_url, "status").stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"


def test_a_clean_stop_of_the_active_hands_over_at_once(pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    stopped_node, standby_node = ha(active)["node"], ha(standby)["node"]
    assert active.stop() == 0
    assert wait_for_role(standby, "active", timeout=TAKEOVER_SECS) < TAKEOVER_SECS
    # the service moved: once each in the group's replay log, in order
    deadline = time.monotonic() + 10
    while True:
        try:
            events = replayed_esc_events(standby.netconf_port)
            break
        except Exception:  # noqa: BLE001 - the new active's listeners are being swapped in
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert [(e.type, e.status_message) for e in events] == [
        ("ESC_IN_SERVICE", f"ESC is in service: {stopped_node} is the active of its group."),
        ("ESC_OUT_OF_SERVICE", f"ESC is out of service on {stopped_node}: it stops."),
        ("ESC_IN_SERVICE", f"ESC is in service: {standby_node} is the active of its group."),
    ]


def test_a_partitioned_active_is_fenced_and_rejoins_as_a_standby_when_it_comes_back(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    """SIGSTOP of the active for longer than its lease (what a partition looks like to the group), then
    SIGCONT: the standby has taken over; the old active finds its lease gone, stops acting, says so, and
    becomes a standby of the new active by itself (listeners up, reads answered, changes refused)."""
    old, new = pair
    os.kill(old.pid, signal.SIGSTOP)
    try:
        wait_for_role(new, "active", timeout=TAKEOVER_SECS + 3)
        with connect(new.netconf_port) as nc:
            nc.edit_config(target="running", config=samples.tenant_only("on-the-new-active"))
    finally:
        os.kill(old.pid, signal.SIGCONT)
    wait_for_role(old, "standby", timeout=10)
    deadline = time.monotonic() + 10
    while "rejoined its group as a standby" not in "".join(old.output):
        assert time.monotonic() < deadline, "".join(old.output)
        time.sleep(0.1)
    log = "".join(old.output)
    assert "lost the lease" in log and "stopped acting" in log, log
    assert old.running()
    assert ha(new)["role"] == "active"
    assert ha(old)["active"] == {"host": "127.0.0.1", "netconf_port": new.netconf_port, "rest_port": new.rest_port}
    with connect(old.netconf_port) as nc:
        assert "on-the-new-active" in nc.get_config(source="running").data_xml
        with pytest.raises(RPCError) as refused:
            nc.edit_config(target="running", config=samples.tenant_only("not-on-a-standby"))
        assert f"127.0.0.1:{new.netconf_port}" in str(refused.value.message)


def servers_named(sim_dir: Path, prefix: str) -> list[str]:
    async def names() -> list[str]:
        cloud = SimCloud(sim_dir, lambda: SimSettings())
        try:
            return [s.name for s in await cloud.list_servers() if s.name.startswith(prefix)]
        finally:
            await cloud.close()

    return asyncio.run(names())


SLOW_VIM = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.5"}


@pytest.mark.parametrize("pair", [SLOW_VIM], indirect=True)
def test_kill_9_mid_deploy_and_the_new_active_finishes_it_without_duplicates(
        pair: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    active, standby = pair
    cloud = tmp_path / "cloud"
    with connect(active.netconf_port) as nc:
        nc.edit_config(target="running", config=samples.deployment(
            "ha", "dep", [samples.vm_group("g", min_active=3, max_active=3)]))
    deadline = time.monotonic() + 20
    while not servers_named(cloud, "dep_g_") and time.monotonic() < deadline:
        time.sleep(0.05)
    active.kill()
    in_vim_at_kill = servers_named(cloud, "dep_g_")
    assert in_vim_at_kill, "the kill should land after the first create_server"
    wait_for_role(standby, "active", timeout=TAKEOVER_SECS + 3)
    client = EscClient(standby.netconf_port)
    try:
        deadline = time.monotonic() + 60
        while client.service_state("ha", "dep") != "SERVICE_ACTIVE_STATE":
            assert time.monotonic() < deadline, client.service_state("ha", "dep")
            time.sleep(0.2)
        vms = client.vm_states("ha", "dep")
        assert len(vms) == 3 and set(vms.values()) == {"VM_ALIVE_STATE"}
        names = servers_named(cloud, "dep_g_")
        assert sorted(names) == sorted(vms), "one server per VM record, none duplicated"
        assert set(in_vim_at_kill) <= set(names), "servers created before the kill were adopted, not recreated"
    finally:
        client.close()
    # the escEvent replay log is the group's: a subscriber replaying on the new active sees the events the old
    # active sent before it died, and none twice
    events = replayed_esc_events(standby.netconf_port)
    # each member says ESC_IN_SERVICE once as it becomes the active (the dead one could not say OUT_OF_SERVICE)
    assert [event.type for event in events if event.type.startswith("ESC_")] == ["ESC_IN_SERVICE"] * 2
    kinds = [(event.type, vm_name(event)) for event in events if not event.type.startswith("ESC_")]
    assert kinds.count(("CREATE_TENANT", None)) == 1, kinds
    assert kinds.count(("SERVICE_ALIVE", None)) == 1, kinds
    assert len(kinds) == len(set(kinds)), f"an event was sent twice: {kinds}"
    for vm in vms:
        assert ("VM_DEPLOYED", vm) in kinds and ("VM_ALIVE", vm) in kinds, (vm, kinds)


def vm_name(event: Event) -> str | None:
    source = event.fields.get("vm_source")
    return source.get("vmname") if isinstance(source, dict) else None
