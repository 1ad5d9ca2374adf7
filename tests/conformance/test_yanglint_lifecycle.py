"""A whole ESC lifecycle over NETCONF, every reply and notification judged by libyang's yanglint.

The schema context is only what the server announces and serves (hello, ietf-yang-library, get-schema), so a
reply carrying nodes of a module the server never announced, a notification the served modules do not
define, a value outside its type or a feature the hello does not list all fail here, naming the message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from tests.conformance.journal import BASE, Journal, Message, RecordingNetconf
from tests.conformance.yanglint import PARSER, Rejection, SchemaSet, Yanglint, fetch_schema_set, yanglint_path
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.esc_client import ESC, NOTIF, EscClient, EventWatcher, RpcFailed
from tests.integration.raw_client import RawNetconf
from tests.integration.server_process import ServerProcess

TENANT, DEP = "conformance-tenant", "conformance-dep"
NETCONF_NOTIFICATIONS = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
MONITORING = "urn:ietf:params:xml:ns:yang:ietf-netconf-monitoring"


def running_data(client: EscClient) -> bytes:
    """The children of get-config's ``<data>``: the datastore an edit's instance-identifiers point into."""
    reply = client.call(f'<get-config xmlns="{BASE}"><source><running/></source></get-config>')
    data = reply.find(f"{{{BASE}}}data")
    assert data is not None
    return b"".join(etree.tostring(child) for child in data.iterchildren(tag=etree.Element))


class Operator:
    """The operator's session; keeps the running datastore before and after each accepted edit."""

    def __init__(self, port: int, connect: Callable[[int], RawNetconf]) -> None:
        self.client = EscClient(port, connect)
        self.edits: list[tuple[bytes, bytes]] = []

    def edit(self, config: str) -> None:
        before = running_data(self.client)
        self.client.edit(config)
        self.edits.append((before, running_data(self.client)))


def config_change_context(message: Message, edits: Iterator[tuple[bytes, bytes]]) -> bytes | None:
    """The datastore a netconf-config-change's targets exist in: after the edit, or before it for a delete."""
    if message.operation != etree.QName(NETCONF_NOTIFICATIONS, "netconf-config-change"):
        return None
    pair = next(edits, None)
    assert pair is not None, f"{message.label} has no accepted edit-config to come from"
    before, after = pair
    operations = etree.fromstring(message.xml, PARSER).xpath(
        "//n:edit/n:operation/text()", namespaces={"n": NETCONF_NOTIFICATIONS})
    return before if {"delete", "remove"} & set(operations) else after


def drain(nc: RawNetconf, until: Callable[[etree._Element], bool], timeout: float = 30.0) -> None:
    """Read notifications until one satisfies ``until`` (each is journaled as it arrives)."""
    while True:
        payload = nc.notification(timeout).payload
        if payload is not None and until(payload):
            return


