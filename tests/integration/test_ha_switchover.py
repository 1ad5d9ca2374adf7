"""``escadm ha switchover`` and a standby's reads, on two servers sharing one real PostgreSQL (CONTRACT
section 8), driven as an operator would: escadm and curl as subprocesses, ncclient and a raw NETCONF client.

A switchover hands the role of active to a standby with nothing in flight lost: the work the old active
was doing (deploys, snapshot pollers) is resumed by the new one; the old active stays up as a standby. With
no standby it is refused and the active keeps serving. A standby answers opdata and REST reads from the
shared store. ESC_OUT_OF_SERVICE and ESC_IN_SERVICE mark each change of active, once each in the shared
replay log.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from ncclient.operations.rpc import RPCError

from tests.integration import samples
from tests.integration.cli.cli_helpers import escadm
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import ESC, EscClient, Event, EventWatcher
from tests.integration.rest.live_helpers import deploy, http, wait_until_idle
from tests.integration.rest.receiver import CallbackReceiver, Post
from tests.integration.server_process import ServerProcess
from tests.integration.test_ha_live import connect, curl, ha, replayed_esc_events, servers_named, vm_name, wait_for_role
from tests.postgres_server import PostgresServer

pytestmark = pytest.mark.postgresql

TENANT = "ha-sw"
TAKEOVER_SECS = 5.0
"""The default: nothing here measures a takeover by expiry (a switchover does not wait for one), and a lease
of 3 s keeps a member of a loaded test machine from losing its role while it starts."""


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


def netconf_address(server: ServerProcess) -> dict[str, object]:
    return {"host": "127.0.0.1", "netconf_port": server.netconf_port, "rest_port": server.rest_port}


def wait_until_serving_as(server: ServerProcess, role: str, timeout: float = 15) -> None:
    """The role is reported at once; the listeners are swapped just after: wait for both."""
    wait_for_role(server, role, timeout)
    deadline = time.monotonic() + timeout
    last: object = "no answer yet"
    while True:
        try:
            with connect(server.netconf_port) as nc:
                standby = any("urn:esc-netconf:ha:standby" in c for c in nc.server_capabilities)
            if standby == (role == "standby"):
                return
            last = f"it serves as {'standby' if standby else 'active'}"
        except Exception as error:  # noqa: BLE001 - the listeners are being swapped: a refused or cut connection
            last = error
        assert time.monotonic() < deadline, f"{server.rest_url} does not serve as {role} ({last})"
        time.sleep(0.1)


def get_json(url: str) -> tuple[int, dict[str, object]]:
    """A REST read as curl makes it, asking for JSON (the ESCManager API answers XML by default)."""
    args = ["curl", "-s", "-H", "Accept: application/json", "-w", "\n%{http_code}", url]
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    text, _, code = done.stdout.rpartition("\n")
    return int(code), json.loads(text)


def switchover(urls: str, *args: str) -> tuple[int, str, str]:
    done = escadm(urls, "ha", "switchover", *args)
    return done.returncode, done.stdout, done.stderr


def backup(client: EscClient, vm: str, name: str) -> None:
    client.call(f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>{name}</backupName>'
                "<actionType>SNAPSHOT</actionType></vmBackupAction>")


def deploy_and_wait(port: int, name: str, vms: int = 1) -> list[str]:
    """Deploy and wait for SERVICE_ALIVE; the generated VM names."""
    client, watcher = EscClient(port), EventWatcher(port)
    try:
        client.edit(samples.deployment(TENANT, name, [samples.vm_group("g", min_active=vms, max_active=vms)]))
        events = watcher.until("SERVICE_ALIVE", timeout=60)
        assert events[-1].status == "SUCCESS", events[-1]
        return sorted(e.vmname for e in events if e.type == "VM_ALIVE" and e.vmname)
    finally:
        client.close()
        watcher.close()


def test_switchover_without_a_standby_is_refused_and_the_active_keeps_serving(
        tmp_path: Path, postgres: PostgresServer) -> None:
    alone = member(tmp_path, "alone", postgres.create_database()).start()
    try:
        code, out, err = switchover(alone.rest_url)
        assert code == 1 and out == "", "".join(alone.output)
        assert err.startswith("escadm: No standby is connected to the group's database"), err
        assert "this ESC stays the active" in err
        unknown = escadm(alone.rest_url, "ha", "switchover", "--to", "nobody:1")
        assert unknown.returncode == 1 and "No standby named [nobody:1]" in unknown.stderr
        assert ha(alone)["role"] == "active"
        with connect(alone.netconf_port) as nc:
            nc.edit_config(target="running", config=samples.tenant_only("still-served"))
            assert "still-served" in nc.get_config(source="running").data_xml
        shown = escadm(alone.rest_url, "ha", "show")
        assert shown.returncode == 0
        assert shown.stdout.splitlines()[0].startswith("role=active node=")
        code, body = curl("POST", f"{alone.rest_url}/ha/switchover", '{"to": 5}')
        assert code == 400 and body == {"error": 'The body must be empty or {"to": "<node>"}.'}
    finally:
        alone.stop()
    lone = ServerProcess(tmp_path / "sqlite", properties=FAST_PROPERTIES).start()  # no group at all
    try:
        refused = escadm(lone.rest_url, "ha", "switchover")
        assert refused.returncode == 1
        assert refused.stderr.startswith("escadm: This ESC is not a member of a group: there is no standby")
    finally:
        lone.stop()


def test_a_standby_answers_opdata_and_rest_reads_from_what_the_active_wrote(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    active, standby = pair
    (vm,) = deploy_and_wait(active.netconf_port, "readme")
    client, watcher = EscClient(active.netconf_port), EventWatcher(active.netconf_port)
    try:
        backup(client, vm, "read-snap")
        assert watcher.until("VM_BACKUP_COMPLETE", timeout=60)[-1].status == "SUCCESS"
    finally:
        client.close()
        watcher.close()

    on_standby = EscClient(standby.netconf_port)
    on_active = EscClient(active.netconf_port)
    try:
        assert on_standby.service_state(TENANT, "readme") == "SERVICE_ACTIVE_STATE"
        assert on_standby.vm_states(TENANT, "readme") == on_active.vm_states(TENANT, "readme") == {
            vm: "VM_ALIVE_STATE"}
    finally:
        on_standby.close()
        on_active.close()
    with connect(standby.netconf_port) as nc:
        opdata = nc.get(filter=("xpath", "esc_datamodel/opdata/snapshots")).data_xml
        assert "read-snap" in opdata

    code, from_standby = get_json(f"{standby.rest_url}/deployments")
    assert code == 200
    code, from_active = get_json(f"{active.rest_url}/deployments")
    assert code == 200
    for listing in (from_standby, from_active):
        for dep in listing["deployments"]:  # type: ignore[union-attr]
            dep.pop("busy_with", None)  # what runs now is known to the active only
    assert from_standby == from_active
    (dep,) = from_standby["deployments"]  # type: ignore[misc]
    assert [v["name"] for v in dep["vms"]] == [vm]
    code, snaps = get_json(f"{standby.rest_url}/snapshots?internalTenantId={TENANT}")
    assert code == 200 and "read-snap" in json.dumps(snaps)
    # a change is still refused, naming the active
    code, body = curl("POST", f"{standby.rest_url}/{TENANT}/deployments/service/readme",
                      json.dumps({"operation": "STOP"}))
    assert code == 503 and f"http://127.0.0.1:{active.rest_port}" in str(body["error"])


def test_switchover_hands_the_role_over_and_back(pair: tuple[ServerProcess, ServerProcess]) -> None:
    first, second = pair
    first_node, second_node = ha(first)["node"], ha(second)["node"]

    # a standby does not forward: it names the active
    code, _, err = switchover(second.rest_url)
    assert code == 1
    assert err == f"escadm: This ESC is a standby; run the switchover on the active: " \
                  f"http://127.0.0.1:{first.rest_port}.\n"

    code, out, err = switchover(f"{second.rest_url},{first.rest_url}")
    assert code == 0, err
    assert out == (f"Switchover done: {second_node} is the active (NETCONF 127.0.0.1:{second.netconf_port}, "
                   f"REST http://127.0.0.1:{second.rest_port}); {first_node} is a standby.\n")
    assert ha(second)["role"] == "active"
    wait_until_serving_as(first, "standby")
    assert ha(first)["active"] == netconf_address(second)
    assert escadm(first.rest_url, "status").stdout.splitlines()[0] == "ESC status=0 ESC Backup Healthy"
    assert escadm(second.rest_url, "status").stdout.splitlines()[0] == "ESC status=0 ESC Master Healthy"
    with connect(second.netconf_port) as nc:
        nc.edit_config(target="running", config=samples.tenant_only("after-switchover"))
    with connect(first.netconf_port) as nc:
        assert "after-switchover" in nc.get_config(source="running").data_xml
        with pytest.raises(RPCError) as refused:
            nc.edit_config(target="running", config=samples.tenant_only("refused"))
        assert f"127.0.0.1:{second.netconf_port}" in str(refused.value.message)

    # and back, naming the standby to hand over to
    code, out, err = switchover(f"{first.rest_url},{second.rest_url}", "--to", str(first_node))
    assert code == 0, err
    assert out.startswith(f"Switchover done: {first_node} is the active")
    wait_until_serving_as(second, "standby")
    with connect(first.netconf_port) as nc:
        nc.edit_config(target="running", config=samples.tenant_only("back-again"))

    events = replayed_esc_events(first.netconf_port)
    service = [(e.type, e.fields.get("status_message")) for e in events if e.type.startswith("ESC_")]
    assert [kind for kind, _ in service] == ["ESC_IN_SERVICE", "ESC_OUT_OF_SERVICE", "ESC_IN_SERVICE",
                                              "ESC_OUT_OF_SERVICE", "ESC_IN_SERVICE"], service
    assert service[0][1] == f"ESC is in service: {first_node} is the active of its group."
    assert service[1][1] == f"ESC is out of service on {first_node}: it hands the role of active to {second_node}."
    assert service[2][1] == f"ESC is in service: {second_node} is the active of its group."
    assert all(e.status == "SUCCESS" for e in events if e.type.startswith("ESC_"))


LOADED = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.3",
          "vim.asyncpoller.snapshot.create.poll.secs": "1"}  # a snapshot that lasts across the switchover


@pytest.mark.parametrize("pair", [LOADED], indirect=True)
def test_a_switchover_under_load_loses_and_doubles_nothing(
        pair: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    """Deploys and snapshots in flight while the role moves: every deployment converges on the new active,
    no server is created twice, the snapshot completes, and a startTime replay on the new active holds
    every escEvent once."""
    old, new = pair
    cloud = tmp_path / "cloud"
    (base_vm,) = deploy_and_wait(old.netconf_port, "base")
    client = EscClient(old.netconf_port)
    try:
        backup(client, base_vm, "in-flight-snap")
        for index in range(3):
            client.edit(samples.deployment(TENANT, f"load{index}", [samples.vm_group("g", min_active=2,
                                                                                         max_active=2)]))
    finally:
        client.close()
    deadline = time.monotonic() + 30
    while not servers_named(cloud, "load"):
        assert time.monotonic() < deadline, "no deployment reached the VIM"
        time.sleep(0.05)

    created_by_the_old = servers_named(cloud, "load")
    code, out, err = switchover(f"{old.rest_url},{new.rest_url}")
    assert code == 0, err
    assert ha(new)["role"] == "active"
    wait_until_serving_as(old, "standby")

    client = EscClient(new.netconf_port)
    try:
        deadline = time.monotonic() + 90
        names = [f"load{index}" for index in range(3)]
        while any(client.service_state(TENANT, name) != "SERVICE_ACTIVE_STATE" for name in names):
            assert time.monotonic() < deadline, {name: client.service_state(TENANT, name) for name in names}
            time.sleep(0.3)
        vms: dict[str, str] = {}
        for name in ["base", *names]:
            states = client.vm_states(TENANT, name)
            assert set(states.values()) == {"VM_ALIVE_STATE"}, (name, states)
            vms.update(states)
        assert len(vms) == 7
        in_cloud = servers_named(cloud, "")
        assert Counter(in_cloud) == Counter(list(vms)), "one server per VM record, none created twice"
        with connect(new.netconf_port) as nc:
            deadline = time.monotonic() + 60
            while "<status>active</status>" not in nc.get(
                    filter=("xpath", "esc_datamodel/opdata/snapshots")).data_xml:
                assert time.monotonic() < deadline, "the snapshot in flight did not complete on the new active"
                time.sleep(0.2)
    finally:
        client.close()

    events = replayed_esc_events(new.netconf_port)
    assert_each_event_once(events, vms)
    # the role moved while the work was in flight: the new active finished the deployments whose servers the
    # old one had created, and the snapshot the old one had begun
    handed = max(i for i, e in enumerate(events) if e.type == "ESC_IN_SERVICE")
    finished_after = {e.fields.get("depname") for e in events[handed:] if e.type == "SERVICE_ALIVE"}
    assert {name.split("_g_")[0] for name in created_by_the_old} <= finished_after, events
    assert {e.type for e in events[:handed]} >= {"VM_BACKUP_INIT"}
    assert "VM_BACKUP_COMPLETE" in {e.type for e in events[handed:]}


def assert_each_event_once(events: list[Event], vms: dict[str, str]) -> None:
    service = [e.type for e in events if e.type.startswith("ESC_")]
    assert service == ["ESC_IN_SERVICE", "ESC_OUT_OF_SERVICE", "ESC_IN_SERVICE"], service
    keyed = [(e.type, e.fields.get("depname"), vm_name(e)) for e in events if not e.type.startswith("ESC_")]
    doubled = [key for key, count in Counter(keyed).items() if count > 1]
    assert not doubled, f"sent twice: {doubled}"
    for vm in vms:
        assert any(kind == "VM_DEPLOYED" and name == vm for kind, _, name in keyed), (vm, keyed)
        assert any(kind == "VM_ALIVE" and name == vm for kind, _, name in keyed), (vm, keyed)
    for dep in ("base", "load0", "load1", "load2"):
        assert ("SERVICE_ALIVE", dep, None) in keyed, (dep, keyed)
    backups = [kind for kind, _, _ in keyed if kind.startswith("VM_BACKUP")]
    assert backups == ["VM_BACKUP_INIT", "VM_BACKUP_CREATED", "VM_BACKUP_COMPLETE"], backups


CALLBACK_VIM = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.4"}  # a reboot lasts about a second
REBOOT_EVENTS = ["VM_REBOOTED", "VM_ALIVE", "SERVICE_ALIVE"]


@pytest.mark.parametrize("pair", [CALLBACK_VIM], indirect=True)
def test_callbacks_in_flight_and_in_the_outbox_reach_their_url_from_the_new_active(
        pair: tuple[ServerProcess, ServerProcess]) -> None:
    """A REST reboot in flight at the switchover: the new active resumes it and its events reach the
    request's callback URL; events the receiver was refusing (waiting in the shared outbox) are delivered
    by the new active once the receiver accepts them. Counted by distinct ESC-Event-Id, as a receiver would."""
    old, new = pair
    with CallbackReceiver() as receiver:
        deploy(old, TENANT, "refused")
        deploy(old, TENANT, "inflight")
        receiver.fail_next(1_000_000)
        waiting = reboot(old, receiver, "refused")
        wait_until_idle(old, TENANT, "refused", "SERVICE_ACTIVE_STATE")
        receiver.wait(lambda: receiver.refused >= 2, timeout=10)
        receiver.fail_next(0)  # from now on accepted; the outbox retries later, after the switchover
        in_flight = reboot(old, receiver, "inflight")
        time.sleep(0.2)
        assert not receiver.of(in_flight), "the switchover must come while the reboot is in flight"

        code, _, err = switchover(f"{old.rest_url},{new.rest_url}")
        assert code == 0, err
        for tid in (in_flight, waiting):
            receiver.wait(lambda tid=tid: len(distinct(receiver.of(tid))) >= len(REBOOT_EVENTS), timeout=45)
            posts = distinct(receiver.of(tid))
            assert [p.event_type for p in posts] == REBOOT_EVENTS, tid
            assert {p.headers["esc-transaction-id"] for p in posts} == {tid}
            assert all(p.body["status"] == "SUCCESS" for p in posts)
        wait_until_idle(new, TENANT, "inflight", "SERVICE_ACTIVE_STATE")


def reboot(server: ServerProcess, receiver: CallbackReceiver, name: str) -> str:
    reply = http("POST", f"{server.rest_url}/{TENANT}/deployments/service/{name}",
                 json.dumps({"operation": "reboot"}).encode(),
                 {"Content-Type": "application/json", "callback": receiver.url})
    assert reply.status == 200, reply
    return str(reply.headers["esc-transaction-id"])


def distinct(posts: list[Post]) -> list[Post]:
    """The posts with a new ``ESC-Event-Id``, in arrival order (delivery is at least once)."""
    seen: set[str] = set()
    kept = []
    for post in posts:
        if post.headers["esc-event-id"] not in seen:
            seen.add(post.headers["esc-event-id"])
            kept.append(post)
    return kept
