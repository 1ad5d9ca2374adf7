"""A live ``esc-netconf serve`` subprocess on loopback, as an operator would run it.

Ports are 0 (the server picks free ones and prints them); the data dir is the test's own, so a test can
stop the server (SIGTERM or SIGKILL) and start another on the same state.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

LOOP_WRITE = "a store write on the event loop's thread"  # esc_netconf.store.database logs it, and raises
READY = re.compile(r"^(NETCONF|REST) listening on .*:(\d+)")


class ServerProcess:
    def __init__(
        self,
        data_dir: Path,
        *,
        properties: Mapping[str, str] | None = None,
        extra_args: list[str] | None = None,
        host: str = "127.0.0.1",
        command: list[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        """``command`` replaces ``python -m esc_netconf.cli.serve`` (e.g. the ``esc-netconf`` script of
        another virtualenv), run in ``cwd``; the serve arguments follow it."""
        self.data_dir = data_dir
        self.command = command or [sys.executable, "-m", "esc_netconf.cli.serve"]
        self.cwd = cwd
        self.host = host
        self.properties_path = data_dir / "application.properties"
        self.extra_args = extra_args or []
        self.netconf_port = 0
        self.rest_port = 0
        self.output: list[str] = []
        self._output_grew = threading.Condition()
        self._proc: subprocess.Popen[str] | None = None
        self._pumping: threading.Thread | None = None
        data_dir.mkdir(parents=True, exist_ok=True)
        if properties is not None:
            self.write_properties(properties)

    def write_properties(self, properties: Mapping[str, str]) -> None:
        self.properties_path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))

    def start(self, timeout: float = 30.0) -> ServerProcess:
        args = [
            *self.command, "serve",
            "--host", self.host, "--netconf-port", "0", "--rest-port", "0",
            "--data-dir", str(self.data_dir), "--log-level", "WARNING",
        ]
        if self.properties_path.exists():
            args += ["--properties", str(self.properties_path)]
        args += self.extra_args
        # a store write on the event loop's thread fails (esc_netconf.store.database: the loop never waits for one)
        env = dict(os.environ, PYTHONUNBUFFERED="1", ESC_NETCONF_LOOP_WRITES="fail")
        self._proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.cwd
        )
        deadline = time.monotonic() + timeout
        ports: dict[str, int] = {}
        assert self._proc.stdout is not None
        while len(ports) < 2:
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError("server did not start:\n" + "".join(self.output))
            line = self._proc.stdout.readline()
            if not line:
                raise RuntimeError("server exited:\n" + "".join(self.output))
            self.output.append(line)
            match = READY.match(line)
            if match:
                ports[match.group(1)] = int(match.group(2))
        self.netconf_port, self.rest_port = ports["NETCONF"], ports["REST"]
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()
        return self

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            with self._output_grew:
                self.output.append(line)
                self._output_grew.notify_all()

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> re.Match[str]:
        """The first match of the regular expression ``pattern`` in the output, once it is there.

        Why wait: a thread reads the server's output, so a line the server logged just before it answered
        may not be in ``output`` yet when the answer reaches the test (seen on a loaded machine).
        """
        deadline = time.monotonic() + timeout
        with self._output_grew:
            while (found := re.search(pattern, "".join(self.output), re.MULTILINE)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no output matching {pattern!r} within {timeout} s:\n" + "".join(self.output))
                self._output_grew.wait(left)
        return found

    @property
    def rest_url(self) -> str:
        return f"http://{self.host}:{self.rest_port}/ESCManager/v0"

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, as an operator's service manager would; returns the exit code."""
        if self._proc is None:
            return 0
        self._proc.send_signal(signal.SIGTERM)
        try:
            code = self._proc.wait(timeout)
        finally:
            self._proc = None
        if self._pumping is not None:
            self._pumping.join(1)  # the last lines (the output ends when the process does)
        on_loop = [line for line in self.output if LOOP_WRITE in line]
        assert not on_loop, "the server wrote to its store on the event loop's thread:\n" + "".join(on_loop)
        return code

    def kill(self) -> None:
        """SIGKILL: nothing gets a chance to flush."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(10)
            self._proc = None

    @property
    def pid(self) -> int:
        """The server's process id (for /proc/<pid>/status in memory checks)."""
        assert self._proc is not None, "server not started"
        return self._proc.pid

    def wait_exit(self, timeout: float = 15.0) -> int:
        """Wait for the server to exit on its own; returns its exit code."""
        assert self._proc is not None, "server not started"
        code = self._proc.wait(timeout)
        time.sleep(0.2)  # let the pump read the last lines
        return code

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None
