"""The application wired in-process (no subprocess): what is easier to observe from inside."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest
from lxml import etree

from esc_netconf import gcpolicy
from esc_netconf.app import Application, Options


async def test_replay_log_is_pruned_to_its_bound(tmp_path: Path) -> None:
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path, replay_keep_last=5,
                              replay_prune_seconds=0.05))
    await app.start()
    try:
        for i in range(30):
            app.hub.publish("NETCONF", etree.Element("{urn:example}tick", n=str(i)))
        await app.hub.drain()  # stored now, not at the end of the group-commit window
        for _ in range(100):
            if app.replay_log.count("NETCONF") <= 5:
                break
            await asyncio.sleep(0.05)
        assert app.replay_log.count("NETCONF") == 5
    finally:
        await app.stop()


async def test_health_reports_every_part(tmp_path: Path) -> None:
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path))
    await app.start()
    try:
        report = await app.health()
        assert set(report) == {"netconf", "rest", "vim", "store"}
        assert all(part["ok"] for part in report.values()), report
        assert report["netconf"]["port"] == app.netconf_port
    finally:
        await app.stop()


async def test_a_client_that_never_says_hello_is_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import paramiko

    from esc_netconf.netconf import connection

    monkeypatch.setattr(connection, "HELLO_TIMEOUT_SECONDS", 0.5)
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path))
    await app.start()
    try:
        def silent_client() -> bytes:
            transport = paramiko.Transport(socket.create_connection(("127.0.0.1", app.netconf_port or 0)))
            transport.connect(username="admin", password="admin")
            channel = transport.open_session()
            channel.settimeout(10)
            channel.invoke_subsystem("netconf")
            received = b""
            while chunk := channel.recv(65536):  # our hello, then EOF when the server gives up
                received += chunk
            transport.close()
            return received

        received = await asyncio.wait_for(asyncio.to_thread(silent_client), 15)
        assert b"<hello" in received
        assert app.netconf.sessions == {}
    finally:
        await app.stop()


async def test_the_garbage_collector_policy_is_applied_at_start_and_undone_at_stop(tmp_path: Path) -> None:
    """Issue 13: the server freezes what start-up loaded and what survives collections, and collects the young
    generation itself every ``young_secs`` (gcpolicy)."""
    app = Application(Options(netconf_port=0, rest_port=0, data_dir=tmp_path))
    await app.start()
    try:
        assert gcpolicy.applied() == gcpolicy.DEFAULT
        assert gc.get_freeze_count() > 0
        frozen = gc.get_freeze_count()
        gc.collect()  # a full collection freezes its survivors, so the permanent generation does not shrink
        assert gc.get_freeze_count() >= frozen
        young: list[int] = []  # the loop collects the young generation every young_secs, whatever its count

        def counted(phase: str, info: dict[str, int]) -> None:
            if phase == "stop" and info["generation"] == 0:
                young.append(info["generation"])

        gc.callbacks.append(counted)
        try:
            await asyncio.sleep(0.3)
        finally:
            gc.callbacks.remove(counted)
        assert gcpolicy.DEFAULT.young_secs is not None and len(young) >= 0.3 / gcpolicy.DEFAULT.young_secs / 2
    finally:
        await app.stop()
    assert gcpolicy.applied() == gcpolicy.CPYTHON
    assert gc.get_freeze_count() == 0
