"""Client-side helpers for the SSH integration tests (real paramiko clients on loopback)."""

from __future__ import annotations

import time
from collections.abc import Callable

import paramiko

PASSWORD = "s3cret-pw"


def connect(port: int, *, password: str | None = PASSWORD, pkey: paramiko.PKey | None = None,
            username: str = "admin", host: str = "127.0.0.1", **kwargs: object) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    client.connect(host, port, username=username, password=password, pkey=pkey, look_for_keys=False,
                   allow_agent=False, timeout=10, banner_timeout=10, auth_timeout=10, **kwargs)  # type: ignore[arg-type]
    return client


def netconf_channel(client: paramiko.SSHClient) -> paramiko.Channel:
    transport = client.get_transport()
    assert transport is not None
    channel = transport.open_session(timeout=10)
    channel.settimeout(10)
    channel.invoke_subsystem("netconf")
    return channel


def read_exactly(channel: paramiko.Channel, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


def read_to_eof(channel: paramiko.Channel) -> bytes:
    data = bytearray()
    while chunk := channel.recv(65536):
        data += chunk
    return bytes(data)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()
