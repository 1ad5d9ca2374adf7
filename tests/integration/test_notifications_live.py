"""RFC 5277 / 6470 notifications on a live server: live delivery, interleave, replay across a restart."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from esc_netconf.netconf.messages import Notification
from tests.integration import samples
from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.raw_client import RawNetconf
from tests.integration.server_process import ServerProcess

BASE = "urn:ietf:params:xml:ns:netconf:base:1.0"
NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
NCN = "urn:ietf:params:xml:ns:yang:ietf-netconf-notifications"
NETMOD = "urn:ietf:params:xml:ns:netmod:notification"


def subscribe(client: RawNetconf, stream: str = "NETCONF", start: datetime | None = None,
              stop: datetime | None = None, filter_xml: str = "") -> object:
    parts = [f"<stream>{stream}</stream>", filter_xml]
    if start is not None:
        parts.append(f"<startTime>{start.isoformat()}</startTime>")
    if stop is not None:
        parts.append(f"<stopTime>{stop.isoformat()}</stopTime>")
    return client.call(f'<create-subscription xmlns="{NOTIF}">{"".join(parts)}</create-subscription>'.encode())


def edit(client: RawNetconf, config: str) -> None:
    reply = client.call(
        f'<edit-config xmlns="{BASE}"><target><running/></target>{config}</edit-config>'.encode()
    )
    assert reply.ok, reply.element


@pytest.fixture
def server(shared_server: ServerProcess) -> ServerProcess:
    """One server for the module: each test opens its own sessions and waits only for its own events (the
    restart test starts its own)."""
    return shared_server


def payload_name(notification: Notification) -> str:
    payload = notification.payload
    assert payload is not None
    return payload.tag


def test_config_change_is_notified_and_rpcs_still_work(server: ServerProcess) -> None:
    watcher, editor = RawNetconf(server.netconf_port), RawNetconf(server.netconf_port)
    try:
        assert subscribe(watcher).ok
        edit(editor, samples.tenant_only("notified"))
        change = watcher.notification()
        # the editor's own session-start may come first: the server handles the editor's hello and the
        # watcher's create-subscription on two connections, in whichever order their packets arrive; so may
        # the session-end of an earlier test's session on this shared server
        while payload_name(change) in (f"{{{NCN}}}netconf-session-start", f"{{{NCN}}}netconf-session-end"):
            change = watcher.notification()
        assert payload_name(change) == f"{{{NCN}}}netconf-config-change"
        assert change.payload is not None
        assert change.payload.findtext(f"{{{NCN}}}changed-by/{{{NCN}}}session-id") == str(editor.hello.session_id)
        # interleave: the subscribed session still answers RPCs
        reply = watcher.call(f'<get-config xmlns="{BASE}"><source><running/></source></get-config>'.encode())
        assert reply.element.find(f"{{{BASE}}}data") is not None
        # a second subscription on the same session is refused
        again = subscribe(watcher)
        assert not again.ok
    finally:
        watcher.close()
        editor.close()


def test_session_start_and_end_events(server: ServerProcess) -> None:
    watcher = RawNetconf(server.netconf_port)
    try:
        assert subscribe(watcher).ok
        other = RawNetconf(server.netconf_port)
        other_id = other.hello.session_id
        other.close()
        events = {}
        while len(events) < 2:
            n = watcher.notification()
            payload = n.payload
            assert payload is not None
            if payload.findtext(f"{{{NCN}}}session-id") == str(other_id):
                events[etree_local(payload.tag)] = payload
        assert set(events) == {"netconf-session-start", "netconf-session-end"}
        assert events["netconf-session-end"].findtext(f"{{{NCN}}}username") == "admin"
    finally:
        watcher.close()


def etree_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def test_bad_subscription_times_are_refused(server: ServerProcess) -> None:
    client = RawNetconf(server.netconf_port)
    try:
        now = datetime.now(timezone.utc)
        future = subscribe(client, start=now + timedelta(hours=1))
        assert not future.ok
        stop_without_start = client.call(
            f'<create-subscription xmlns="{NOTIF}"><stopTime>{now.isoformat()}</stopTime></create-subscription>'.encode()
        )
        assert not stop_without_start.ok
        unknown = subscribe(client, stream="no-such-stream")
        assert not unknown.ok
    finally:
        client.close()


def test_replay_survives_a_restart(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", properties=FAST_PROPERTIES).start()
    started = datetime.now(timezone.utc) - timedelta(seconds=1)
    editor = RawNetconf(proc.netconf_port)
    edit(editor, samples.tenant_only("before-restart"))
    editor.close()
    assert proc.stop() == 0

    proc.start()
    try:
        client = RawNetconf(proc.netconf_port)
        stop = datetime.now(timezone.utc)
        assert subscribe(client, start=started, stop=stop).ok
        names = []
        while True:
            n = client.notification()
            names.append(payload_name(n))
            if names[-1] == f"{{{NETMOD}}}notificationComplete":
                break
        assert f"{{{NCN}}}netconf-config-change" in names
        assert names[-2] == f"{{{NETMOD}}}replayComplete"
        client.close()
    finally:
        proc.stop()


def test_netconf_streams_are_listed(server: ServerProcess) -> None:
    client = RawNetconf(server.netconf_port)
    try:
        reply = client.call(
            f'<get xmlns="{BASE}"><filter type="subtree"><netconf xmlns="{NETMOD}"><streams/></netconf></filter></get>'.encode()
        )
        names = reply.element.xpath("//n:stream/n:name/text()", namespaces={"n": NETMOD})
        assert set(names) == {"NETCONF", "escEvent"}
        support = reply.element.xpath("//n:stream/n:replaySupport/text()", namespaces={"n": NETMOD})
        assert support == ["true", "true"]
    finally:
        client.close()


def test_a_finished_replay_frees_the_session_for_another_subscription(server: ServerProcess) -> None:
    client = RawNetconf(server.netconf_port)
    try:
        start = datetime.now(timezone.utc) - timedelta(minutes=1)
        assert subscribe(client, start=start, stop=datetime.now(timezone.utc)).ok
        names = [payload_name(client.notification())]
        while names[-1] != f"{{{NETMOD}}}notificationComplete":
            names.append(payload_name(client.notification()))
        assert f"{{{NETMOD}}}replayComplete" in names
        assert subscribe(client).ok
    finally:
        client.close()
