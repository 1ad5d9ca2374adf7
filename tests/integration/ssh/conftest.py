"""Real in-process SSH servers on loopback (asyncssh's ServerTestCase idea) with an echo handler."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from esc_netconf.ssh import ChannelWriter, PeerInfo, SshLimits, SshServer, load_or_create_host_keys
from esc_netconf.users import UserDB, hash_password

from tests.integration.ssh.ssh_helpers import PASSWORD


@dataclass
class EchoHandler:
    """Echoes every chunk; on connection_lost optionally says goodbye and closes."""

    writer: ChannelWriter
    peer: PeerInfo
    goodbye: bytes | None = None
    received: bytearray = field(default_factory=bytearray)
    lost: list[str | None] = field(default_factory=list)
    lost_event: threading.Event = field(default_factory=threading.Event)
    threads: set[str] = field(default_factory=set)

    def data_received(self, data: bytes) -> None:
        self.threads.add(threading.current_thread().name)
        self.received += data
        self.writer.write(data)

    def connection_lost(self, reason: str | None) -> None:
        self.lost.append(reason)
        if self.goodbye is not None:
            self.writer.write(self.goodbye)
            self.writer.close()
        self.lost_event.set()


@dataclass
class Recorder:
    """Handler factory that keeps every handler it made."""

    goodbye: bytes | None = None
    handlers: list[EchoHandler] = field(default_factory=list)
    made: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, writer: ChannelWriter, peer: PeerInfo) -> EchoHandler:
        handler = EchoHandler(writer, peer, goodbye=self.goodbye)
        with self.lock:
            self.handlers.append(handler)
        self.made.set()
        return handler


@dataclass
class ClientKey:
    key: paramiko.PKey
    path: Path
    public_line: str


@pytest.fixture(scope="session")
def host_keys(tmp_path_factory: pytest.TempPathFactory) -> list[paramiko.PKey]:
    return load_or_create_host_keys(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> ClientKey:
    private = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path_factory.mktemp("client") / "id_ed25519"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    path.chmod(0o600)
    public_line = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                    serialization.PublicFormat.OpenSSH).decode()
    return ClientKey(paramiko.PKey.from_path(path), path, public_line)


@pytest.fixture(scope="session")
def users(tmp_path_factory: pytest.TempPathFactory, client_key: ClientKey) -> UserDB:
    config = tmp_path_factory.mktemp("config") / "esc.toml"
    config.write_text(
        f'[[users]]\nname = "admin"\npassword_hash = "{hash_password(PASSWORD)}"\n'
        f'authorized_keys = ["{client_key.public_line} test"]\n'
    )
    return UserDB.from_toml(config)


ServerFactory = Callable[..., tuple[SshServer, int, Recorder]]


@pytest.fixture
def start_server(host_keys: list[paramiko.PKey], users: UserDB) -> Iterator[ServerFactory]:
    servers: list[SshServer] = []

    def start(*, goodbye: bytes | None = None, limits: SshLimits | None = None,
              banner: str | None = None, host: str = "127.0.0.1",
              factory: Callable[[ChannelWriter, PeerInfo], object] | None = None) -> tuple[SshServer, int, Recorder]:
        recorder = Recorder(goodbye=goodbye)
        server = SshServer(host, 0, host_keys, users, factory or recorder, banner=banner,  # type: ignore[arg-type]
                           limits=limits or SshLimits(eof_linger=1.0, handshake_timeout=5.0))
        servers.append(server)
        return server, server.start(), recorder

    yield start
    for server in servers:
        server.stop()
