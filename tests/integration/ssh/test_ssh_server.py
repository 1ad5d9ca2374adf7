"""The SSH transport against real paramiko clients on loopback."""

from __future__ import annotations

import errno
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko
import pytest
from tests.integration.ssh.ssh_helpers import PASSWORD, connect, netconf_channel, read_exactly, read_to_eof, wait_until

from esc_netconf.ssh import ChannelWriter, ListenError, PeerInfo, SshLimits, SshServer

pytestmark = pytest.mark.timeout(60)


def _baseline_threads() -> int:
    return threading.active_count()


def test_echo_and_peer_info(start_server) -> None:
    server, port, recorder = start_server()
    with connect(port) as client:
        channel = netconf_channel(client)
        for payload in (b"<hello/>", b"x" * 100_000, b"]]>]]>"):
            channel.sendall(payload)
            assert read_exactly(channel, len(payload)) == payload
        handler = recorder.handlers[0]
        assert handler.peer.username == "admin"
        assert handler.peer.address == "127.0.0.1"
        assert handler.peer.port == client.get_transport().sock.getsockname()[1]
        assert handler.threads and not any("accept" in name for name in handler.threads)


def test_tcp_nodelay_is_set_on_accepted_sockets(start_server) -> None:
    server, port, recorder = start_server()
    with connect(port) as client:
        netconf_channel(client)
        assert recorder.made.wait(5)
        connection = next(iter(server._connections))  # white-box: the socket option is not observable remotely
        assert connection._sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_password_publickey_and_refusals(start_server, client_key) -> None:
    _, port, recorder = start_server()
    with connect(port, password=None, pkey=client_key.key) as client:
        assert client.get_transport().is_authenticated()
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, password="wrong")
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, username="nobody", password=PASSWORD)
    other = paramiko.Ed25519Key.from_path(client_key.path)  # same key works ...
    with connect(port, password=None, pkey=other) as by_key:
        assert by_key.get_transport().is_authenticated()
    stranger = paramiko.RSAKey.generate(1024)  # ... an unknown one does not
    with pytest.raises(paramiko.AuthenticationException):
        connect(port, password=None, pkey=stranger)
    assert recorder.handlers == []  # nobody opened the subsystem


def test_failed_logins_are_limited_and_logged(start_server, caplog) -> None:
    _, port, _ = start_server(limits=SshLimits(max_auth_failures=3, handshake_timeout=5.0))
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=5)
        with caplog.at_level("WARNING", logger="esc_netconf.ssh"):
            for _ in range(3):
                with pytest.raises(paramiko.AuthenticationException):
                    transport.auth_password("admin", "wrong")
            assert wait_until(lambda: not transport.is_active(), 5)
        failures = [r.getMessage() for r in caplog.records if "login failed" in r.getMessage()]
        assert len(failures) == 3 and all("peer=127.0.0.1:" in m for m in failures)
    finally:
        transport.close()


def test_shell_exec_and_other_subsystems_are_refused(start_server) -> None:
    _, port, recorder = start_server(limits=SshLimits(eof_linger=1.0, handshake_timeout=5.0, max_channels=4))
    with connect(port) as client:
        transport = client.get_transport()
        for request in (lambda ch: ch.invoke_shell(), lambda ch: ch.exec_command("ls"),
                        lambda ch: ch.invoke_subsystem("sftp")):
            channel = transport.open_session(timeout=5)
            with pytest.raises(paramiko.SSHException):
                request(channel)
            channel.close()
        channel = netconf_channel(client)  # the connection is still usable for netconf
        channel.sendall(b"ok")
        assert read_exactly(channel, 2) == b"ok"
    assert len(recorder.handlers) == 1


def test_pty_request_then_netconf(start_server) -> None:
    _, port, _ = start_server()
    with connect(port) as client:
        channel = client.get_transport().open_session(timeout=5)
        channel.settimeout(5)
        channel.get_pty()
        channel.invoke_subsystem("netconf")
        channel.sendall(b"<rpc/>\n")
        assert read_exactly(channel, 7) == b"<rpc/>\n"


