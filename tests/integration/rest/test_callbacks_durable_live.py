"""Callback delivery survives ``kill -9``: a live server, a slow simulated VIM, SIGKILL, restart on the
same data dir.

* killed while the operation is in flight: the core resumes it after the restart, and its remaining
  events still reach the request's callback URL with the request's ``ESC-Transaction-Id``;
* killed while the receiver refuses the events (they sit in the outbox, being retried): after the
  restart they are delivered, in order.

Delivery is at-least-once, so the checks count distinct ``ESC-Event-Id`` values, as a receiver would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import FAST_PROPERTIES
from tests.integration.rest.live_helpers import deploy, http, wait_until_idle
from tests.integration.rest.receiver import CallbackReceiver, Post
from tests.integration.server_process import ServerProcess

pytestmark = pytest.mark.timeout(120)

TENANT = "durable-callbacks"
ACTIVE = "SERVICE_ACTIVE_STATE"
REBOOT_EVENTS = ["VM_REBOOTED", "VM_ALIVE", "SERVICE_ALIVE"]
#: A reboot is a stop (1.5 s nominal) then a start (1.5 s): about 1.2 s at this scale, long enough to kill.
SLOW = {**FAST_PROPERTIES, "vim.sim.delay.scale": "0.4"}


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as r:
        yield r


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", properties=SLOW).start()
    yield proc
    if proc.running():
        proc.stop()


def reboot(server: ServerProcess, receiver: CallbackReceiver, name: str) -> str:
    reply = http("POST", f"{server.rest_url}/{TENANT}/deployments/service/{name}",
                 json.dumps({"operation": "reboot"}).encode(),
                 {"Content-Type": "application/json", "callback": receiver.url})
    assert reply.status == 200, reply
    return reply.headers["esc-transaction-id"]


def distinct(posts: list[Post]) -> list[Post]:
    """The posts with a new ``ESC-Event-Id``, in arrival order (what a de-duplicating receiver keeps)."""
    seen: set[str] = set()
    kept = []
    for post in posts:
        event_id = post.headers["esc-event-id"]
        assert event_id == post.body["stateMachineEventNBInfo"]["id"]
        if event_id not in seen:
            seen.add(event_id)
            kept.append(post)
    return kept


def test_events_of_an_operation_resumed_after_kill_reach_the_callback(server: ServerProcess,
                                                                      receiver: CallbackReceiver) -> None:
    deploy(server, TENANT, "inflight")
    tid = reboot(server, receiver, "inflight")
    time.sleep(0.3)
    assert not receiver.of(tid), "the kill must land while the reboot is in flight"
    server.kill()

    server.start()
    receiver.wait(lambda: len(distinct(receiver.of(tid))) >= len(REBOOT_EVENTS), timeout=30)
    posts = distinct(receiver.of(tid))
    assert [p.event_type for p in posts] == REBOOT_EVENTS
    assert {p.headers["esc-transaction-id"] for p in posts} == {tid}
    assert all(p.body["status"] == "SUCCESS" for p in posts)
    wait_until_idle(server, TENANT, "inflight", ACTIVE)


def test_events_waiting_in_the_outbox_at_kill_are_delivered_after_restart(server: ServerProcess,
                                                                          receiver: CallbackReceiver) -> None:
    deploy(server, TENANT, "refused")
    receiver.fail_next(1_000_000)  # every POST answered 503: the server keeps retrying from its outbox
    tid = reboot(server, receiver, "refused")
    wait_until_idle(server, TENANT, "refused", ACTIVE)
    receiver.wait(lambda: receiver.refused >= 2, timeout=10)
    assert not receiver.of(tid)
    server.kill()
    receiver.fail_next(0)

    server.start()
    receiver.wait(lambda: len(distinct(receiver.of(tid))) >= len(REBOOT_EVENTS), timeout=30)
    posts = distinct(receiver.of(tid))
    assert [p.event_type for p in posts] == REBOOT_EVENTS
    assert {p.headers["esc-transaction-id"] for p in posts} == {tid}
