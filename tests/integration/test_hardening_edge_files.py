"""Private files on a live server's data dir, and both CLIs facing every kind of network failure in one line."""

from __future__ import annotations

import socket
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli.cli_helpers import escadm, escadm_local, nc_cli
from tests.integration.server_process import ServerProcess


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def loose_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server started on a data dir and database an older release left world-readable."""
    data = tmp_path_factory.mktemp("files") / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "esc.db").touch(mode=0o644)
    (data / "esc.db").chmod(0o644)
    proc = ServerProcess(data, extra_args=["--log-level", "INFO"]).start()
    yield proc
    if proc.running():
        proc.stop()


def test_data_dir_database_keys_and_backups_are_private(loose_server: ServerProcess, tmp_path: Path) -> None:
    data = loose_server.data_dir
    assert _mode(data) == 0o700
    for name in ("esc.db", "esc.db-wal", "esc.db-shm"):
        assert _mode(data / name) == 0o600, name
    keys = sorted((data / "ssh").glob("ssh_host_*_key"))
    assert len(keys) == 3 and all(_mode(key) == 0o600 for key in keys)
    assert "made " in "".join(loose_server.output)  # the tightening is logged
    backup = tmp_path / "esc-backup.db"
    result = escadm_local("backup", "--data-dir", str(data), "--output", str(backup))
    assert result.returncode == 0, result.stderr
    assert _mode(backup) == 0o600


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def slamming_port() -> Iterator[int]:
    """A listener that accepts and at once resets every connection (a crashed or hostile peer)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join(2)
    listener.close()


def _one_line_failure(result: subprocess.CompletedProcess[str], prog: str) -> str:
    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def test_escadm_one_line_for_a_closed_port_a_non_http_port_and_a_reset(
        shared_server: ServerProcess, closed_port: int, slamming_port: int) -> None:
    for port, words in ((closed_port, "Connection refused"), (shared_server.netconf_port, "does not answer HTTP"),
                        (slamming_port, "escadm")):
        line = _one_line_failure(escadm(f"http://127.0.0.1:{port}", "status"), "escadm")
        assert words in line, line


def test_esc_nc_cli_one_line_for_a_closed_port_a_non_ssh_port_and_a_reset(
        shared_server: ServerProcess, closed_port: int, slamming_port: int) -> None:
    for port, words in ((closed_port, "Connection refused"), (shared_server.rest_port, "SSH session"),
                        (slamming_port, "esc_nc_cli")):
        line = _one_line_failure(nc_cli(port, "get-config"), "esc_nc_cli")
        assert words in line, line