def test_banner_is_sent_before_auth(start_server) -> None:
    _, port, _ = start_server(banner="Authorized use only\n")
    with connect(port) as client:
        assert client.get_transport().get_banner() == b"Authorized use only\n"


def test_client_eof_ends_handler_once_and_thread_exits(start_server) -> None:
    baseline = _baseline_threads()
    server, port, recorder = start_server()
    with connect(port) as client:
        channel = netconf_channel(client)
        channel.sendall(b"abc")
        assert read_exactly(channel, 3) == b"abc"
        channel.shutdown_write()
        handler = recorder.handlers[0]
        assert handler.lost_event.wait(5)
        cpu_before = time.process_time()
        time.sleep(0.5)  # half-closed and lingering: must sleep, not spin
        assert time.process_time() - cpu_before < 0.25
        assert read_to_eof(channel) == b""  # the server closes after eof_linger (1 s here)
    assert wait_until(lambda: server.connection_count == 0)
    assert wait_until(lambda: _baseline_threads() <= baseline + 1)  # + the accept thread
    assert handler.lost == [None]


def test_reply_after_client_eof_still_arrives(start_server) -> None:
    _, port, recorder = start_server(goodbye=b"</bye>")
    with connect(port) as client:
        channel = netconf_channel(client)
        channel.sendall(b"<rpc/>")
        channel.shutdown_write()
        assert read_to_eof(channel) == b"<rpc/></bye>"
        assert channel.recv_exit_status() == 0
    assert recorder.handlers[0].lost == [None]


def test_client_close_and_server_close(start_server) -> None:
    server, port, recorder = start_server()
    with connect(port) as client:
        netconf_channel(client).close()
        assert wait_until(lambda: bool(recorder.handlers) and recorder.handlers[0].lost_event.is_set())
    with connect(port) as client:
        channel = netconf_channel(client)
        assert wait_until(lambda: len(recorder.handlers) == 2)
        closer = threading.Thread(target=recorder.handlers[1].writer.close)  # from a foreign thread
        closer.start()
        closer.join(5)
        assert read_to_eof(channel) == b""
        assert recorder.handlers[1].lost_event.wait(5)
    assert [h.lost for h in recorder.handlers] == [[None], [None]]
    assert wait_until(lambda: server.connection_count == 0)


def test_handler_errors_end_the_session(start_server) -> None:
    class Exploding:
        def __init__(self, writer: ChannelWriter, peer: PeerInfo) -> None:
            self.lost: list[str | None] = []

        def data_received(self, data: bytes) -> None:
            raise RuntimeError("boom")

        def connection_lost(self, reason: str | None) -> None:
            self.lost.append(reason)

    made: list[Exploding] = []

    def factory(writer: ChannelWriter, peer: PeerInfo) -> Exploding:
        made.append(Exploding(writer, peer))
        return made[-1]

    _, port, _ = start_server(factory=factory)
    with connect(port) as client:
        channel = netconf_channel(client)
        channel.sendall(b"x")
        assert read_to_eof(channel) == b""
    assert wait_until(lambda: bool(made) and bool(made[0].lost))
    assert made[0].lost == ["handler error: RuntimeError"]

    def refusing_factory(writer: ChannelWriter, peer: PeerInfo) -> Exploding:
        raise RuntimeError("no handler for you")

    _, port, _ = start_server(factory=refusing_factory)
    with connect(port) as client:
        assert read_to_eof(netconf_channel(client)) == b""


