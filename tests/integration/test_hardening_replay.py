"""Issue 11, replay is paged: subscribers replaying thousands of stored events at once must not stall
the server (40 of them stalled it for 24 s). In-process, so the replay log can be filled fast; the
clients are real SSH clients on loopback."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from lxml import etree

from esc_netconf.app import Application, Options
from esc_netconf.netconf.messages import Notification
from tests.integration.hardening import Bystander, error_tags
from tests.integration.raw_client import RawNetconf

NOTIF = "urn:ietf:params:xml:ns:netconf:notification:1.0"
EVENTS = 3_000
SUBSCRIBERS = 12


def _replay_all(
    port: int, counts: list[int], errors: list[BaseException], wait: float = 60.0,
    client: RawNetconf | None = None,
) -> None:
    """Subscribe with a replay of everything stored and count the events up to replayComplete."""
    try:
        client = client or RawNetconf(port)
        reply = client.call(
            f'<create-subscription xmlns="{NOTIF}"><stream>escEvent</stream><startTime>2000-01-01T00:00:00Z</startTime>'
            "</create-subscription>".encode()
        )
        assert not error_tags(reply), error_tags(reply)
        received = 0
        while True:
            note = client.notification(timeout=wait)
            assert isinstance(note, Notification)
            payload = note.payload
            if payload is not None and etree.QName(payload).localname == "replayComplete":
                break
            received += 1
        counts.append(received)
    except BaseException as exc:
        errors.append(exc)
    finally:
        if client is not None:
            client.close()


def _attack(port: int) -> tuple[list[int], list[BaseException], Bystander]:
    counts: list[int] = []
    errors: list[BaseException] = []
    with Bystander(port) as bystander:
        threads = [threading.Thread(target=_replay_all, args=(port, counts, errors)) for _ in range(SUBSCRIBERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    return counts, errors, bystander


async def test_many_replaying_subscribers_do_not_stall_the_server(tmp_path: Path) -> None:
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path))
    await app.start()
    try:
        for i in range(EVENTS):
            app.hub.publish("escEvent", etree.Element("{urn:example}tick", n=str(i)))
        assert app.netconf_port is not None
        counts, errors, bystander = await asyncio.to_thread(_attack, app.netconf_port)
        assert not errors, errors
        assert counts == [EVENTS] * SUBSCRIBERS
        bystander.check()
    finally:
        await app.stop()
