"""The SSH transport against OpenSSH's ``ssh`` client, the way scripts and scrapli-netconf use it."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.integration.ssh.ssh_helpers import PASSWORD, wait_until

SSH = shutil.which("ssh")
pytestmark = [pytest.mark.timeout(60), pytest.mark.skipif(SSH is None, reason="OpenSSH client not installed")]


def _ssh(port: int, *args: str, key: Path | None = None, askpass: Path | None = None,
         stdin: bytes = b"", extra_options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    assert SSH is not None
    options = ["-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentityAgent=none",
               "-o", "ConnectTimeout=10", *extra_options]
    env = {k: v for k, v in os.environ.items() if k not in {"SSH_AUTH_SOCK", "DISPLAY"}}
    if key is not None:
        options += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"]
    if askpass is not None:
        options += ["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"]
        env.update(SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    return subprocess.run([SSH, *options, "admin@127.0.0.1", *args], input=stdin, capture_output=True,
                          timeout=30, env=env, start_new_session=True)


@pytest.fixture
def askpass(tmp_path: Path) -> Path:
    script = tmp_path / "askpass.sh"
    script.write_text(f"#!/bin/sh\necho '{PASSWORD}'\n")
    script.chmod(stat.S_IRWXU)
    return script


def test_subsystem_with_public_key(start_server, client_key) -> None:
    _, port, recorder = start_server(goodbye=b"</bye>")
    result = _ssh(port, "-s", "netconf", key=client_key.path, stdin=b"<hello/>]]>]]>")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"<hello/>]]>]]></bye>"
    assert recorder.handlers[0].lost == [None]


def test_subsystem_with_password(start_server, askpass) -> None:
    _, port, recorder = start_server(goodbye=b"!")
    result = _ssh(port, "-s", "netconf", askpass=askpass, stdin=b"pw")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"pw!"


def test_forced_tty_like_scrapli(start_server, client_key) -> None:
    _, port, recorder = start_server()
    result = _ssh(port, "-tt", "-s", "netconf", key=client_key.path, stdin=b"<rpc/>")
    assert b"<rpc/>" in result.stdout, result.stderr
    assert recorder.handlers and recorder.handlers[0].received.startswith(b"<rpc/>")


def test_shell_and_exec_are_refused(start_server, client_key) -> None:
    server, port, recorder = start_server()
    for command in ((), ("ls",), ("-s", "sftp")):
        result = _ssh(port, "-T", *command, key=client_key.path)
        assert result.returncode != 0
    assert recorder.handlers == []
    assert wait_until(lambda: server.connection_count == 0)


def test_rsa_host_key_with_sha2_signatures(start_server, client_key) -> None:
    _, port, recorder = start_server(goodbye=b"")
    for algorithm in ("rsa-sha2-512", "rsa-sha2-256"):
        result = _ssh(port, "-s", "netconf", key=client_key.path, stdin=b"x",
                      extra_options=("-o", f"HostKeyAlgorithms={algorithm}"))
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"x"