def test_concurrent_writes_are_not_interleaved(start_server) -> None:
    _, port, recorder = start_server()
    size, writers = 300_000, 4
    with connect(port) as client:
        channel = netconf_channel(client)
        assert wait_until(lambda: bool(recorder.handlers))
        writer = recorder.handlers[0].writer
        threads = [threading.Thread(target=writer.write, args=(bytes([65 + i]) * size,)) for i in range(writers)]
        for thread in threads:
            thread.start()
        data = read_exactly(channel, size * writers)
        for thread in threads:
            thread.join(5)
    runs = [data[i:i + size] for i in range(0, len(data), size)]
    assert sorted(run[:1] for run in runs) == [bytes([65 + i]) for i in range(writers)]
    assert all(run == run[:1] * size for run in runs)


def test_fifty_concurrent_sessions(start_server) -> None:
    server, port, recorder = start_server()

    def session(index: int) -> bytes:
        with connect(port) as client:
            channel = netconf_channel(client)
            payload = f"<rpc message-id='{index}'/>".encode()
            channel.sendall(payload)
            return read_exactly(channel, len(payload))

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(session, range(50), timeout=50))
    assert replies == [f"<rpc message-id='{i}'/>".encode() for i in range(50)]
    assert len(recorder.handlers) == 50
    assert wait_until(lambda: server.connection_count == 0, 10)
    assert all(h.lost == [None] for h in recorder.handlers)


def test_silent_client_does_not_block_others_and_is_dropped(start_server) -> None:
    server, port, _ = start_server(limits=SshLimits(handshake_timeout=1.5))
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        assert wait_until(lambda: server.connection_count == 1)
        started = time.monotonic()
        with connect(port) as client:
            channel = netconf_channel(client)
            channel.sendall(b"hi")
            assert read_exactly(channel, 2) == b"hi"
        assert time.monotonic() - started < 1.5  # served while the silent one still waits
        assert silent.recv(100).startswith(b"SSH-2.0-")  # our banner; then the handshake timeout
        deadline = time.monotonic() + 5
        received = [b"?"]
        while received[-1] and time.monotonic() < deadline:
            received.append(silent.recv(100))
        assert received[-1] == b"" and time.monotonic() < deadline  # the server hung up in time
        assert wait_until(lambda: server.connection_count == 0)
    finally:
        silent.close()


def test_stop_ends_everything_quickly(start_server) -> None:
    baseline = _baseline_threads()
    server, port, recorder = start_server()
    silent = socket.create_connection(("127.0.0.1", port), timeout=10)
    client = connect(port)
    try:
        channel = netconf_channel(client)
        channel.sendall(b"x")
        assert read_exactly(channel, 1) == b"x"
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3
        assert server.connection_count == 0
        assert recorder.handlers[0].lost == ["server shutdown"]
        assert read_to_eof(channel) == b""
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
    finally:
        client.close()
        silent.close()
    assert wait_until(lambda: _baseline_threads() <= baseline)


def test_rsa_sha2_host_key_algorithms(start_server) -> None:
    _, port, _ = start_server()
    for algorithm in ("rsa-sha2-512", "rsa-sha2-256"):
        others = [name for name in ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256")
                  if name != algorithm]
        with connect(port, disabled_algorithms={"keys": others}) as client:
            transport = client.get_transport()
            assert transport.host_key_type == algorithm
            assert transport.get_remote_server_key().get_name() == "ssh-rsa"


def test_listen_errors_and_addresses(host_keys, users) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        server = SshServer("127.0.0.1", busy.getsockname()[1], host_keys, users, lambda w, p: None)  # type: ignore[arg-type,return-value]
        with pytest.raises(ListenError) as caught:
            server.start()
        assert caught.value.errno == errno.EADDRINUSE and isinstance(caught.value, OSError)
        assert str(busy.getsockname()[1]) in str(caught.value)
    finally:
        busy.close()
    for host in ("localhost", "::1", "[::1]"):
        server = SshServer(host, 0, host_keys, users, lambda w, p: None)  # type: ignore[arg-type,return-value]
        try:
            port = server.start()
        except ListenError:
            if ":" in host:
                pytest.skip("no IPv6 loopback here")
            raise
        try:
            assert port > 0 and server.port == port
        finally:
            server.stop()
