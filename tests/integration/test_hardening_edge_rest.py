"""Attacks on the REST listener of a live server, scaled down: idle and slow sockets, basic-auth guessing,
deeply nested JSON, and callback URLs that are malformed, too many, not allowed, or the server itself."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from esc_netconf.rest.callback_store import OutgoingPost
from esc_netconf.store import Database
from esc_netconf.store.callback_store import SqlCallbackStore
from tests.integration.edge_attacks import close_all, connect_from, netconf_get_config, rest_request, silent_sockets
from tests.integration.server_process import ServerProcess

LIMITS = """
[limits]
rest_max_connections = 32
rest_idle_timeout = 2.0
rest_body_timeout = 1.0
auth_free_failures = 3
auth_first_backoff = 2.0
auth_max_backoff = 4.0
callback_max_urls = 2
"""
SERVICE = "/ESCManager/v0/nowhere/deployments/service/nodep"
STOP = json.dumps({"operation": "stop"}).encode()


def _start(tmp_path: Path, limits: str = LIMITS) -> ServerProcess:
    config = tmp_path / "esc.toml"
    config.write_text(limits)
    return ServerProcess(tmp_path / "data", extra_args=["--config", str(config), "--log-level", "INFO"]).start()


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test attacks from its own loopback address where it matters)."""
    proc = _start(tmp_path_factory.mktemp("edge-rest"))
    yield proc
    if proc.running():
        proc.stop()


def _curl(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "--max-time", "5",
                           url], capture_output=True, text=True, timeout=10)


def _post_stop(port: int, headers: dict[str, str], body: bytes = STOP) -> tuple[int, str]:
    answer = rest_request(port, SERVICE, method="POST", body=body,
                          headers={"Content-Type": "application/json", **headers})
    return answer.status, answer.body.decode()


def test_idle_sockets_are_cut_back_and_curl_and_netconf_still_answer(edge_server: ServerProcess) -> None:
    crowd = silent_sockets(edge_server.rest_port, 200)
    try:
        time.sleep(0.5)  # one pass of the guard
        result = _curl(edge_server.rest_url + "/deployments")
        status, seconds = result.stdout.split()
        assert status == "200" and float(seconds) < 2.0, result
        assert netconf_get_config(edge_server.netconf_port) < 2.0
        time.sleep(2.5)  # the idle timeout: whatever the cap left open is closed now
        still_open = 0
        for sock in crowd:
            sock.settimeout(0.05)
            try:
                if sock.recv(1) != b"":
                    still_open += 1
            except socket.timeout:
                still_open += 1
            except ConnectionResetError:  # reset by the server: closed, as it should be
                continue
        assert still_open == 0
    finally:
        close_all(crowd)
    log = "".join(edge_server.output)
    assert log.count("HTTP connections open") == 1, log  # one line for the burst
    assert "Traceback" not in log


