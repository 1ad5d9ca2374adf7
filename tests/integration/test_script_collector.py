"""The CUSTOM_SCRIPT collector runs real executables from a script directory (a temp dir here).

A script gets the VM's address, its generated name and the KPI's ``args`` as separate arguments (no shell:
``$HOME;x`` arrives as written); its first line is the reading.  Everything else is a failed poll, logged
once per VM and script: a timeout (its whole process group killed), output past the bound, a non-zero exit,
a line that is not a number, a missing, non-executable or escaping file.  Runs never block the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

import pytest

from esc_netconf.collectors.script import MAX_OUTPUT, ScriptCollector
from esc_netconf.core.collectors import Metric, Probe, Reading
from esc_netconf.core.model import KpiSpec


def write(directory: Path, name: str, body: str, mode: int = 0o755) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(mode)


def probe(name: str, *, args: str = "", timeout: str = "5", metric_type: str = "FLOAT", vm: str = "dep_g_0_x",
          address: str | None = "10.10.0.10") -> Probe:
    properties = (("script_filename", name), ("args", args), ("timeout", timeout))
    return Probe(vm, "server-1", address, KpiSpec("VM_OVERLOADED", "80", "GE", metric_type, "CUSTOM_SCRIPT",
                                                  collector_properties=properties))


def collect(collector: ScriptCollector, probes: list[Probe]) -> list[Reading]:
    return asyncio.run(collector.collect(Metric.SCRIPT, probes))


def test_arguments_and_readings(tmp_path: Path) -> None:
    write(tmp_path, "echo-args", 'printf "%s|" "$@" >> "$0.seen"; echo >> "$0.seen"; echo "$3"\necho ignored\n')
    collector = ScriptCollector(tmp_path)
    readings = collect(collector, [probe("echo-args", args="'$HOME;x' \"a b\""),
                                   probe("echo-args", args="DEGRADED", metric_type="STRING"),
                                   probe("echo-args", args="12", address=None)])
    assert readings == [None, "DEGRADED", 12.0]  # "$HOME;x" is not a number: a failed poll
    seen = sorted((tmp_path / "echo-args.seen").read_text().splitlines())
    assert seen == ["10.10.0.10|dep_g_0_x|$HOME;x|a b|", "10.10.0.10|dep_g_0_x|DEGRADED|", "|dep_g_0_x|12|"]
    assert collector.failed_polls == 1


def test_failures_are_failed_polls_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(tmp_path, "exit3", "echo 'disk gone' >&2; exit 3\n")
    write(tmp_path, "chatty", "yes 1\n")
    write(tmp_path, "silent", "exit 0\n")
    write(tmp_path, "not-exec", "echo 1\n", mode=0o644)
    os.symlink("/bin/echo", tmp_path / "escapes")
    collector = ScriptCollector(tmp_path)
    probes = [probe(name) for name in ("exit3", "chatty", "silent", "not-exec", "missing", "escapes")]
    with caplog.at_level(logging.WARNING, logger="esc_netconf.collectors.script"):
        assert collect(collector, probes) == [None] * 6
        assert collect(collector, probes) == [None] * 6
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 6 and collector.failed_polls == 12  # every poll failed, each cause logged once
    for expected in ("exit status 3: disk gone", f"more than {MAX_OUTPUT} bytes", "printed nothing",
                     "not executable", "no such file", "outside the KPI script directory"):
        assert any(expected in m for m in messages), expected


def test_timeout_and_cancel_kill_the_process_group_without_blocking_the_loop(tmp_path: Path) -> None:
    write(tmp_path, "hangs", 'sleep 30 &\necho $! > "$0.tmp"\nmv "$0.tmp" "$0.child"\nwait\n')
    collector = ScriptCollector(tmp_path)

    async def run() -> tuple[list[Reading], int, float]:
        start, ticks = time.monotonic(), 0
        reading = asyncio.ensure_future(collector.collect(Metric.SCRIPT, [probe("hangs", timeout="0.5")]))
        while not reading.done():
            ticks += 1
            await asyncio.sleep(0.01)
        return reading.result(), ticks, time.monotonic() - start

    readings, ticks, seconds = asyncio.run(run())
    assert readings == [None] and 0.5 <= seconds < 3 and ticks >= 30
    assert_gone(int((tmp_path / "hangs.child").read_text()))

    async def cancelled() -> None:  # the server stops while a script runs: it does not outlive it
        reading = asyncio.ensure_future(collector.collect(Metric.SCRIPT, [probe("hangs", timeout="20")]))
        while not (tmp_path / "hangs.child").exists():
            await asyncio.sleep(0.01)
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)

    (tmp_path / "hangs.child").unlink()
    asyncio.run(cancelled())
    assert_gone(int((tmp_path / "hangs.child").read_text()))


def assert_gone(pid: int) -> None:
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the script's child outlived its run"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
