"""Callback bodies and headers, the registry, and the dispatcher's ordering, retries and give-up (a fake sender)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime, timezone

import pytest

from esc_netconf.core.events import EscEvent, EventBus, EventInterface, EventStatus, EventType, VmSource, VmTarget
from esc_netconf.rest.callback_events import callback_body, callback_headers, header_value
from esc_netconf.rest.callback_store import MemoryCallbackStore
from esc_netconf.rest.callbacks import (EVENT_ID_HEADER, CallbackDispatcher, CallbackRegistry, CallbackRouter,
                                        CallbackService, DestinationState, RetryPolicy)

FAST = RetryPolicy(first_delay=0.01, max_delay=0.02, give_up_after=0.1)


def event(type_: EventType = EventType.VM_VOLUME_CREATED_EVENT, *, tid: str | None = "tid-1", ok: bool = True,
          message: str = "Create volume snapshot request completed",
          parameters: Mapping[str, str | None] | None = None) -> EscEvent:
    return EscEvent(type_, EventStatus.SUCCESS if ok else EventStatus.FAILURE, 201 if ok else 500, message,
                    "dep", "t", "proj", "dep-1", "g", VmSource(vmid="vm-1", vmname="dep_g_0_x"),
                    datetime(2021, 9, 14, 12, 18, 39, 836000, tzinfo=timezone.utc), transaction_id=tid,
                    callback_only=True, parameters=dict(parameters or {}))


def test_body_follows_the_seed_volume_created_event() -> None:
    body = callback_body(event(parameters={"external_volume_id": "c3cd", "size": "2", "name": "v"}))
    seed_keys = {"escTransactionId", "eventType", "eventSourceContext", "eventTargetContext", "message",
                 "stateMachineEventNBInfo", "escParameter", "vmUpdateType", "requestDetails", "statusCode",
                 "notificationOnlyEvent"}
    assert seed_keys <= set(body)
    assert body["escTransactionId"] == "tid-1" and body["statusCode"] == "201"
    assert body["escParameter"] == {"external_volume_id": "c3cd", "size": "2", "name": "v"}
    assert set(body["stateMachineEventNBInfo"]) == {"id", "message", "logNames", "keywords", "actionInfo",
                                                    "stackTrace"}
    assert body["eventTime"] == "2021-09-14T12:18:39.836+00:00"
    json.dumps(body)


def test_recovery_events_carry_vm_source_and_vm_target_with_interfaces() -> None:
    nic = EventInterface(nicid=0, port_id="p-1", network="n-1", subnet="s-1", ip_address="10.0.0.5",
                         mac_address="fa:16:3e:00:00:01", netmask="255.255.255.0", gateway="10.0.0.1")
    recovered = dataclasses.replace(event(EventType.VM_RECOVERY_COMPLETE), vm_target=VmTarget(
        vmid="vm-2", hostid="h", hostname="compute-1", interfaces=(nic,)))
    body = callback_body(recovered)
    assert body["eventSourceContext"]["vmid"] == "vm-1" and body["eventSourceContext"]["interfaces"] == []
    target = body["eventTargetContext"]
    assert (target["vmid"], target["hostname"]) == ("vm-2", "compute-1")
    assert target["interfaces"] == [{"nicid": 0, "type": "virtual", "port_id": "p-1", "network": "n-1",
                                     "subnet": "s-1", "ip_address": "10.0.0.5", "mac_address": "fa:16:3e:00:00:01",
                                     "netmask": "255.255.255.0", "gateway": "10.0.0.1"}]
    assert callback_body(event(EventType.VM_STOPPED))["eventTargetContext"] is None
    json.dumps(body)


def test_events_without_parameters_carry_the_netconf_fields() -> None:
    body = callback_body(event(EventType.VM_STOPPED, ok=False, message="boom"))
    assert body["escParameter"]["status"] == "FAILURE" and body["escParameter"]["vmname"] == "dep_g_0_x"
    assert body["statusCode"] == "500" and body["escParameter"]["hostname"] is None


def test_headers_are_single_line_latin1() -> None:
    headers = callback_headers(event(message="line one\r\nline two \u2603"))
    assert headers["ESC-Transaction-Id"] == "tid-1" and headers["ESC-Status-Code"] == "201"
    assert headers["ESC-Status-Message"] == "line one??line two ?"
    assert len(header_value("x" * 5000)) == 1024


def test_registry_dedupes_finishes_prunes_and_is_bounded() -> None:
    now = [0.0]
    store = MemoryCallbackStore()
    registry = CallbackRegistry(store, quiet_after=10, retention=5, capacity=3, clock=lambda: now[0])
    registry.register("a", ["http://x", "http://x", "http://y"])
    assert registry.destinations("a") == ("http://x", "http://y")
    assert store.registrations["a"].urls == ("http://x", "http://y")
    registry.register("none", [])
    assert registry.destinations("none") == () and registry.destinations(None) == ()
    assert "none" not in store.registrations
    busy = [True]
    registry.register("b", ["http://z"])
    registry.track("b", lambda: busy[0])
    now[0] = 9
    assert registry.destinations("a")  # an event: "a" is not quiet
    registry.sweep()
    assert store.registrations["a"].finished is None and store.registrations["b"].finished is None
    busy[0] = False
    now[0] = 18
    registry.sweep()  # "b" ended (not quiet: tracked), "a" still within quiet_after of its last event
    assert store.registrations["b"].finished == 18 and store.registrations["a"].finished is None
    now[0] = 20
    registry.sweep()  # "a" quiet since 9
    assert store.registrations["a"].finished == 20
    assert registry.destinations("b") == ("http://z",)  # finished but kept: a late event still goes out
    now[0] = 24
    registry.sweep()  # "b" finished 6 s ago > retention 5; "a" 4 s ago
    assert registry.destinations("b") == () and "b" not in store.registrations and "a" in store.registrations
    for name in ("c", "d", "e"):
        registry.register(name, ["http://z"])
    assert len(registry) == 3 and registry.destinations("a") == () and "a" not in store.registrations
    registry.forget("e")
    assert registry.destinations("e") == () and "e" not in store.registrations


def test_registry_loads_what_the_store_kept() -> None:
    store = MemoryCallbackStore()
    CallbackRegistry(store, clock=lambda: 100.0).register("tid", ["http://a"])
    reborn = CallbackRegistry(store, clock=lambda: 200.0)
    assert reborn.destinations("tid") == ()
    reborn.load()
    assert reborn.destinations("tid") == ("http://a",)


class FakeSender:
    """Answers from a script per URL (an int status, or an exception to raise); records what it got."""

    def __init__(self, script: dict[str, list[int | Exception]] | None = None, delay: float = 0.0) -> None:
        self.script = script or {}
        self.delay = delay
        self.calls: list[tuple[str, bytes]] = []
        self.headers: list[Mapping[str, str]] = []

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append((url, body))
        self.headers.append(headers)
        await asyncio.sleep(self.delay)
        answers = self.script.get(url, [])
        answer = answers.pop(0) if answers else 200
        if isinstance(answer, Exception):
            raise answer
        return answer


async def test_in_order_per_url_with_retries() -> None:
    sender = FakeSender({"http://a": [503, ConnectionRefusedError("refused"), 200]})
    dispatcher = CallbackDispatcher(sender, policy=FAST)
    for n in range(3):
        dispatcher.submit("http://a", str(n).encode(), {})
    dispatcher.submit("http://b", b"b", {})
    await dispatcher.drain(2)
    a_calls = [body for url, body in sender.calls if url == "http://a"]
    assert a_calls == [b"0", b"0", b"0", b"1", b"2"]
    assert dispatcher.delivered == 4 and dispatcher.dropped == 0
    assert dispatcher.state("http://a") is DestinationState.UP
    await dispatcher.close()


async def test_dead_receiver_goes_down_logs_once_and_gets_one_try_per_event(
        caplog: pytest.LogCaptureFixture) -> None:
    sender = FakeSender({"http://dead": [OSError("unreachable")] * 100})
    dispatcher = CallbackDispatcher(sender, policy=FAST)
    dispatcher.submit("http://dead", b"first", {})
    await dispatcher.drain(2)
    assert dispatcher.state("http://dead") is DestinationState.DOWN
    tries_for_first = len(sender.calls)
    assert tries_for_first > 2
    for n in range(5):
        dispatcher.submit("http://dead", str(n).encode(), {})
    await dispatcher.drain(2)
    assert len(sender.calls) == tries_for_first + 5
    assert dispatcher.dropped == 6
    assert len([r for r in caplog.records if r.levelname == "WARNING"]) == 1
    sender.script["http://dead"] = [200]
    dispatcher.submit("http://dead", b"back", {})
    await dispatcher.drain(2)
    assert dispatcher.state("http://dead") is DestinationState.UP and dispatcher.delivered == 1
    await dispatcher.close()


async def test_client_errors_are_final_but_408_and_429_are_retried() -> None:
    sender = FakeSender({"http://a": [404], "http://b": [429, 200]})
    dispatcher = CallbackDispatcher(sender, policy=FAST)
    dispatcher.submit("http://a", b"x", {})
    dispatcher.submit("http://b", b"y", {})
    await dispatcher.drain(2)
    assert [u for u, _ in sender.calls].count("http://a") == 1
    assert [u for u, _ in sender.calls].count("http://b") == 2
    assert dispatcher.dropped == 1 and dispatcher.delivered == 1
    await dispatcher.close()


async def test_submit_never_waits_and_queues_are_bounded() -> None:
    sender = FakeSender(delay=0.05)
    dispatcher = CallbackDispatcher(sender, policy=FAST, queue_limit=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(10):
        dispatcher.submit("http://slow", str(n).encode(), {})
    assert loop.time() - started < 0.01
    await dispatcher.drain(2)
    assert dispatcher.delivered == 3 and dispatcher.dropped == 7
    await dispatcher.close()


async def test_idle_workers_end() -> None:
    dispatcher = CallbackDispatcher(FakeSender(), policy=FAST, idle_exit=0.02)
    dispatcher.submit("http://a", b"x", {})
    await dispatcher.drain(1)
    await asyncio.sleep(0.1)
    assert dispatcher.state("http://a") is None
    dispatcher.submit("http://a", b"y", {})
    await dispatcher.drain(1)
    assert dispatcher.delivered == 2
    await dispatcher.close()


async def test_router_sends_only_registered_transactions() -> None:
    sender = FakeSender()
    registry = CallbackRegistry()
    dispatcher = CallbackDispatcher(sender, policy=FAST)
    bus = EventBus()
    bus.subscribe(CallbackRouter(registry, dispatcher))
    registry.register("tid-1", ["http://a", "http://b"])
    bus.publish(event(tid="tid-1"))
    bus.publish(event(tid="other"))
    bus.publish(event(tid=None))
    await dispatcher.drain(1)
    assert sorted(url for url, _ in sender.calls) == ["http://a", "http://b"]
    assert json.loads(sender.calls[0][1])["escTransactionId"] == "tid-1"
    await dispatcher.close()


async def test_router_writes_the_outbox_first_and_settles_when_done() -> None:
    sender = FakeSender({"http://gone": [404]})
    store = MemoryCallbackStore()
    registry = CallbackRegistry(store)
    seen_in_outbox: list[int] = []

    async def send(url: str, body: bytes, headers: Mapping[str, str]) -> int:
        seen_in_outbox.append(len(store.outbox))  # written before the first attempt
        return await sender(url, body, headers)

    dispatcher = CallbackDispatcher(send, policy=FAST, settle=store.settle)
    bus = EventBus()
    bus.subscribe(CallbackRouter(registry, dispatcher))
    registry.register("tid-1", ["http://a", "http://gone"])
    bus.publish(event(tid="tid-1"))
    assert [d.url for d in store.load_outbox()] == ["http://a", "http://gone"]
    await dispatcher.drain(1)
    assert store.outbox == {} and seen_in_outbox and seen_in_outbox[0] >= 1
    event_ids = {h[EVENT_ID_HEADER] for h in sender.headers}
    assert len(event_ids) == 1
    assert json.loads(sender.calls[0][1])["stateMachineEventNBInfo"]["id"] in event_ids
    await dispatcher.close()


async def test_a_closed_dispatcher_leaves_the_outbox_and_a_new_service_resumes_it_in_order() -> None:
    store = MemoryCallbackStore()
    slow = FakeSender(delay=10)
    first = CallbackService(store, sender=slow, policy=FAST)
    bus = EventBus()
    first.start(bus)
    first.registry.register("tid-1", ["http://a"])
    for n in range(3):
        bus.publish(event(tid="tid-1", message=f"m{n}"))
    await asyncio.sleep(0.01)
    await first.close()  # as if killed: nothing was delivered
    assert len(store.outbox) == 3
    bus.publish(event(tid="tid-1", message="after close"))
    assert len(store.outbox) == 3  # unsubscribed

    pending = store.load_outbox()
    sender = FakeSender()
    second = CallbackService(store, sender=sender, policy=FAST)
    bus2 = EventBus()
    assert second.start(bus2) == 3
    bus2.publish(event(tid="tid-1", message="m3"))  # the registration came back too
    await second.dispatcher.drain(2)
    assert [json.loads(body)["message"] for _, body in sender.calls] == ["m0", "m1", "m2", "m3"]
    assert [h[EVENT_ID_HEADER] for h in sender.headers[:3]] == [d.headers[EVENT_ID_HEADER] for d in pending]
    assert store.outbox == {}
    await second.close()


async def test_an_undeliverable_url_is_dropped_at_submit_settled_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    from esc_netconf.rest.callback_urls import CallbackUrlPolicy

    settled: list[int] = []
    sender = FakeSender()
    dispatcher = CallbackDispatcher(sender, policy=FAST, settle=settled.append,
                                    check_url=CallbackUrlPolicy().undeliverable)
    with caplog.at_level("WARNING"):
        for key in range(3):
            dispatcher.submit("http://a..b/x", b"{}", {}, key=key)
    assert settled == [0, 1, 2] and sender.calls == [] and dispatcher.dropped == 3
    assert sum("can never be delivered" in r.getMessage() for r in caplog.records) == 1
    await dispatcher.close()


async def test_an_unforeseen_sender_failure_drops_that_event_and_the_worker_goes_on() -> None:
    settled: list[int] = []
    sender = FakeSender({"http://a": [UnicodeError("label empty or too long"), 200]})
    dispatcher = CallbackDispatcher(sender, policy=FAST, settle=settled.append)
    dispatcher.submit("http://a", b"1", {}, key=1)
    dispatcher.submit("http://a", b"2", {}, key=2)
    await dispatcher.drain(2)
    assert settled == [1, 2] and dispatcher.delivered == 1 and dispatcher.dropped == 1
    await dispatcher.close()


async def test_a_fenced_server_sends_no_callback_when_the_outbox_refuses_it() -> None:
    """A server of a group that lost the lease cannot write the outbox (LeadershipLost): it must then not
    send the event either, since the new active sends the group's events (CONTRACT section 8)."""
    from esc_netconf.store.leadership import LeadershipLost

    class FencedStore(MemoryCallbackStore):
        def enqueue(self, *args: object, **kwargs: object) -> list[int | None]:
            raise LeadershipLost("write refused: node-a holds no lease (token 1, the group is at 2)")

    sender = FakeSender()
    registry = CallbackRegistry(FencedStore())
    dispatcher = CallbackDispatcher(sender, policy=FAST)
    bus = EventBus()
    bus.subscribe(CallbackRouter(registry, dispatcher))
    registry.register("tid-1", ["http://a"])
    bus.publish(event(tid="tid-1"))
    await asyncio.sleep(0.05)
    assert sender.calls == [] and dispatcher.delivered == 0
    await dispatcher.close()


