"""A kill -9 loses nothing that was acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from esc_netconf.store import Database, SqlConfigStore, SqlCoreStore, SqlReplayLog

WRITER = Path(__file__).with_name("durability_writer.py")
ROUNDS_BEFORE_KILL = 150


@pytest.mark.timeout(60)
def test_every_acknowledged_write_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "esc.db"
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    acknowledged = 0
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read() if child.stderr else ""
        for line in child.stdout:
            acknowledged = int(line.split()[0])
            if acknowledged >= ROUNDS_BEFORE_KILL:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    assert acknowledged == ROUNDS_BEFORE_KILL

    with Database.open(path) as database:
        with database.read() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        stored = SqlConfigStore(database).load_running_versioned()
        assert stored is not None
        assert stored.version >= acknowledged
        # The document and its version were written in one transaction: they agree.
        assert stored.xml == f"<data><round>{stored.version}</round></data>".encode()

        events = [xml for _t, xml in SqlReplayLog(database).read("escEvent", datetime(2000, 1, 1, tzinfo=timezone.utc), None)]
        assert events[:acknowledged] == [f"<e>{i}</e>".encode() for i in range(1, acknowledged + 1)]

        tenants = SqlCoreStore(database).load().tenants
        assert {f"tenant-{i}" for i in range(1, acknowledged + 1)} <= set(tenants)
