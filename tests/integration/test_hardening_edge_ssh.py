"""Attacks on the NETCONF/SSH listener of a live server, scaled down; another client must still be served.

Each test starts ``esc-netconf serve`` with small ``[limits]`` so that the bounds are reached with tens
of sockets instead of hundreds (``bench/edge_attacks.py`` runs the full-size attacks).
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from tests.integration.edge_attacks import (close_all, connect_from, guess_passwords, netconf_get_config,
                                            open_channels, silent_sockets)
from tests.integration.server_process import ServerProcess

LIMITS = """
[limits]
ssh_max_preauth = 8
ssh_max_preauth_per_source = 4
ssh_max_channels = 2
auth_free_failures = 3
auth_first_backoff = 0.5
auth_max_backoff = 4.0
"""


@pytest.fixture
def edge_server(tmp_path: Path) -> Iterator[ServerProcess]:
    config = tmp_path / "esc.toml"
    config.write_text(LIMITS)
    proc = ServerProcess(tmp_path / "data", extra_args=["--config", str(config), "--log-level", "INFO"]).start()
    yield proc
    if proc.running():
        proc.stop()


def _log(server: ServerProcess) -> str:
    return "".join(server.output)


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):  # the server's SSH banner comes first, then end of file
            continue
    except (socket.timeout, ConnectionResetError):
        return False
    return True


def test_silent_sockets_from_many_sources_do_not_lock_out_a_real_client(edge_server: ServerProcess) -> None:
    port = edge_server.netconf_port
    crowd = [sock for n in range(2, 7) for sock in silent_sockets(port, 8, source=f"127.0.0.{n}")]
    try:
        time.sleep(2.5)  # every one of them is now silent for longer than a real client ever is
        assert netconf_get_config(port, source="127.0.0.1") < 2.0
        assert netconf_get_config(port, source="127.0.0.2") < 2.0  # even from an attacking address
        evicted = sum(_closed_by_server(sock, 0.2) for sock in crowd)
        assert evicted >= len(crowd) - 8, f"only {evicted} of {len(crowd)} silent sockets were closed"
    finally:
        close_all(crowd)
    log = _log(edge_server)
    assert log.count("pre-authentication connections full") == 1, log  # one line for the whole burst
    assert "Traceback" not in log


def test_one_connection_gets_two_channels_and_600_refusals_cost_one_log_line(edge_server: ServerProcess) -> None:
    flood = open_channels(edge_server.netconf_port, 60)
    assert (flood.opened, flood.refused) == (2, 58)
    assert netconf_get_config(edge_server.netconf_port) < 2.0
    assert _log(edge_server).count("refused session channel") == 1


def test_password_guesses_are_slowed_per_address_and_logged_once_per_burst(edge_server: ServerProcess) -> None:
    port = edge_server.netconf_port
    guesses = guess_passwords(port, 4.0, threads=2)
    assert guesses.attempts > 0
    # another address is not affected, while the guessing address is waiting right now
    assert netconf_get_config(port, source="127.0.0.2") < 2.0
    with pytest.raises(paramiko.AuthenticationException):
        netconf_get_config(port, source="127.0.0.1")  # the right password, refused unchecked while waiting
    time.sleep(4.2)  # the longest wait
    assert netconf_get_config(port, source="127.0.0.1") < 2.0  # then the right password works again
    summary = edge_server.wait_for_output(r"Login burst from 127\.0\.0\.1 ended \(login succeeded\): (\d+) failed "
                                          r"logins, (\d+) attempts refused while waiting")
    log = _log(edge_server)
    assert log.count("failed logins from 127.0.0.1") == 1, log
    checked, refused = int(summary.group(1)), int(summary.group(2))
    # 3 free, then waits of 0.5, 1, 2, 4 s (the last one outlasts the guessing, so the right password
    # right after it is refused): a handful of passwords checked in 4 s instead of ~100
    assert checked <= 10, (checked, refused, guesses.attempts)
    assert refused > 0
    assert guesses.attempts <= checked + 2 * 4 * 2 + 2 * 6  # each refusal is held up to 1 s, per thread
    assert log.count("login failed for user") <= 3


def test_junk_and_reset_connections_are_one_line_each_and_never_a_traceback(edge_server: ServerProcess) -> None:
    port = edge_server.netconf_port
    junk = connect_from(port)
    junk.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert _closed_by_server(junk, 5.0)
    junk.close()
    # a real client that resets its connection in the middle of a session
    sock = connect_from(port)
    transport = paramiko.Transport(sock)
    transport.connect(username="admin", password="admin")
    channel = transport.open_session()
    channel.invoke_subsystem("netconf")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    transport.close()
    assert netconf_get_config(port) < 2.0
    deadline = time.monotonic() + 5
    while "connection ended before login" not in _log(edge_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    log = _log(edge_server)
    assert log.count("connection ended before login") == 1, log
    assert "Traceback" not in log and "paramiko.transport" not in log and "Socket exception" not in log, log