def test_a_half_sent_request_is_closed_and_a_missing_body_gets_408(edge_server: ServerProcess) -> None:
    slow = connect_from(edge_server.rest_port)
    slow.sendall(b"GET /ESCManager/v0/deployments HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
    slow.settimeout(5)
    started = time.monotonic()
    assert slow.recv(4096) == b""
    assert time.monotonic() - started < 4
    slow.close()
    body_less = connect_from(edge_server.rest_port)
    body_less.sendall(f"POST {SERVICE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: 100\r\n\r\n{".encode())
    body_less.settimeout(5)
    assert body_less.recv(4096).startswith(b"HTTP/1.1 408")
    body_less.close()


def test_deeply_nested_json_is_a_400(edge_server: ServerProcess) -> None:
    status, text = _post_stop(edge_server.rest_port, {}, body=b"[" * 100_000 + b"]" * 100_000)
    assert status == 400 and "nested too deeply" in text
    assert "RecursionError" not in "".join(edge_server.output)


@pytest.mark.parametrize("url, reason", [
    ("http://[::1/", "Invalid IPv6 URL"),
    ("http://a..b/x", "not a valid host name"),
    ("ftp://example.com/", "http or https"),
    ("http://example.com:99999/", "out of range"),
    ("http://exa mple.com/", "blanks"),
])
def test_malformed_callback_urls_are_400_before_the_resource_is_looked_up(edge_server: ServerProcess, url: str,
                                                                           reason: str) -> None:
    status, text = _post_stop(edge_server.rest_port, {"callback": url})
    assert status == 400 and reason in text, text  # the tenant does not exist: a 404 would come later


def test_too_many_callback_urls_and_the_servers_own_ports_are_refused(edge_server: ServerProcess) -> None:
    port = edge_server.rest_port
    status, text = _post_stop(port, {"callback": "http://a.example/1, http://a.example/2",
                                     "Callback-ESC-Events": "http://a.example/3"})
    assert status == 400 and "At most 2 callback URLs" in text
    for own in (edge_server.netconf_port, edge_server.rest_port):
        status, text = _post_stop(port, {"callback": f"http://127.0.0.1:{own}/x"})
        assert status == 400 and "this server's own ports" in text
    status, text = _post_stop(port, {"callback": "http://127.0.0.1:9/ok"})
    assert status == 404  # well-formed and allowed: only now is the tenant looked up


def test_the_callback_allow_list(tmp_path: Path) -> None:
    server = _start(tmp_path, LIMITS + 'callback_allowed_hosts = ["*.ops.example", "10.0.0.0/8", "127.0.0.1:9009"]\n')
    try:
        port = server.rest_port
        for allowed in ("http://a.ops.example/x", "https://10.1.2.3:8443/", "http://127.0.0.1:9009/cb"):
            assert _post_stop(port, {"callback": allowed})[0] == 404, allowed
        for refused in ("http://ops.example.evil/x", "http://11.0.0.1/", "http://127.0.0.1:9010/cb"):
            status, text = _post_stop(port, {"callback": refused})
            assert status == 400 and "not in callback_allowed_hosts" in text, (refused, text)
    finally:
        server.stop()


def test_an_undeliverable_url_in_the_outbox_is_dropped_once_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    with Database.open(data / "esc.db") as database:  # as an older release could have left it
        store = SqlCallbackStore(database)
        store.enqueue("t-1", "e-1", [OutgoingPost("http://a..b/x", {"ESC-Event-Id": "e-1"}, b"{}")], time.time())
        assert len(store.load_outbox()) == 1
    server = _start(tmp_path)
    try:
        deadline = time.monotonic() + 5
        while "can never be delivered" not in "".join(server.output) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
    log = "".join(server.output)
    assert log.count("can never be delivered") == 1 and "Traceback" not in log, log
    with Database.open(data / "esc.db") as database:
        assert SqlCallbackStore(database).load_outbox() == []  # not resent at the next start


def test_basic_auth_guesses_wait_per_address_and_another_address_is_served(edge_server: ServerProcess) -> None:
    port, status_path, guesser = edge_server.rest_port, "/ESCManager/admin/status", "127.0.0.5"
    answers = [rest_request(port, status_path, auth=("admin", f"guess{n}"), source=guesser) for n in range(6)]
    assert [a.status for a in answers[:4]] == [401, 401, 401, 401]
    assert answers[5].status == 429 and int(answers[5].headers["Retry-After"]) >= 1
    # even the right password is refused, unchecked, while the address waits
    assert rest_request(port, status_path, auth=("admin", "admin"), source=guesser).status == 429
    other = rest_request(port, status_path, auth=("admin", "admin"), source="127.0.0.6")
    assert other.status == 200 and other.seconds < 2.0
    time.sleep(int(answers[5].headers["Retry-After"]) + 0.1)
    assert rest_request(port, status_path, auth=("admin", "admin"), source=guesser).status == 200
    edge_server.wait_for_output(r"Login burst from 127\.0\.0\.5 ended \(login succeeded\): 4 failed logins, 3 attempts")
    log = "".join(edge_server.output)
    assert log.count("failed logins from 127.0.0.5") == 1