def lifecycle(server: ServerProcess, journal: Journal, schema_dir: Path) -> tuple[Operator, SchemaSet]:
    def connect(name: str) -> Callable[[int], RawNetconf]:
        return lambda port: RecordingNetconf(port, journal, name)

    port = server.netconf_port
    start = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    netconf_stream = connect("NETCONF-stream subscriber")(port)
    assert netconf_stream.call(f'<create-subscription xmlns="{NOTIF}"/>'.encode()).ok
    watcher = EventWatcher(port, connect("escEvent subscriber"))
    operator = Operator(port, connect("operator"))
    client = operator.client

    schemas = fetch_schema_set(client.nc, schema_dir)
    with pytest.raises(RpcFailed):
        client.call(f'<get-schema xmlns="{MONITORING}"><identifier>esc</identifier><version>1999-01-01</version></get-schema>')
    client.call(f'<get xmlns="{BASE}"/>')
    client.call(f'<get xmlns="{BASE}"><filter type="subtree"><netconf-state xmlns="{MONITORING}"><schemas/>'
                "</netconf-state></filter></get>")

    config = samples.deployment(TENANT, DEP, [samples.vm_group("g", min_active=1, max_active=1)])
    client.call(f'<lock xmlns="{BASE}"><target><running/></target></lock>')
    client.call(f'<validate xmlns="{BASE}"><source>{config}</source></validate>')
    operator.edit(config)
    client.call(f'<unlock xmlns="{BASE}"><target><running/></target></unlock>')
    events = watcher.until("SERVICE_ALIVE")
    vm = next(e.vmname for e in events if e.type == "VM_ALIVE")
    assert vm is not None
    client.opdata(TENANT, DEP)

    client.service_action("STOP", TENANT, DEP)
    watcher.until("SERVICE_STOPPED")
    client.service_action("START", TENANT, DEP)
    watcher.until("SERVICE_ALIVE")
    client.service_action("REBOOT", TENANT, DEP)
    watcher.until("SERVICE_ALIVE")

    with pytest.raises(RpcFailed):
        client.vm_action("STOP", vm)  # below min_active without force: an ESC rpc-error with error-info
    client.vm_action("STOP", vm, force=True)
    watcher.until("VM_STOPPED")
    client.vm_action("START", vm)
    watcher.until("VM_ALIVE")  # VM_STARTED, then VM_ALIVE once monitoring is re-armed: the action's end

    client.call(f'<vmBackupAction xmlns="{ESC}"><vmName>{vm}</vmName><backupName>conformance-snap</backupName>'
                "<actionType>SNAPSHOT</actionType></vmBackupAction>")
    watcher.until("VM_BACKUP_COMPLETE")
    client.call(f'<get xmlns="{BASE}"><filter type="xpath" select="esc_datamodel/opdata/snapshots"/></get>')
    client.call(f'<snapshotAction xmlns="{ESC}"><actionType>DELETE</actionType><snapshot>conformance-snap</snapshot>'
                "</snapshotAction>")
    watcher.until("VM_SNAPSHOT_DELETED")

    client.recovery(vm)
    watcher.until("VM_RECOVERY_COMPLETE", timeout=60)
    client.call(f'<get xmlns="{BASE}"/>')

    operator.edit(samples.delete_deployment(TENANT, DEP))
    watcher.until("SERVICE_UNDEPLOYED")
    client.call(f'<get xmlns="{BASE}"/>')

    stop = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    replay = connect("escEvent replay subscriber")(port)
    assert replay.call(f'<create-subscription xmlns="{NOTIF}"><stream>escEvent</stream><startTime>{start}</startTime>'
                       f"<stopTime>{stop}</stopTime></create-subscription>".encode()).ok
    drain(replay, lambda p: etree.QName(p).localname == "notificationComplete")

    victim = connect("session to be killed")(port)
    victim.call(f'<lock xmlns="{BASE}"><target><running/></target></lock>'.encode())
    client.call(f'<kill-session xmlns="{BASE}"><session-id>{victim.hello.session_id}</session-id></kill-session>')
    drain(netconf_stream, lambda p: etree.QName(p).localname == "netconf-session-end"
          and p.findtext(f"{{{NETCONF_NOTIFICATIONS}}}termination-reason") == "killed")
    client.call(f'<close-session xmlns="{BASE}"/>')
    for session in (replay, victim, netconf_stream):
        session.close()
    watcher.close()
    client.close()
    return operator, schemas


def test_every_reply_and_notification_of_a_lifecycle_is_valid_for_yanglint(tmp_path: Path) -> None:
    executable = yanglint_path()
    if executable is None:
        pytest.skip("yanglint (Debian libyang2-tools) is not installed; .ci/run installs it")
    journal = Journal()
    server = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    try:
        operator, schemas = lifecycle(server, journal, tmp_path / "schemas")
    finally:
        server.stop()
    yanglint = Yanglint(schemas, tmp_path / "messages", executable)
    assert yanglint.check_schemas() is None, f"the served modules do not compile: {yanglint.check_schemas()}"
    problems: list[str] = []
    if "notifications" in schemas.modules:
        # libyang 3 (netopeer2-cli 2.2 and later) types every notification's eventTime by this node of the
        # served RFC 5277 module, and refuses every notification when it is not there.
        missing = yanglint.run("-f", "tree", "-P", "/notifications:notification/eventTime")
        if missing is not None:
            problems.append(f"the served notifications module has no /notification/eventTime: {missing}")

    kinds = {m.operation.localname for m in journal.messages}
    assert {"get", "get-config", "get-schema", "edit-config", "serviceAction", "vmAction", "vmBackupAction",
            "recoveryVmAction", "escEvent", "netconf-config-change", "netconf-session-end"} <= kinds, kinds
    event = next(m for m in journal.messages if m.operation.localname == "escEvent")
    tampered = Message("tampered escEvent", event.xml.replace(b"<status>SUCCESS<", b"<status>MAYBE<"), None,
                       event.operation)
    assert tampered.xml != event.xml and yanglint.check(tampered) is not None, "yanglint must refuse a bad enum"

    edits = iter(operator.edits)
    for message in journal.messages:
        error = yanglint.check(message, config_change_context(message, edits))
        if error is not None:
            problems.append(str(Rejection(message, error)))
    assert not problems, f"{len(problems)} problems ({len(journal.messages)} messages checked):\n" + "\n".join(problems)