async def test_a_dispatcher_whose_guard_refuses_stops_and_leaves_the_outbox() -> None:
    """Retries that fall due after the lease was lost (a partition) are refused by the guard before any
    POST; the deliveries stay in the outbox for the new active."""
    from esc_netconf.store.leadership import LeadershipLost

    active = [True]

    def guard() -> None:
        if not active[0]:
            raise LeadershipLost("node-a is not the active of its group")

    sender = FakeSender({"http://a": [503, 503, 503, 503, 503]})
    store = MemoryCallbackStore()
    registry = CallbackRegistry(store)
    dispatcher = CallbackDispatcher(sender, policy=FAST, settle=store.settle, guard=guard)
    bus = EventBus()
    bus.subscribe(CallbackRouter(registry, dispatcher))
    registry.register("tid-1", ["http://a"])
    bus.publish(event(tid="tid-1"))
    await asyncio.sleep(0.015)
    tried = len(sender.calls)
    assert tried >= 1
    active[0] = False
    await asyncio.sleep(0.1)
    assert len(sender.calls) == tried and dispatcher.delivered == 0
    assert [d.url for d in store.load_outbox()] == ["http://a"]
    await dispatcher.close()


async def test_an_event_the_core_delivers_again_after_a_kill_is_posted_once_with_its_id() -> None:
    store = MemoryCallbackStore()
    first = CallbackService(store, sender=FakeSender(delay=10), policy=FAST)
    bus = EventBus()
    first.start(bus)
    first.registry.register("tid-1", ["http://a"])
    journaled = dataclasses.replace(event(tid="tid-1", message="m0"), event_id="0b7c6a3e-1111-4c3b-9d55-2f6c1c5e9a10")
    bus.publish(journaled)
    await asyncio.sleep(0.01)
    await first.close()  # killed after the outbox write, before the core's journal forgot the event

    sender = FakeSender()
    second = CallbackService(store, sender=sender, policy=FAST)
    bus2 = EventBus()
    assert second.start(bus2) == 1
    bus2.redeliver([journaled])  # the restarted core delivers it again
    await second.dispatcher.drain(2)
    assert [json.loads(body)["message"] for _, body in sender.calls] == ["m0"]
    assert sender.headers[0][EVENT_ID_HEADER] == journaled.event_id
    assert json.loads(sender.calls[0][1])["stateMachineEventNBInfo"]["id"] == journaled.event_id
    await second.close()
