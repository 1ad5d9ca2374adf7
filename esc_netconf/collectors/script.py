"""The ``CUSTOM_SCRIPT`` collector: a KPI read by running an operator's executable, as ESC's script metrics.

The KPI names the executable in ``metric_collector/properties`` (``script_filename``, ``args``, ``timeout``:
``core.collectors.ScriptDefinition``).  It must live in the server's KPI script directory
(``<data-dir>/scripts``): the deployment names a file the operator put there, never a path elsewhere, so
whoever may edit the configuration cannot run arbitrary programs.  Each probe runs it once, directly (no
shell), as ``<script> <vm-address> <generated-vm-name> <args...>`` with stdin closed, a small fixed
environment and its own process group; the reading is the first line of its standard output (a number, or
the text for STRING metrics).  A run that exits non-zero, prints nothing usable, prints more than
``MAX_OUTPUT`` bytes or outlives its ``timeout`` (its whole process group is killed) is a failed poll,
logged once per VM and script until it succeeds again.

The runs of a pass go side by side as asyncio subprocesses (never blocking the loop), at most
``CONCURRENCY`` at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from esc_netconf.core.collectors import DefinitionError, Metric, Probe, Reading, ScriptDefinition

log = logging.getLogger(__name__)

#: Bytes of standard output read from one run; a script printing more fails its poll.
MAX_OUTPUT = 4096
#: Bytes of standard error kept for the log line of a failed run.
MAX_ERROR = 512
#: Scripts running at once (each is a process).
CONCURRENCY = 32
#: The environment a script gets: nothing of the server's own (credentials, database URLs).
SCRIPT_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


class ScriptFailed(Exception):
    """One run did not give a reading; the message says why, in words for the log."""


class ScriptCollector:
    """Reads ``Metric.SCRIPT`` by running each KPI's script from ``script_dir``; other metrics read None."""

    def __init__(self, script_dir: Path) -> None:
        self._dir = script_dir
        self._failing: dict[tuple[str, str], str] = {}
        self._gate: asyncio.Semaphore | None = None
        self.failed_polls = 0

    async def collect(self, metric: Metric, probes: Sequence[Probe]) -> list[Reading]:
        if metric is not Metric.SCRIPT:
            return [None] * len(probes)
        if self._gate is None:
            self._gate = asyncio.Semaphore(CONCURRENCY)
        return list(await asyncio.gather(*(self._read(probe) for probe in probes)))

    async def _read(self, probe: Probe) -> Reading:
        if probe.kpi is None or probe.server_id is None:
            return None
        try:
            definition = ScriptDefinition.of(probe.kpi)
        except DefinitionError:
            return None  # refused at commit; a stored spec from before is simply not read
        key = (probe.vm_name, definition.filename)
        assert self._gate is not None
        try:
            async with self._gate:
                text = await self._run(definition, probe)
            reading: Reading = text if (probe.kpi.metric_type or "").upper() == "STRING" else _number(text)
        except ScriptFailed as failure:
            self.failed_polls += 1
            if self._failing.get(key) != str(failure):
                log.warning("KPI script [%s] for VM [%s] failed: %s; its polls count as failed until it succeeds",
                            definition.filename, probe.vm_name, failure)
                self._failing[key] = str(failure)
            return None
        if self._failing.pop(key, None) is not None:
            log.info("KPI script [%s] for VM [%s] succeeds again", definition.filename, probe.vm_name)
        return reading

    def _executable(self, definition: ScriptDefinition) -> Path:
        root = self._dir.resolve()
        path = (root / definition.filename).resolve()
        if not path.is_relative_to(root):  # a symbolic link out of the directory
            raise ScriptFailed(f"it resolves outside the KPI script directory {root}")
        if not path.is_file():
            raise ScriptFailed(f"no such file in the KPI script directory {root}")
        if not os.access(path, os.X_OK):
            raise ScriptFailed("the file is not executable")
        return path

    async def _run(self, definition: ScriptDefinition, probe: Probe) -> str:
        executable = self._executable(definition)
        spawn = asyncio.ensure_future(asyncio.create_subprocess_exec(
            str(executable), probe.address or "", probe.vm_name, *definition.args,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=SCRIPT_ENV, cwd=str(executable.parent), start_new_session=True))
        try:
            # shielded: a cancel while asyncio connects the pipes would kill the script but not its children
            process = await asyncio.shield(spawn)
        except OSError as exc:
            raise ScriptFailed(f"it cannot be started: {exc.strerror or exc}") from None
        except asyncio.CancelledError:
            spawn.add_done_callback(_kill_spawned)
            raise
        try:
            async with asyncio.timeout(definition.timeout):  # not wait_for: it can lose a cancel on 3.11
                out, err = await _bounded(process)
        except TimeoutError:
            await _reap(process)
            raise ScriptFailed(f"no answer within {definition.timeout:g} s (killed)") from None
        except ScriptFailed:
            await _reap(process)
            raise
        except asyncio.CancelledError:  # the server stops: no script outlives it (reaped within 2 s)
            await asyncio.shield(_reap(process))
            raise
        if process.returncode != 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()
            raise ScriptFailed(f"exit status {process.returncode}" + (f": {detail[-1]}" if detail else ""))
        lines = out.decode("utf-8", "replace").strip().splitlines()
        if not lines or not lines[0].strip():
            raise ScriptFailed("it printed nothing")
        return lines[0].strip()


async def _bounded(process: asyncio.subprocess.Process) -> tuple[bytes, bytes]:
    """Standard output (at most ``MAX_OUTPUT`` bytes, else ``ScriptFailed``) and the tail of standard error,
    once the process exited."""
    assert process.stdout is not None and process.stderr is not None
    err_task = asyncio.ensure_future(_tail(process.stderr))
    try:
        out = b""
        while chunk := await process.stdout.read(MAX_OUTPUT + 1 - len(out)):
            out += chunk
            if len(out) > MAX_OUTPUT:
                raise ScriptFailed(f"it printed more than {MAX_OUTPUT} bytes")
        await process.wait()
        return out, await err_task
    finally:
        err_task.cancel()


async def _tail(stream: asyncio.StreamReader) -> bytes:
    """The last ``MAX_ERROR`` bytes of a stream, read to its end (so a chatty script never blocks on it)."""
    kept = b""
    while chunk := await stream.read(65536):
        kept = (kept + chunk)[-MAX_ERROR:]
    return kept


def _kill_spawned(spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
    """A script whose start was cancelled: its process group is killed once it exists (asyncio reaps it)."""
    if not spawn.cancelled() and spawn.exception() is None:
        try:
            os.killpg(spawn.result().pid, signal.SIGKILL)
        except ProcessLookupError:
            log.debug("KPI script process %d had already exited", spawn.result().pid)


async def _reap(process: asyncio.subprocess.Process) -> None:
    """SIGKILL to the script and everything it started (its own session, see ``start_new_session``), then
    its pipes read to their end (asyncio reaps a process only once its pipes are closed)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        log.debug("KPI script process %d had already exited", process.pid)
    assert process.stdout is not None and process.stderr is not None
    try:
        async with asyncio.timeout(2.0):
            await asyncio.gather(_tail(process.stdout), _tail(process.stderr), process.wait())
    except TimeoutError:  # a descendant left the session and holds a pipe: asyncio reaps it once it closes
        log.warning("KPI script process %d: a process it started still holds its output open", process.pid)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ScriptFailed(f"its first line [{text[:80]}] is not a number") from None
